import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

/// The formats `export` writes.
public enum ExportFormat: String, Sendable, CaseIterable, Hashable {
    /// This app's lossless JSON: every article with its tags, states,
    /// progress, note, highlights and content; `import --format json` reads it back.
    case json
    /// Netscape bookmark HTML, which browsers, Pinboard, linkding and karakeep import.
    case netscape
    /// One row per article: `url,title,tags,added,read,archived,favorite,progress,note` (tags `|`-separated).
    case csv
    /// Markdown: each article as a heading and link, with its note and highlights.
    case markdown
}

/// Writes a list in the export formats.
public enum Exporter {
    /// The value of `format` in this app's JSON export.
    package static let jsonFormatName = "readinglist-export"
    /// The version of this app's JSON export.
    package static let jsonVersion = 1

    /// The visible articles of `store`, oldest first, in `format`.
    public static func export(_ store: ReplicaStore, format: ExportFormat, now: Int64 = ReplicaStore.wallClock()) throws(StoreError) -> String {
        var articles = try store.articles(.init(order: .oldest), includeContent: format == .json)
        articles.sort { ($0.addedAt, $0.id.rawValue) < ($1.addedAt, $1.id.rawValue) }
        return export(articles, format: format, now: now)
    }

    /// `articles` in `format`.
    public static func export(_ articles: [Article], format: ExportFormat, now: Int64) -> String {
        switch format {
        case .json: json(articles, now: now)
        case .netscape: netscape(articles)
        case .csv: csv(articles)
        case .markdown: markdown(articles)
        }
    }

    // MARK: JSON

    static func json(_ articles: [Article], now: Int64) -> String {
        let root = JSONValue.object([
            "format": .string(jsonFormatName),
            "version": .number(Double(jsonVersion)),
            "exportedAt": .string(Timestamp.iso8601(now)),
            "articles": .array(articles.map { $0.jsonValue(includeContent: true) }),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(root)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads this app's JSON export back (every field `export --format json` writes but article ids, conflicts and
    /// `updatedAt`; highlights keep their ids, progress its read-through).
    static func parseJSON(_ root: JSONValue, file: String) throws(ImportError) -> ParsedFile {
        guard root["format"]?.text == jsonFormatName, case .array = root["articles"] ?? .null else {
            throw ImportError(file: file, "not a reading-list JSON export: expected {\"format\": \"\(jsonFormatName)\", \"articles\": [...]}")
        }
        if let version = root["version"]?.text.flatMap(Int.init), version > jsonVersion {
            throw ImportError(file: file, "a reading-list JSON export of version \(version); this version reads up to \(jsonVersion)")
        }
        return JSONFormats.read(root["articles"]!.items, file: file) { item, builder in
            guard let url = CSVFormats.url(item["url"]?.text, &builder) else { return nil }
            let added = JSONFormats.date(item["addedAt"], field: "addedAt", &builder)
            guard added.ok else { return nil }
            // Values that were in a list passed its checks once: they are taken as they are (no trimming), so a round trip is exact.
            var progress: Double?
            let readEpoch = item["readEpoch"]?.text.flatMap(Int.init).flatMap { $0 >= 0 ? $0 : nil }
            if let value = item["progress"]?.text.flatMap(Double.init), value.isFinite, value > 0 || (readEpoch ?? 0) > 0 {
                progress = min(max(value, 0), 1)
            }
            var article = ImportedArticle(
                request: SaveRequest(
                    url: url, title: item["title"]?.text, tags: builder.tags(item["tags"]?.names ?? []), note: item["note"]?.text,
                    content: item["content"]?.text, excerpt: item["excerpt"]?.text),
                author: item["author"]?.text, siteName: item["siteName"]?.text, imageURL: item["imageURL"]?.text,
                language: item["language"]?.text, wordCount: item["wordCount"]?.text.flatMap(Int.init), addedAt: added.time,
                isRead: item["isRead"]?.truthy ?? false, isArchived: item["isArchived"]?.truthy ?? false,
                isFavorite: item["isFavorite"]?.truthy ?? false, progress: progress, readEpoch: readEpoch)
            article.highlights = (item["highlights"]?.items ?? []).compactMap { highlight in
                guard let quote = highlight["quote"]?.text else { return nil }
                return ImportedHighlight(
                    quote: quote, note: highlight["note"]?.text, color: highlight["color"]?.text,
                    position: highlight["position"]?.text.flatMap(Double.init),
                    createdAt: JSONFormats.time(highlight["createdAt"]), id: highlight["id"]?.text)
            }
            return article
        }
    }

    // MARK: Netscape

    static func netscape(_ articles: [Article]) -> String {
        var out = """
            <!DOCTYPE NETSCAPE-Bookmark-file-1>
            <!-- This is an automatically generated file. It will be read and overwritten. DO NOT EDIT! -->
            <META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
            <TITLE>Bookmarks</TITLE>
            <H1>Bookmarks</H1>
            <DL><p>

            """
        for article in articles {
            var attributes = "HREF=\"\(escape(article.url))\" ADD_DATE=\"\(article.addedAt / 1000)\""
            if article.updatedAt > 0 { attributes += " LAST_MODIFIED=\"\(article.updatedAt / 1000)\"" }
            if !article.isRead && !article.isArchived { attributes += " TOREAD=\"1\"" }
            // Tags never contain commas (Tag's rules), so a comma-separated list is unambiguous.
            var tags = article.tags
            if article.isArchived { tags.append("linkding:bookmarks.archived") }
            if !tags.isEmpty { attributes += " TAGS=\"\(escape(tags.joined(separator: ",")))\"" }
            out += "    <DT><A \(attributes)>\(escape(article.title ?? article.url))</A>\n"
            if let description = article.note ?? article.excerpt {
                out += "    <DD>\(escape(description))\n"
            }
        }
        out += "</DL><p>\n"
        return out
    }

    /// Text for HTML text and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    // MARK: CSV

    static func csv(_ articles: [Article]) -> String {
        var out = "url,title,tags,added,read,archived,favorite,progress,note\r\n"
        for article in articles {
            let fields = [
                article.url, article.title ?? "", article.tags.joined(separator: "|"), Timestamp.iso8601(article.addedAt),
                String(article.isRead), String(article.isArchived), String(article.isFavorite), String(article.progress.position),
                article.note ?? "",
            ]
            out += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break (quotes doubled);
    /// a leading `=`, `+`, `-` or `@` is prefixed with `'` so that spreadsheets do not run it as a formula,
    /// and so is a leading `'` (which spreadsheets would hide), so that an import takes one `'` off exactly
    /// where one was put on (``CSVFormats/undefused(_:)``).
    static func csvField(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@'".contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Markdown

    static func markdown(_ articles: [Article]) -> String {
        var out = "# Reading list\n"
        for article in articles {
            out += "\n## [\(markdownText(article.title ?? article.url))](\(markdownURL(article.url)))\n\n"
            var facts = ["added \(Timestamp.iso8601(article.addedAt).prefix(10))"]
            if article.isRead { facts.append("read") }
            if article.isArchived { facts.append("archived") }
            if article.isFavorite { facts.append("favourite") }
            if !article.tags.isEmpty { facts.append(markdownText(article.tags.map(Tag.displayed).joined(separator: " "))) }
            out += facts.joined(separator: " · ") + "\n"
            // Every text the user wrote is escaped as the title is: HTML in it stays text.
            if let note = article.note {
                out += "\n" + note.split(separator: "\n", omittingEmptySubsequences: false).map { "> " + markdownText(String($0)) }.joined(separator: "\n") + "\n"
            }
            let highlights = article.highlights.sorted { ($0.position ?? 2, $0.createdAt) < ($1.position ?? 2, $1.createdAt) }
            if !highlights.isEmpty {
                out += "\n### Highlights\n\n"
                for highlight in highlights {
                    out += "- " + markdownText(highlight.quote.split(whereSeparator: \.isNewline).joined(separator: " ")) + "\n"
                    if let note = highlight.note { out += "  - Note: " + markdownText(note.split(whereSeparator: \.isNewline).joined(separator: " ")) + "\n" }
                }
            }
        }
        return out
    }

    /// `text` with Markdown's and HTML's special characters escaped, so that it renders as the text it is.
    static func markdownText(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\[]*_`<>".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    static func markdownURL(_ url: String) -> String {
        url.replacingOccurrences(of: "(", with: "%28").replacingOccurrences(of: ")", with: "%29").replacingOccurrences(of: " ", with: "%20")
    }
}
