import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore
import ZIPFoundation

/// How far an import has got: `written` of `total` articles.
public struct ImportProgress: Sendable, Hashable {
    /// Articles written so far (whole batches: each is one transaction).
    public var written: Int
    /// Articles the import writes in all (rows that name one page count once).
    public var total: Int
}

/// What an import did.
public struct ImportReport: Sendable, Hashable {
    /// The files read (entries of a ZIP as `archive.zip/entry`).
    public var files: [String] = []
    /// Rows (or items) read, skipped ones included: the articles written (`created`, `updated`,
    /// `unchanged`) plus `merged` plus `skipped`.
    public var rows = 0
    /// Rows that named a page an earlier row of the import named, merged into it.
    public var merged = 0
    /// Articles saved afresh.
    public var created = 0
    /// Articles already in the list to which the import added something.
    public var updated = 0
    /// Articles already in the list with everything the import gave.
    public var unchanged = 0
    /// Highlights added.
    public var highlights = 0
    /// Rows left out, with file, line and reason.
    public var skipped: [ImportIssue] = []
    /// Rows imported with something left out (a tag, content over its limit).
    public var warnings: [ImportIssue] = []

    package init() {}
}

/// Reads other apps' exports and imports them into a replica.
///
/// An import is two steps. ``read(_:format:)`` parses every file (ZIP
/// archives of parts included) and merges the rows that name one page; a file
/// it cannot read at all fails the whole import before anything is written.
/// ``write(_:into:batchSize:progress:)`` then saves the articles in batches,
/// one transaction each, through `ReplicaStore.importArticles(_:batchSize:batchWritten:)`.
public enum Importer {
    /// Rows parsed and merged, ready to write.
    public struct Plan: Sendable {
        package var articles: [ImportedArticle] = []
        /// Where each article's first row was (for rows the list refuses).
        var locations: [SourceLocation] = []
        /// What reading and merging found: rows, merges, skipped rows and warnings (the counts of writing are still 0).
        public var report = ImportReport()
    }

    /// Parses, merges and writes `paths` into `store`. See ``read(_:format:)`` and ``write(_:into:batchSize:progress:)``.
    @discardableResult
    public static func importFiles(
        _ paths: [String], format: ImportFormat = .auto, into store: ReplicaStore, batchSize: Int = 5000,
        progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) throws(ImportError) -> ImportReport {
        try write(read(paths, format: format), into: store, batchSize: batchSize, progress: progress)
    }

    /// Parses every file and merges rows that name one page (the same URL, or
    /// URLs that normalise alike): tags unioned, notes joined, the earliest
    /// added time, read, archived and favourite OR-ed, the furthest progress,
    /// highlights unioned, the first title (and other text) given.
    public static func read(_ paths: [String], format: ImportFormat = .auto) throws(ImportError) -> Plan {
        var parsed = ParsedFile()
        var files: [String] = []
        for path in paths {
            let data: Data
            do {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ImportError(file: path, "no such file") }
                guard !isDirectory.boolValue else { throw ImportError(file: path, "a directory, not a file") }
                // A FileHandle reads pipes and devices too (`import <(unzip -p ...)`).
                let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                defer { try? handle.close() }
                data = try handle.readToEnd() ?? Data()
            } catch let error as ImportError {
                throw error
            } catch {
                throw ImportError(file: path, "cannot be read (\(error.localizedDescription))")
            }
            let (file, names) = try parse(data, name: path, format: format)
            parsed.append(file)
            files += names
        }
        return merge(parsed, files: files)
    }

    /// Parses one file's bytes (`name` is for messages and detection).
    static func parse(_ data: Data, name: String, format: ImportFormat) throws(ImportError) -> (ParsedFile, files: [String]) {
        guard !data.isEmpty else { throw ImportError(file: name, "the file is empty") }
        if data.starts(with: [0x50, 0x4B, 0x03, 0x04]) || data.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return try parseZIP(data, name: name, format: format)
        }
        let text = try decodeText(data, name: name)
        return (try parse(text: text, name: name, format: format), [name])
    }

    /// The text of a file: UTF-8 (a byte-order mark dropped) or UTF-16 with a byte-order mark.
    static func decodeText(_ data: Data, name: String) throws(ImportError) -> String {
        if data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF]) {
            guard let text = String(data: data, encoding: .utf16) else { throw ImportError(file: name, "not readable UTF-16 text") }
            return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        }
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            if bytes.prefix(8192).contains(0) { throw ImportError(file: name, "a binary file, not an export (no text format has NUL bytes)") }
            throw ImportError(file: name, "not UTF-8 text (save the export as UTF-8)")
        }
        if text.unicodeScalars.prefix(8192).contains("\u{0}") {
            throw ImportError(file: name, "a binary file, not an export (no text format has NUL bytes)")
        }
        return text
    }

    static func parse(text: String, name: String, format: ImportFormat) throws(ImportError) -> ParsedFile {
        guard !text.allSatisfy(\.isWhitespace) else { throw ImportError(file: name, "the file is empty") }
        var json: JSONValue?
        var chosen = format
        if format == .auto {
            let detected = try Detection.detect(text: text, name: name)
            chosen = detected.format
            json = detected.json
        }
        func decoded() throws(ImportError) -> JSONValue {
            if let json { return json }
            let first = text.first(where: { !$0.isWhitespace })
            guard first == "{" || first == "[" else { throw ImportError(file: name, "not a JSON file (the \(format.rawValue) format is JSON)") }
            return try JSONFormats.decode(Data(text.utf8), file: name)
        }
        switch chosen {
        case .auto: throw ImportError(file: name, "cannot tell the format")
        case .pocket:
            var table = try CSVTable(text: text, file: name)
            return try CSVFormats.pocket(&table)
        case .instapaper:
            var table = try CSVTable(text: text, file: name)
            return try CSVFormats.instapaper(&table)
        case .readwise:
            var table = try CSVTable(text: text, file: name)
            return try CSVFormats.readwise(&table)
        case .wallabag:
            let first = text.first(where: { !$0.isWhitespace })
            if first == "[" || first == "{" { return try JSONFormats.wallabag(decoded(), file: name) }
            var table = try CSVTable(text: text, file: name, delimiter: ";")
            return try CSVFormats.wallabagCSV(&table)
        case .omnivore: return try JSONFormats.omnivore(decoded(), file: name)
        case .karakeep: return try JSONFormats.karakeep(decoded(), file: name)
        case .json: return try Exporter.parseJSON(decoded(), file: name)
        case .csv:
            var table = try CSVTable(text: text, file: name)
            return try CSVFormats.ownCSV(&table)
        // Forced, the doctype is required (a clear error for a wrong --format); detected from `<DT>` tags, it is not.
        case .netscape: return try HTMLFormats.netscape(text, file: name, strict: format == .netscape)
        case .pocketHTML: return try HTMLFormats.pocket(text, file: name)
        }
    }

    // MARK: ZIP archives

    /// A ZIP: Omnivore's export (`metadata_*.json`, `content/<slug>.html`,
    /// `highlights/<slug>.md`), or parts of one export (Pocket's
    /// `part_000000.csv`, ...), each parsed as a file of its own. Pocket's
    /// `annotations/*.json` (an unverified shape) are read when they are
    /// `[{url, highlights: [{quote, created_at}]}]`, and otherwise reported.
    static func parseZIP(_ data: Data, name: String, format: ImportFormat) throws(ImportError) -> (ParsedFile, files: [String]) {
        var entries: [(path: String, data: Data)] = []
        do {
            let archive = try Archive(data: data, accessMode: .read)
            for entry in archive where entry.type == .file {
                let path = entry.path
                if path.hasPrefix("__MACOSX/") || path.split(separator: "/").last?.hasPrefix(".") == true { continue }
                var bytes = Data()
                _ = try archive.extract(entry, skipCRC32: false) { chunk in bytes.append(chunk) }
                entries.append((path, bytes))
            }
        } catch {
            throw ImportError(file: name, "not a readable ZIP archive (truncated or damaged: \(error))")
        }
        guard !entries.isEmpty else { throw ImportError(file: name, "a ZIP archive with no files in it") }
        entries.sort { $0.path.localizedStandardCompare($1.path) == .orderedAscending }
        func base(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }
        var parsed = ParsedFile()
        var files: [String] = []
        let metadata = entries.filter { base($0.path).hasPrefix("metadata_") && $0.path.hasSuffix(".json") }
        if !metadata.isEmpty && (format == .auto || format == .omnivore) {
            var content: [String: String] = [:]
            var highlights: [String: [ImportedHighlight]] = [:]
            for entry in entries {
                let parts = entry.path.split(separator: "/")
                guard parts.count >= 2 else { continue }
                let folder = parts[parts.count - 2]
                let file = base(entry.path)
                if folder == "content", file.hasSuffix(".html"), let text = try? decodeText(entry.data, name: entry.path) {
                    content[String(file.dropLast(5))] = text
                } else if folder == "highlights", file.hasSuffix(".md"), let text = try? decodeText(entry.data, name: entry.path) {
                    highlights[String(file.dropLast(3))] = JSONFormats.omnivoreHighlights(markdown: text)
                }
            }
            for entry in metadata {
                let label = "\(name)/\(entry.path)"
                let json = try JSONFormats.decode(entry.data, file: label)
                parsed.append(try JSONFormats.omnivore(json, file: label, content: content, highlights: highlights))
                files.append(label)
            }
            return (parsed, files)
        }
        var annotations: [(path: String, data: Data)] = []
        for entry in entries {
            let label = "\(name)/\(entry.path)"
            if entry.path.hasPrefix("annotations/") { annotations.append(entry); continue }
            let lower = entry.path.lowercased()
            guard lower.hasSuffix(".csv") || lower.hasSuffix(".json") || lower.hasSuffix(".html") || lower.hasSuffix(".htm") else {
                parsed.warnings.append(ImportIssue(SourceLocation(file: label, line: 1), "left out: not a CSV, JSON or HTML file"))
                continue
            }
            guard !entry.data.isEmpty else { continue }
            let text = try decodeText(entry.data, name: label)
            parsed.append(try parse(text: text, name: label, format: format))
            files.append(label)
        }
        for entry in annotations {
            let label = "\(name)/\(entry.path)"
            files.append(label)
            guard let json = try? JSONFormats.decode(entry.data, file: label), let rows = pocketAnnotations(json, file: label) else {
                parsed.warnings.append(ImportIssue(SourceLocation(file: label, line: 1), "left out: Pocket annotations in a shape this version does not know"))
                continue
            }
            parsed.append(rows)
        }
        return (parsed, files)
    }

    /// Pocket's `annotations/part_*.json`, if it is `[{url, title, highlights: [{quote, created_at}]}]`.
    static func pocketAnnotations(_ root: JSONValue, file: String) -> ParsedFile? {
        guard case let .array(items) = root, items.allSatisfy({ $0["url"] != nil }) else { return nil }
        return JSONFormats.read(items, file: file) { item, builder in
            guard let url = CSVFormats.url(item["url"]?.text, &builder) else { return nil }
            var article = ImportedArticle(request: SaveRequest(url: url, title: CSVFormats.title(item["title"]?.text, url: url, &builder)))
            article.highlights = (item["highlights"]?.items ?? []).compactMap { highlight in
                builder.highlight(quote: highlight["quote"]?.text, createdAt: JSONFormats.time(highlight["created_at"]))
            }
            return article
        }
    }

    // MARK: Merging

    static func merge(_ parsed: ParsedFile, files: [String]) -> Plan {
        var plan = Plan()
        plan.report.files = files
        // Every row read, skipped ones included: rows = articles written + merged + skipped.
        plan.report.rows = parsed.rows.count + parsed.skipped.count
        plan.report.skipped = parsed.skipped
        plan.report.warnings = parsed.warnings
        // By article id: rows whose URLs normalise alike name one page.
        var index: [ArticleID: Int] = [:]
        index.reserveCapacity(parsed.rows.count)
        plan.articles.reserveCapacity(parsed.rows.count)
        // By index rather than `for row in`, which copies each row (every string of it retained) once more.
        for position in parsed.rows.indices {
            let id: ArticleID
            switch parsed.rows[position].page {
            case let .success(page): id = page
            case let .failure(error):
                plan.report.skipped.append(ImportIssue(parsed.rows[position].location, error.description))
                continue
            }
            if let existing = index[id] {
                merge(&plan.articles[existing], parsed.rows[position].article)
                plan.report.merged += 1
            } else {
                index[id] = plan.articles.count
                plan.articles.append(parsed.rows[position].article)
                plan.articles[plan.articles.count - 1].knownID = id
                plan.locations.append(parsed.rows[position].location)
            }
        }
        return plan
    }

    /// Folds `other` (a later row naming the same page) into `article`.
    static func merge(_ article: inout ImportedArticle, _ other: ImportedArticle) {
        article.request.title = article.request.title ?? other.request.title
        article.request.excerpt = article.request.excerpt ?? other.request.excerpt
        article.request.content = article.request.content ?? other.request.content
        article.author = article.author ?? other.author
        article.siteName = article.siteName ?? other.siteName
        article.imageURL = article.imageURL ?? other.imageURL
        article.language = article.language ?? other.language
        article.wordCount = article.wordCount ?? other.wordCount
        for tag in other.request.tags where !article.request.tags.contains(tag) { article.request.tags.append(tag) }
        if let note = other.request.note {
            if let mine = article.request.note {
                if !mine.contains(note) { article.request.note = mine + "\n\n---\n\n" + note }
            } else {
                article.request.note = note
            }
        }
        switch (article.addedAt, other.addedAt) {
        case let (a?, b?): article.addedAt = min(a, b)
        case (nil, let b?): article.addedAt = b
        default: break
        }
        article.isRead = article.isRead || other.isRead
        article.isArchived = article.isArchived || other.isArchived
        article.isFavorite = article.isFavorite || other.isFavorite
        if let progress = other.progress { article.progress = max(article.progress ?? 0, progress) }
        for highlight in other.highlights {
            if let index = article.highlights.firstIndex(where: { $0.quote == highlight.quote }) {
                if article.highlights[index].note == nil { article.highlights[index].note = highlight.note }
            } else {
                article.highlights.append(highlight)
            }
        }
    }

    // MARK: Writing

    /// Writes `plan` into `store` in batches of `batchSize` articles, one
    /// transaction each (a crash leaves whole batches; importing again
    /// finishes the rest, since what is already in writes nothing).
    /// `progress` is called after each batch.
    @discardableResult
    public static func write(
        _ plan: Plan, into store: ReplicaStore, batchSize: Int = 5000, progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) throws(ImportError) -> ImportReport {
        var report = plan.report
        let size = max(1, batchSize)
        // Where the batch being written starts (the articles before it are written).
        var start = 0
        do {
            try store.importArticles(plan.articles, batchSize: size) { range, outcomes in
                for (offset, outcome) in outcomes.enumerated() {
                    switch outcome {
                    case .created:
                        report.created += 1
                        report.highlights += plan.articles[range.lowerBound + offset].highlights.count
                    case let .updated(_, highlights):
                        report.updated += 1
                        report.highlights += highlights
                    case .unchanged: report.unchanged += 1
                    case let .refused(reason): report.skipped.append(ImportIssue(plan.locations[range.lowerBound + offset], reason))
                    }
                }
                start = range.upperBound
                progress?(ImportProgress(written: range.upperBound, total: plan.articles.count))
            }
        } catch {
            let end = min(start + size, plan.articles.count)
            throw ImportError(
                file: nil,
                "\(error.description) (articles \(start + 1) to \(end) were not written; the \(start) before them were)")
        }
        report.skipped.sort { ($0.location.file, $0.location.line) < ($1.location.file, $1.location.line) }
        return report
    }
}
