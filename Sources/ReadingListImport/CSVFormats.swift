import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore
import Synchronization

/// The CSV exports: Pocket, Instapaper, Readwise (Reader library and
/// highlights) and Wallabag (semicolon-separated).
enum CSVFormats {
    /// Runs `build` on every row (see ``ParsedFile/collect(_:_:)``).
    ///
    /// A large file is cut into parts of whole rows read on every core
    /// (``CSVTable/parts(_:)``), their results joined in file order: the same
    /// rows, locations and messages as reading it from start to end.
    static func read(
        _ table: inout CSVTable, cores: Int = ProcessInfo.processInfo.activeProcessorCount,
        _ build: @escaping @Sendable (CSVTable.Row, inout RowBuilder) -> ImportedArticle?
    ) -> ParsedFile {
        if let parts = table.parts(cores) {
            let results = Mutex([ParsedFile](repeating: ParsedFile(), count: parts.count))
            DispatchQueue.concurrentPerform(iterations: parts.count) { index in
                var part = CSVTable(part: parts[index])
                let parsed = read(&part, cores: 1, build)
                results.withLock { $0[index] = parsed }
            }
            return results.withLock { all in
                var joined = ParsedFile()
                for parsed in all { joined.append(parsed) }
                return joined
            }
        }
        let file = table.file
        // Row by row, as the reader streams them.
        let rows = sequence(state: table) { table in table.next().map { (SourceLocation(file: file, line: $0.line), $0.row) } }
        return ParsedFile.collect(rows, build)
    }

    /// The URL of a row, or the reason to skip it.
    static func url(_ raw: String?, _ builder: inout RowBuilder) -> String? {
        if let problem = RowBuilder.urlProblem(raw) { builder.skip(problem); return nil }
        return raw!.trimmed
    }

    /// A title, unless the exporter put the URL there for want of one.
    static func title(_ raw: String?, url: String, _ builder: inout RowBuilder) -> String? {
        guard let title = builder.line(raw, field: "title", limit: FieldLimits.title), title != url else { return nil }
        return title
    }

    // MARK: Pocket

    /// Pocket's CSV (`title,url,time_added,tags,status`, or with `cursor`
    /// before `tags`): unix seconds, `|`-separated tags, `status` `unread` or
    /// `archive` (archived and read: Pocket's archive is its "done").
    static func pocket(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        guard table.has("url", "time_added") else {
            throw ImportError(file: table.file, "not a Pocket CSV: its header has no 'url' and 'time_added' columns (it has \(table.header.joined(separator: ",")))")
        }
        return read(&table) { row, builder in
            guard let url = url(row["url"], &builder) else { return nil }
            let addedAt = builder.time(row["time_added"], in: "time_added", DateParse.unix)
            let status = row["status"]?.lowercased()
            let done = status == "archive" || status == "archived" || status == "read"
            return ImportedArticle(
                request: SaveRequest(url: url, title: title(row["title"], url: url, &builder), tags: builder.tags(FieldParse.split(row["tags"], by: "|"))),
                addedAt: addedAt, isRead: done, isArchived: done)
        }
    }

    // MARK: Instapaper

    /// Instapaper's CSV (`URL,Title,Selection,Folder[,Timestamp,Tags]`):
    /// `Folder` is `Unread`, `Archive` (archived and read), `Starred`
    /// (favourite) or a folder of the user's (a tag); `Selection` is the
    /// highlighted passage; `Tags` a JSON array.
    static func instapaper(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        guard table.has("url", "title", "folder") else {
            throw ImportError(file: table.file, "not an Instapaper CSV: its header has no 'URL', 'Title' and 'Folder' columns (it has \(table.header.joined(separator: ",")))")
        }
        return read(&table) { row, builder in
            guard let url = url(row["url"], &builder) else { return nil }
            let addedAt = builder.time(row["timestamp"], in: "Timestamp", DateParse.unix)
            var tagNames: [String] = []
            if let text = row["tags"] {
                guard let names = FieldParse.jsonStringArray(text) else { builder.skip("Tags is not a JSON array: \(text.prefix(40))"); return nil }
                tagNames = names
            }
            var article = ImportedArticle(request: SaveRequest(url: url, title: title(row["title"], url: url, &builder)), addedAt: addedAt)
            switch row["folder"]?.trimmed {
            case nil, "Unread"?: break
            case "Archive"?: article.isArchived = true; article.isRead = true
            case "Starred"?: article.isFavorite = true
            case let folder?: tagNames.append(folder)
            }
            article.request.tags = builder.tags(tagNames)
            if let highlight = builder.highlight(quote: row["selection"]) { article.highlights = [highlight] }
            return article
        }
    }

    // MARK: Readwise

    /// Readwise Reader's library CSV (`Title,URL,ID,Document tags,Saved
    /// date,Reading progress,Location,Seen`): tags as a Python list, progress
    /// 0-100 (0-1 accepted), `Location` `archive` (archived and read),
    /// `shortlist` (favourite), `new`/`later` (unread); `feed` rows are feed
    /// items, never saved, and skipped.
    static func readwise(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        if table.has("highlight") { return try readwiseHighlights(&table) }
        guard table.has("url", "title") else {
            throw ImportError(file: table.file, "not a Readwise CSV: its header has no 'URL' and 'Title' columns, nor 'Highlight' (it has \(table.header.joined(separator: ",")))")
        }
        return read(&table) { row, builder in
            if row["location"]?.lowercased() == "feed" { builder.skip("a feed item (Location 'feed'), never saved"); return nil }
            guard let url = url(row["url"], &builder) else { return nil }
            let addedAt = builder.time(row["saved date"], in: "Saved date", DateParse.any)
            guard let tagNames = FieldParse.pythonStringList(row["document tags"]) else {
                builder.skip("Document tags is not a list: \(row["document tags"]!.prefix(40))")
                return nil
            }
            var progress: Double?
            if let text = row["reading progress"] {
                guard let value = Double(text.trimmed), value.isFinite, value >= 0 else {
                    builder.skip("unreadable Reading progress '\(text)'")
                    return nil
                }
                progress = min(value > 1 ? value / 100 : value, 1)
            }
            let location = row["location"]?.lowercased()
            return ImportedArticle(
                request: SaveRequest(url: url, title: title(row["title"], url: url, &builder), tags: builder.tags(tagNames)),
                author: builder.line(row["author"], field: "author", limit: FieldLimits.short),
                addedAt: addedAt, isRead: location == "archive" || progress == 1, isArchived: location == "archive",
                isFavorite: location == "shortlist", progress: progress)
        }
    }

    /// Readwise's highlights CSV (`Highlight,Book Title,...,Highlighted
    /// at[,Document tags]`): one row per highlight. Only a file with a `URL`
    /// column names pages; the usual one names books, and is refused.
    static func readwiseHighlights(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        guard table.has("url") else {
            throw ImportError(file: table.file, "a Readwise highlights CSV without a 'URL' column: its highlights name books, not web pages, so there is nothing to save")
        }
        return read(&table) { row, builder in
            guard let url = url(row["url"], &builder) else { return nil }
            let createdAt = builder.time(row["highlighted at"] ?? row["date"], in: "Highlighted at", DateParse.any)
            let titleText = row["book title"] ?? row["title"]
            let tagNames = (FieldParse.pythonStringList(row["document tags"]) ?? [])
                + FieldParse.split(row["tags"], by: ",").filter { !$0.hasPrefix(".") }
            var article = ImportedArticle(
                request: SaveRequest(url: url, title: title(titleText, url: url, &builder), tags: builder.tags(tagNames)),
                author: builder.line(row["book author"] ?? row["author"], field: "author", limit: FieldLimits.short))
            // `.favorite` on a highlight is Readwise's control tag for "favourite".
            if FieldParse.split(row["tags"], by: ",").contains(where: { $0.trimmed == ".favorite" }) { article.isFavorite = true }
            if let highlight = builder.highlight(quote: row["highlight"], note: row["note"], color: row["color"], createdAt: createdAt) {
                article.highlights = [highlight]
            }
            return article
        }
    }

    // MARK: This app's CSV

    /// This app's CSV export (`url,title,tags,added,read,archived,favorite,progress,note`,
    /// ``Exporter``): `|`-separated tags, ISO 8601 times, `true`/`false`
    /// states, progress 0-1. A field the export defused for spreadsheets
    /// (a leading `=`, `+`, `-`, `@` or `'` behind a `'`) is read without that `'`.
    /// Tags are joined with `|`, so a tag that holds a `|` comes back as
    /// two (the JSON export is the lossless one).
    static func ownCSV(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        guard table.has("url", "added") else {
            throw ImportError(file: table.file, "not this app's CSV export: its header has no 'url' and 'added' columns (it has \(table.header.joined(separator: ",")))")
        }
        return read(&table) { row, builder in
            guard let url = url(row["url"], &builder) else { return nil }
            let addedAt = builder.time(row["added"], in: "added", DateParse.any)
            var states: [Bool] = []
            for column in ["read", "archived", "favorite"] {
                switch row[column]?.trimmed.lowercased() {
                case nil, "false"?, "0"?, "no"?: states.append(false)
                case "true"?, "1"?, "yes"?: states.append(true)
                case let other?: builder.skip("'\(other)' in \(column) is not true or false"); return nil
                }
            }
            var progress: Double?
            if let text = row["progress"] {
                guard let value = Double(text.trimmed), value.isFinite, (0...1).contains(value) else {
                    builder.skip("progress '\(text)' is not a fraction from 0 to 1")
                    return nil
                }
                progress = value > 0 ? value : nil
            }
            let titleText = undefused(row["title"])
            return ImportedArticle(
                request: SaveRequest(
                    url: url, title: title(titleText, url: url, &builder), tags: builder.tags(FieldParse.split(undefused(row["tags"]), by: "|")),
                    note: builder.text(undefused(row["note"]), field: "note", limit: FieldLimits.note)),
                addedAt: addedAt, isRead: states[0], isArchived: states[1], isFavorite: states[2], progress: progress)
        }
    }

    /// `text` without the `'` ``Exporter/csvField(_:)`` puts before a leading `=`, `+`, `-`, `@` or `'`.
    static func undefused(_ text: String?) -> String? {
        guard let text, text.hasPrefix("'"), let second = text.dropFirst().first, "=+-@'".contains(second) else { return text }
        return String(text.dropFirst())
    }

    // MARK: Wallabag

    /// Wallabag's CSV (`;`-separated: `Title;URL;Content;Tags;MIME
    /// Type;Language;Creation date`): tags joined with `, `, content on one
    /// line, dates `d/m/Y h:i:s` in 12-hour time without AM/PM (lossy: read
    /// as written).
    static func wallabagCSV(_ table: inout CSVTable) throws(ImportError) -> ParsedFile {
        guard table.has("url", "title") else {
            throw ImportError(file: table.file, "not a Wallabag CSV: its header has no 'Title' and 'URL' columns separated by ';' (it has \(table.header.joined(separator: ";")))")
        }
        return read(&table) { row, builder in
            guard let url = url(row["url"], &builder) else { return nil }
            let addedAt = builder.time(row["creation date"], in: "Creation date", { DateParse.wallabagCSV($0) ?? DateParse.any($0) })
            return ImportedArticle(
                request: SaveRequest(
                    url: url, title: title(row["title"], url: url, &builder), tags: builder.tags(FieldParse.split(row["tags"], by: ",")),
                    content: builder.text(row["content"], field: "content", limit: FieldLimits.content)),
                language: builder.line(row["language"], field: "language", limit: FieldLimits.short), addedAt: addedAt)
        }
    }
}
