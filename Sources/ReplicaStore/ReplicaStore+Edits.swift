import Foundation
import GRDB
import ReadingListModel
import SyncCore

/// What `save` writes besides the URL.
public struct SaveRequest: Sendable, Hashable {
    /// The URL to save (normalised to find the article; kept as given for display).
    public var url: String
    /// The title, when known.
    public var title: String?
    /// Tags to add (normalised, see `Tag` in `ReadingListModel`); a save never removes tags.
    public var tags: [String]
    /// A note to write.
    public var note: String?
    /// The page's content (HTML or text): its readable text fills the metadata the request lacks.
    public var content: String?
    /// A summary to show in lists.
    public var excerpt: String?

    /// A save of `url` with what is known of it; the fields left nil are not written.
    public init(url: String, title: String? = nil, tags: [String] = [], note: String? = nil, content: String? = nil, excerpt: String? = nil) {
        self.url = url
        self.title = title
        self.tags = tags
        self.note = note
        self.content = content
        self.excerpt = excerpt
    }
}

/// The outcome of `save`.
public enum SaveOutcome: Sendable, Hashable {
    /// The URL was not in the list (or was deleted): a fresh article.
    case created
    /// The URL was already in the list: `deleted = false` (a save always says
    /// "keep this") and, of what the save gave, the fields that did not already
    /// hold it (`written`: `title`, `tag:swift`...); nothing was reset.
    case updated(written: [String])
}

extension ReplicaStore {
    /// Saves a URL.
    ///
    /// - Not in the list, or deleted: a fresh save. `deleted = false`, the URL
    ///   as given and `addedAt` are written, and every field this replica
    ///   knows of (tags, progress, note, read state, highlights...) returns to
    ///   its default; writes this replica never saw survive as usual.
    /// - Already visible: nothing is reset; `deleted = false` and what
    ///   `request` gives are written, so that a save concurrent with a delete
    ///   on another device keeps the article.
    /// - With `content`: what the content says of itself (`ReadableText`)
    ///   fills, in the same run, the title, author, site name, excerpt,
    ///   language and word count that neither `request` nor the article holds.
    @discardableResult
    public func save(_ request: SaveRequest) throws(StoreError) -> (article: Article, outcome: SaveOutcome) {
        let url: NormalizedURL
        let tags: [String]
        do {
            url = try NormalizedURL(request.url)
            tags = try request.tags.map { tag throws(ModelError) in try Tag.validated(tag) }
        } catch { throw .invalidInput(error) }
        let id = ArticleID(url: url)
        var outcome = SaveOutcome.created
        let article = try transaction(returning: id) { tx in outcome = try Self.save(request, id: id, tags: tags, in: &tx) }
        return (article, outcome)
    }

    /// Saves many URLs in one transaction (an import, a first launch): all of
    /// them, or (on any invalid request) none. Each is saved as ``save(_:)-(SaveRequest)``
    /// saves one, in order, so a URL given twice is created then updated.
    @discardableResult
    public func save(_ requests: [SaveRequest]) throws(StoreError) -> [(id: ArticleID, outcome: SaveOutcome)] {
        var validated: [(request: SaveRequest, id: ArticleID, tags: [String])] = []
        validated.reserveCapacity(requests.count)
        for request in requests {
            do {
                let url = try NormalizedURL(request.url)
                let tags = try request.tags.map { tag throws(ModelError) in try Tag.validated(tag) }
                validated.append((request, ArticleID(url: url), tags))
            } catch { throw .invalidInput(error) }
        }
        return try transaction { tx in
            // A batch asks the log about all its articles in one query, not one each.
            try tx.preload(Set(validated.map(\.id)))
            return try validated.map { item in (item.id, try Self.save(item.request, id: item.id, tags: item.tags, in: &tx)) }
        }
    }

    private static func save(_ request: SaveRequest, id: ArticleID, tags: [String], in tx: inout LogTransaction) throws -> SaveOutcome {
        let entity = EntityRef.article(id)
        let live = try tx.liveChanges(ofArticle: id)
        let current = ArticleMaterializer.materialize(id: id, changes: live)
        let visible = current?.isVisible ?? false
        var given: [(String, JSONValue)] = []
        if let title = request.title { given.append((Fields.title, .string(title))) }
        if let note = request.note { given.append((Fields.note, .string(note))) }
        if let content = request.content { given.append((Fields.content, .string(content))) }
        if let excerpt = request.excerpt { given.append((Fields.excerpt, .string(excerpt))) }
        // What the content says of itself fills what neither the save nor the article holds (ReplicaStore+Search.swift).
        given += request.readableFields(keeping: visible ? current?.article : nil)
        for tag in Set(tags) { given.append((Fields.tag(tag), true)) }
        given.sort { $0.0 < $1.0 }
        // Every field a save writes is one run: one row in the log, one entry on the wire.
        if visible {
            // A save always says "keep this": against a concurrent delete on
            // another device, the article stays (whatever else the save gives).
            var changed: [(String, JSONValue)] = []
            for (field, value) in given where try !tx.holdsOnly(value, entity, field) { changed.append((field, value)) }
            try tx.writeLocal(entity, [(Fields.deleted, false)] + changed)
            return .updated(written: changed.map(\.0))
        }
        var writes: [(String, JSONValue)] = [
            (Fields.deleted, false),
            (Fields.url, .string(NormalizedURL.removingCredentials(request.url))),
            (Fields.addedAt, .number(Double(tx.now))),
        ]
        writes += given
        guard !live.isEmpty else {
            try tx.writeLocal(entity, writes)
            return .created
        }
        // A save after a delete is a fresh save: reset what this replica knows of.
        let written: Set<String> = Set(writes.map(\.0))
        let state = EntityState(entity: entity, changes: live.filter { $0.entity == entity })
        for field in state.fields.keys.sorted() where !written.contains(field) {
            guard let reset = defaultValue(of: field, in: state) else { continue }
            writes.append((field, reset))
        }
        try tx.writeLocal(entity, writes)
        let highlightIDs = Set(live.filter { $0.entity.type == EntityRef.highlightType }.map(\.entity))
        for highlight in highlightIDs.sorted() {
            let highlightState = EntityState(entity: highlight, changes: live.filter { $0.entity == highlight })
            if highlightState.isVisible() { try tx.writeLocal(highlight, Fields.deleted, true) }
        }
        return .created
    }

    /// The value a fresh save gives a field this version knows (nil: leave it alone).
    static func defaultValue(of field: String, in state: EntityState) -> JSONValue? {
        if field.hasPrefix(Fields.tagPrefix) { return false }
        switch field {
        case Fields.isRead, Fields.isArchived, Fields.isFavorite: return false
        case Fields.progress: return ReadingProgress(epoch: nextEpoch(state), position: 0).jsonValue
        case Fields.title, Fields.excerpt, Fields.content, Fields.author, Fields.siteName, Fields.imageURL,
             Fields.language, Fields.wordCount, Fields.note:
            return .null
        default: return nil
        }
    }

    static func nextEpoch(_ state: EntityState) -> Int {
        (state.register(Fields.progress).siblings.map { FieldRegister.progress($0.value).epoch }.max() ?? 0) + 1
    }

    /// Writes fields of a visible article in one transaction. Values are
    /// JSON (`.null` clears a text field).
    ///
    /// An edit that gives new content also fills, from the content's readable
    /// text, the title, author (byline), site name, excerpt, language and word
    /// count that the article lacks and the edit does not name (set or
    /// clear), as ``save(_:)-(SaveRequest)`` does: see `SaveRequest.readableFields(keeping:)`.
    @discardableResult
    public func edit(_ idOrURL: String, _ fields: [String: JSONValue]) throws(StoreError) -> Article {
        for field in fields.keys where !Self.editableFields.contains(field) {
            throw .invalidOperation("'\(field)' is not a field that can be edited (editable: \(Self.editableFields.sorted().joined(separator: ", ")))")
        }
        var fields = fields
        if case let .string(text)? = fields[Fields.imageURL] { fields[Fields.imageURL] = .string(try Self.checkedImageURL(text)) }
        return try transaction(resolving: idOrURL) { tx, id in
            var fields = fields
            if case let .string(content)? = fields[Fields.content] {
                let current = ArticleMaterializer.materialize(id: id, changes: try tx.liveChanges(ofArticle: id))?.article
                let request = SaveRequest(url: current?.url ?? id.rawValue, content: content)
                for (field, value) in request.readableFields(keeping: current) where fields[field] == nil { fields[field] = value }
            }
            var writes: [(String, JSONValue)] = []
            for (field, value) in fields.sorted(by: { $0.key < $1.key }) where try !tx.holdsOnly(value, .article(id), field) {
                writes.append((field, value))
            }
            try tx.writeLocal(.article(id), writes)
        }
    }

    /// An image URL as an edit stores it: an http(s) URL (checked as `save`
    /// checks an article's), trimmed, without `user:password@`, otherwise as
    /// given. Blank text is returned as it is, for the blank-text check to refuse.
    package static func checkedImageURL(_ text: String) throws(StoreError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return text }
        do { _ = try NormalizedURL(trimmed) } catch {
            guard case let .invalidURL(_, reason) = error else { throw .invalidInput(error) }
            throw .invalidOperation("invalid image URL '\(trimmed)': \(reason)")
        }
        return NormalizedURL.removingCredentials(trimmed)
    }

    static let editableFields: Set<String> = [
        Fields.title, Fields.excerpt, Fields.content, Fields.author, Fields.siteName, Fields.imageURL,
        Fields.language, Fields.wordCount, Fields.note, Fields.isRead, Fields.isArchived, Fields.isFavorite,
    ]

    /// Marks read (`true`), or unread (`false`), which starts a new read-through: progress returns to 0 in a new epoch.
    @discardableResult
    public func setRead(_ idOrURL: String, _ read: Bool) throws(StoreError) -> Article {
        try transaction(resolving: idOrURL) { tx, id in
            let entity = EntityRef.article(id)
            var writes: [(String, JSONValue)] = []
            if try !tx.holdsOnly(.bool(read), entity, Fields.isRead) { writes.append((Fields.isRead, .bool(read))) }
            if !read {
                // "Read again": a new read-through at 0, unless the article is unread at 0 already.
                let siblings = try tx.siblings(of: entity, Fields.progress)
                let atStart = siblings.allSatisfy { FieldRegister.progress($0.value).position == 0 }
                if !writes.isEmpty || !atStart {
                    let state = EntityState(entity: entity, changes: siblings)
                    writes.append((Fields.progress, ReadingProgress(epoch: Self.nextEpoch(state), position: 0).jsonValue))
                }
            }
            try tx.writeLocal(entity, writes)
        }
    }

    /// Sets reading progress (0...1) within the current read-through; 1 (the end) also marks the article read.
    @discardableResult
    public func setProgress(_ idOrURL: String, _ fraction: Double) throws(StoreError) -> Article {
        let id = try resolve(idOrURL)
        let current = try article(id.rawValue)
        let progress: ReadingProgress
        do { progress = try ReadingProgress.validated(epoch: current.progress.epoch, position: fraction) } catch { throw .invalidInput(error) }
        return try transaction(returning: id) { tx in
            let entity = EntityRef.article(id)
            var writes: [(String, JSONValue)] = []
            if try !tx.holdsOnly(progress.jsonValue, entity, Fields.progress) { writes.append((Fields.progress, progress.jsonValue)) }
            // Reaching the end is reading it: progress 1 marks the article read too
            // (marking read leaves the position alone: one may stop before the end).
            if fraction == 1, try !tx.holdsOnly(true, entity, Fields.isRead) { writes.append((Fields.isRead, true)) }
            try tx.writeLocal(entity, writes)
        }
    }

    /// Adds (`present`) or removes tags.
    @discardableResult
    public func setTags(_ idOrURL: String, _ tags: [String], present: Bool) throws(StoreError) -> Article {
        let id = try resolve(idOrURL)
        let current = present ? [] : Set(try article(id.rawValue).tags)
        let names: [String]
        do {
            // A tag the article has is removed by its exact name, even one an older version let through.
            names = try tags.map { tag throws(ModelError) in current.contains(tag) ? tag : try Tag.validated(tag) }
        } catch { throw .invalidInput(error) }
        guard !names.isEmpty else { throw .invalidOperation("name at least one tag") }
        if !present {
            if let missing = names.first(where: { !current.contains($0) }) {
                throw .invalidOperation("article \(id.rawValue.prefix(8)) has no tag '\(missing)'")
            }
        }
        return try transaction(returning: id) { tx in
            var writes: [(String, JSONValue)] = []
            for name in Set(names).sorted() where try !tx.holdsOnly(.bool(present), .article(id), Fields.tag(name)) {
                writes.append((Fields.tag(name), .bool(present)))
            }
            try tx.writeLocal(.article(id), writes)
        }
    }

    /// Deletes a visible article: `deleted = true`, with everything this
    /// replica has seen as its context. A concurrent edit brings it back.
    public func delete(_ idOrURL: String) throws(StoreError) {
        try transaction { tx in try tx.writeLocal(.article(Self.resolve(idOrURL, tx.db)), Fields.deleted, true) }
    }

    /// Resolves a conflict on `field` by writing `value`, which replaces every sibling this replica has seen.
    @discardableResult
    public func resolveConflict(_ idOrURL: String, field: String, value: JSONValue) throws(StoreError) -> Article {
        let article = try article(idOrURL)
        guard article.conflicts.contains(where: { $0.field == field }) else {
            let fields = article.conflicts.map(\.field)
            throw .invalidOperation(
                "article \(article.id.rawValue.prefix(8)) has no conflict on '\(field)'"
                    + (fields.isEmpty ? "" : " (conflicts: \(fields.joined(separator: ", ")))"))
        }
        if field.hasPrefix("highlight:") {
            let spec = field.dropFirst("highlight:".count)
            guard let dot = spec.lastIndex(of: ".") else { throw .invalidOperation("bad highlight field '\(field)'") }
            try transaction { tx in
                try tx.writeLocal(.highlight(String(spec[spec.startIndex..<dot])), String(spec[spec.index(after: dot)...]), value)
            }
        } else {
            try transaction { tx in try tx.writeLocal(.article(article.id), field, value) }
        }
        return try self.article(article.id.rawValue)
    }

    /// Resolves a conflict by keeping its `index`-th value (1 = the displayed one), as `conflicts` lists them.
    @discardableResult
    public func resolveConflict(_ idOrURL: String, field: String, keep index: Int) throws(StoreError) -> Article {
        let article = try article(idOrURL)
        guard let conflict = article.conflicts.first(where: { $0.field == field }) else {
            return try resolveConflict(idOrURL, field: field, value: .null)
        }
        guard (1...conflict.values.count).contains(index) else {
            throw .invalidOperation("--keep must be 1 to \(conflict.values.count) for '\(field)'")
        }
        return try resolveConflict(idOrURL, field: field, value: conflict.values[index - 1])
    }

    /// Adds a highlight to a visible article and returns its id.
    @discardableResult
    public func addHighlight(_ idOrURL: String, quote: String, position: Double? = nil, note: String? = nil, color: String? = nil) throws(StoreError) -> String {
        let id = try resolve(idOrURL)
        guard !quote.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .invalidOperation("a highlight needs a quote") }
        if let position, !(position.isFinite && (0...1).contains(position)) {
            throw .invalidOperation("a highlight position must be a fraction from 0 to 1, not \(position)")
        }
        // Named after the dot of its first change: unique, and reproducible in simulations.
        let highlightID: String = try transaction { tx in
            let highlightID = "\(id.rawValue)/\(tx.replica.rawValue.prefix(8))\(String(tx.knowledge[tx.replica] + 1, radix: 16))"
            let entity = EntityRef.highlight(highlightID)
            var fields: [(String, JSONValue)] = [(Fields.deleted, false), (Fields.quote, .string(quote)), (Fields.createdAt, .number(Double(tx.now)))]
            if let position { fields.append((Fields.position, .number(position))) }
            if let note { fields.append((Fields.note, .string(note))) }
            if let color { fields.append((Fields.color, .string(color))) }
            try tx.writeLocal(entity, fields)
            return highlightID
        }
        return highlightID
    }

    /// Deletes a highlight of a visible article.
    public func deleteHighlight(_ highlightID: String) throws(StoreError) {
        let entity = EntityRef.highlight(highlightID)
        guard let articleID = entity.articleID, (try? article(articleID.rawValue))?.highlights.contains(where: { $0.id == highlightID }) == true else {
            throw .highlightNotFound(highlightID)
        }
        try transaction { tx in try tx.writeLocal(entity, Fields.deleted, true) }
    }

    /// Writes arbitrary fields (including ones this version does not know) as
    /// local changes. For tests and tools that play a newer app version.
    package func writeRaw(_ writes: [(entity: EntityRef, field: String, value: JSONValue)]) throws(StoreError) {
        try transaction { tx in
            tx.checksInput = false
            for write in writes { try tx.writeLocal(write.entity, write.field, write.value) }
        }
    }
}
