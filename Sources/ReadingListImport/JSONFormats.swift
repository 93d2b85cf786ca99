import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

/// Loose reading of a decoded JSON value (exporters disagree on types:
/// `is_archived` is `1` in one Wallabag version and `true` in another).
extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        guard case let .object(object) = self, let value = object[key], value != .null else { return nil }
        return value
    }

    var text: String? {
        switch self {
        case let .string(text): text
        case let .number(number): number.rounded() == number ? String(Int64(number)) : String(number)
        default: nil
        }
    }

    var truthy: Bool {
        switch self {
        case let .bool(value): value
        case let .number(value): value != 0
        case let .string(text): FieldParse.bool(text) ?? false
        default: false
        }
    }

    var items: [JSONValue] {
        if case let .array(items) = self { return items }
        return []
    }

    /// Strings, or the `name` of objects (`labels: [{name}]`).
    var names: [String] {
        items.compactMap { $0.text ?? $0["name"]?.text }
    }
}

enum JSONFormats {
    static func decode(_ data: Data, file: String) throws(ImportError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ImportError(file: file, "not valid JSON (\(Self.reason(error)))")
        }
    }

    private static func reason(_ error: any Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        }
        return "\(error)"
    }

    /// Runs `build` on each item of `items` (1-based item numbers; see ``ParsedFile/collect(_:_:)``).
    static func read(_ items: [JSONValue], file: String, _ build: (JSONValue, inout RowBuilder) -> ImportedArticle?) -> ParsedFile {
        ParsedFile.collect(items.enumerated().lazy.map { (SourceLocation(file: file, line: $0.offset + 1, isItem: true), $0.element) }, build)
    }

    /// The time `value` gives (nil when there is none); an unreadable one skips the row (`ok` false).
    static func date(_ value: JSONValue?, field: String, _ builder: inout RowBuilder) -> (ok: Bool, time: Int64?) {
        guard let value else { return (true, nil) }
        if let time = time(value) { return (true, time) }
        builder.skip("unreadable date '\(value.text ?? "\(value)")' in \(field)")
        return (false, nil)
    }

    /// The time `value` gives (unix seconds or a date text), nil when it gives none.
    static func time(_ value: JSONValue?) -> Int64? {
        guard let value else { return nil }
        if case let .number(seconds) = value, let time = DateParse.unix(String(seconds)) { return time }
        if let text = value.text, let time = DateParse.any(text) { return time }
        return nil
    }

    // MARK: Omnivore

    /// Omnivore's metadata entries (official export: `url`, `state`
    /// `Archived`, `readingProgress` 0-100, `labels` as strings, `savedAt`;
    /// community exporters: `originalUrl`, `labels: [{name}]`, `state:
    /// "ARCHIVED"`, inline `highlights`). `content` and `highlights` name
    /// the slug's files of the official ZIP, when there are any.
    static func omnivore(
        _ root: JSONValue, file: String, content: [String: String] = [:], highlights: [String: [ImportedHighlight]] = [:]
    ) throws(ImportError) -> ParsedFile {
        let items = root.items.isEmpty ? (root["articles"] ?? root["items"] ?? .null).items : root.items
        guard !items.isEmpty || root == .array([]) else {
            throw ImportError(file: file, "not an Omnivore export: expected a JSON array of articles with 'url' or 'originalUrl' and 'savedAt'")
        }
        if let first = items.first, first["url"] == nil && first["originalUrl"] == nil {
            throw ImportError(file: file, "not an Omnivore export: its items have no 'url' or 'originalUrl'")
        }
        return read(items, file: file) { item, builder in
            guard let url = CSVFormats.url(item["url"]?.text ?? item["originalUrl"]?.text, &builder) else { return nil }
            let saved = date(item["savedAt"] ?? item["createdAt"], field: "savedAt", &builder)
            guard saved.ok else { return nil }
            let state = item["state"]?.text?.lowercased()
            let archived = state == "archived" || item["isArchived"]?.truthy == true || item["archivedAt"] != nil
            var progress: Double?
            if let value = (item["readingProgress"] ?? item["readingProgressPercent"])?.text.flatMap(Double.init), value.isFinite, value > 0 {
                progress = min(value > 1 ? value / 100 : value, 1)
            }
            let slug = item["slug"]?.text
            var article = ImportedArticle(
                request: SaveRequest(
                    url: url, title: CSVFormats.title(item["title"]?.text, url: url, &builder),
                    tags: builder.tags(item["labels"]?.names ?? []),
                    content: builder.text(slug.flatMap { content[$0] } ?? item["content"]?.text, field: "content", limit: FieldLimits.content),
                    excerpt: builder.text(item["description"]?.text, field: "excerpt", limit: FieldLimits.excerpt, cuts: true)),
                author: builder.line(item["author"]?.text, field: "author", limit: FieldLimits.short),
                siteName: builder.line(item["siteName"]?.text, field: "siteName", limit: FieldLimits.short),
                imageURL: imageURL(item["thumbnail"]?.text ?? item["image"]?.text),
                addedAt: saved.time, isRead: archived || progress == 1, isArchived: archived, progress: progress)
            if let note = item["note"]?.text { article.request.note = builder.text(note, field: "note", limit: FieldLimits.note) }
            var marks = slug.flatMap { highlights[$0] } ?? []
            for highlight in item["highlights"]?.items ?? [] {
                let created = time(highlight["createdAt"])
                if let mark = builder.highlight(
                    quote: highlight["quote"]?.text, note: highlight["annotation"]?.text ?? highlight["note"]?.text,
                    color: highlight["color"]?.text, createdAt: created) {
                    marks.append(mark)
                }
            }
            article.highlights = marks
            return article
        }
    }

    /// Omnivore's `highlights/<slug>.md`: each highlight a block quote (its
    /// trailing `[⤴️](link)` dropped), followed by its note, if any.
    static func omnivoreHighlights(markdown: String) -> [ImportedHighlight] {
        var out: [ImportedHighlight] = []
        var quote: [String] = []
        var note: [String] = []
        func flush() {
            let text = quote.joined(separator: "\n").trimmed
            if !text.isEmpty {
                let noteText = note.joined(separator: "\n").trimmed
                out.append(ImportedHighlight(quote: text, note: noteText.isEmpty ? nil : noteText))
            }
            quote = []
            note = []
        }
        for rawLine in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if line.hasPrefix(">") {
                if !note.isEmpty { flush() }
                var body = String(line.dropFirst()).trimmed
                if let link = body.range(of: " [⤴️](", options: .backwards) ?? body.range(of: "[⤴️](", options: .backwards) {
                    body = String(body[..<link.lowerBound])
                }
                quote.append(body)
            } else if line.hasPrefix("#") && quote.isEmpty {
                continue
            } else if !quote.isEmpty {
                note.append(line)
            }
        }
        flush()
        return out
    }

    // MARK: Wallabag

    /// Wallabag's JSON export: an array of entries (`url`, `title`,
    /// `is_archived`, `is_starred`, `content` (HTML), `created_at`, `tags`,
    /// `annotations[{text, quote}]`, `language`, `preview_picture`,
    /// `published_by`, `domain_name`).
    static func wallabag(_ root: JSONValue, file: String) throws(ImportError) -> ParsedFile {
        guard case let .array(items) = root else {
            throw ImportError(file: file, "not a Wallabag JSON export: expected a JSON array of entries")
        }
        if let first = items.first, first["url"] == nil && first["given_url"] == nil {
            throw ImportError(file: file, "not a Wallabag JSON export: its entries have no 'url'")
        }
        return read(items, file: file) { item, builder in
            guard let url = CSVFormats.url(item["url"]?.text ?? item["given_url"]?.text, &builder) else { return nil }
            let created = date(item["created_at"], field: "created_at", &builder)
            guard created.ok else { return nil }
            let archived = item["is_archived"]?.truthy ?? false
            var article = ImportedArticle(
                request: SaveRequest(
                    url: url, title: CSVFormats.title(item["title"]?.text, url: url, &builder),
                    tags: builder.tags(item["tags"]?.names ?? []),
                    content: builder.text(item["content"]?.text, field: "content", limit: FieldLimits.content)),
                author: builder.line(item["published_by"].map { $0.names.isEmpty ? $0.text : $0.names.joined(separator: ", ") } ?? nil, field: "author", limit: FieldLimits.short),
                siteName: builder.line(item["domain_name"]?.text, field: "siteName", limit: FieldLimits.short),
                imageURL: imageURL(item["preview_picture"]?.text),
                language: builder.line(item["language"]?.text, field: "language", limit: FieldLimits.short),
                addedAt: created.time, isRead: archived, isArchived: archived, isFavorite: item["is_starred"]?.truthy ?? false)
            article.highlights = (item["annotations"]?.items ?? []).compactMap { annotation in
                builder.highlight(quote: annotation["quote"]?.text, note: annotation["text"]?.text,
                                  createdAt: time(annotation["created_at"]))
            }
            return article
        }
    }

    // MARK: Karakeep

    /// Karakeep's (Hoarder's) export: `{"bookmarks": [{createdAt (unix s),
    /// title, tags, content: {type: "link", url} | {type: "text"} | null, note,
    /// archived, favourited, lists}], "lists": [{id, name}]}`; list names
    /// become tags. Text notes and assets have no URL and are skipped.
    static func karakeep(_ root: JSONValue, file: String) throws(ImportError) -> ParsedFile {
        guard case .array = root["bookmarks"] ?? .null else {
            throw ImportError(file: file, "not a Karakeep export: expected an object with a 'bookmarks' array")
        }
        var listNames: [String: String] = [:]
        for list in root["lists"]?.items ?? [] {
            if let id = list["id"]?.text, let name = list["name"]?.text { listNames[id] = name }
        }
        return read(root["bookmarks"]!.items, file: file) { item, builder in
            let content = item["content"]
            if let type = content?["type"]?.text, type != "link" { builder.skip("a Karakeep \(type) bookmark, not a web page (no URL)"); return nil }
            guard let url = CSVFormats.url(content?["url"]?.text ?? item["url"]?.text, &builder) else { return nil }
            let created = date(item["createdAt"], field: "createdAt", &builder)
            guard created.ok else { return nil }
            let lists = (item["lists"]?.items ?? []).compactMap { $0.text.flatMap { listNames[$0] } }
            let archived = item["archived"]?.truthy ?? false
            return ImportedArticle(
                request: SaveRequest(
                    url: url, title: CSVFormats.title(item["title"]?.text, url: url, &builder),
                    tags: builder.tags((item["tags"]?.names ?? []) + lists),
                    note: builder.text(item["note"]?.text, field: "note", limit: FieldLimits.note),
                    excerpt: builder.text(item["summary"]?.text, field: "excerpt", limit: FieldLimits.excerpt, cuts: true)),
                addedAt: created.time, isRead: archived, isArchived: archived,
                isFavorite: (item["favourited"] ?? item["favorited"])?.truthy ?? false)
        }
    }

    static func imageURL(_ raw: String?) -> String? {
        guard let raw = raw?.trimmed, !raw.isEmpty,
              raw.utf8.count <= FieldLimits.url, (try? ReplicaStore.checkedImageURL(raw)) != nil else { return nil }
        return raw
    }
}
