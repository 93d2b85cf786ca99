import Foundation
import GRDB
import ReadingListModel
import SyncCore
import Synchronization

/// The variant pass (ConflictResolution.md, rule 4): an article saved under
/// the id of a URL variant (by a release before `url-v2`, or by a replica
/// still on it) is merged into the article of its canonical form.
extension ReplicaStore {
    /// The field a merge writes into the old article (before deleting it):
    /// the canonical article's id. Its context says what the merge carried over.
    package static let mergedIntoField = "mergedInto"

    /// `replica_meta` key: the local sequence number up to which the pass has looked.
    static let variantPassKey = "url_variants_checked_seq"

    /// Merges per transaction.
    static let variantBatch = 256

    /// Merges every visible article whose stored `url` has another id under
    /// `url-v2` into the article of that id, as local writes, and returns
    /// how many it merged. Looks at the articles touched since the last pass
    /// (the first pass of a list, at all of them). Does nothing on a replica
    /// that plays a `url-v1` one (`setMergesURLVariants(_:)`), on a
    /// server's copy of a list, or while a deferred materialisation is pending
    /// (the sync that deferred finishes it, then runs the pass).
    @discardableResult
    package func mergeURLVariants() throws(StoreError) -> Int {
        guard materializes, mergesURLVariants.withLock({ $0 }) else { return 0 }
        var pairs: [(old: ArticleID, canonical: ArticleID)] = []
        var done = 0
        var first = true
        repeat {
            let batch = try transaction { tx -> Int in
                tx.checksInput = false
                if first {
                    first = false
                    guard try Meta.get(PendingMaterialization.key, tx.db) == nil else { return 0 }
                    pairs = try Self.variantCandidates(&tx)
                }
                var merged = 0
                while merged < Self.variantBatch, let pair = pairs.first {
                    pairs.removeFirst()
                    if try Self.merge(pair.old, into: pair.canonical, in: &tx) { merged += 1 }
                }
                return merged
            }
            done += batch
        } while !pairs.isEmpty
        return done
    }

    /// Plays a replica that has no variant pass (a `url-v1` release), for tests of mixed networks.
    package func setMergesURLVariants(_ on: Bool) {
        mergesURLVariants.withLock { $0 = on }
    }

    /// How far the log may run ahead of the pass's mark before an empty pass records it.
    static let variantMarkStride: Int64 = 5_000
    /// How many articles a pass may look at before it moves the mark anyway:
    /// without it, every sync of a busy replica looked again at every article
    /// touched since the mark (up to 5 000 log rows' worth: a URL normalised
    /// and hashed each), which made W3's 100-change deltas 2-3 times slower.
    static let variantMarkArticles = 128

    /// The articles to look at, read in the pass's first transaction: each
    /// visible one whose URL has another id is returned with it; a row whose
    /// `normalized_url` an earlier normaliser wrote is re-materialised.
    private static func variantCandidates(_ tx: inout LogTransaction) throws -> [(old: ArticleID, canonical: ArticleID)] {
        let db = try tx.db
        let mark = try Meta.get(variantPassKey, db).flatMap { Int64($0) }
        let lastSeq = max(
            try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log") ?? 0,
            try Meta.get("seq", db).flatMap { Int64($0) } ?? 0)
        let rows: [VariantRow]
        let columns = "id, json_extract(json, '$.url') AS url, normalized_url, visible"
        if let mark {
            guard mark < lastSeq else { return [] }
            rows = try VariantRow.fetchAll(db, sql: """
                SELECT \(columns) FROM article WHERE id IN (SELECT DISTINCT article_id FROM change_log WHERE seq > ? AND article_id IS NOT NULL)
                """, arguments: [mark])
        } else {
            rows = try VariantRow.fetchAll(db, sql: "SELECT \(columns) FROM article")
        }
        var pairs: [(old: ArticleID, canonical: ArticleID)] = []
        var rematerialized = false
        for row in rows {
            guard let text = row.url, let url = try? NormalizedURL(text) else { continue }
            let id = ArticleID(unchecked: row.id)
            let canonical = ArticleID(url: url)
            if canonical != id, row.visible { pairs.append((id, canonical)) }
            if row.normalizedURL != url.string {
                try tx.rematerialize(id)
                rematerialized = true
            }
        }
        // Own merges are touched articles too: looked at by the next pass (none will qualify).
        // When nothing was found, the mark moves only now and then: writing it
        // would make every sync's pass a transaction that waits for the disk,
        // and the few articles touched since are cheap to look at again.
        if mark == nil || !pairs.isEmpty || rematerialized || rows.count >= Self.variantMarkArticles
            || lastSeq - (mark ?? 0) >= Self.variantMarkStride {
            try Meta.set(variantPassKey, String(lastSeq), db)
        }
        return pairs.sorted { $0.old < $1.old }
    }

    /// Merges the visible article `old` into `canonical`; false when `old` is not visible.
    private static func merge(_ old: ArticleID, into canonical: ArticleID, in tx: inout LogTransaction) throws -> Bool {
        let oldRef = EntityRef.article(old), target = EntityRef.article(canonical)
        let liveOld = try tx.liveChanges(ofArticle: old)
        guard let (from, visible) = ArticleMaterializer.materialize(id: old, changes: liveOld), visible else { return false }
        let oldState = EntityState(entity: oldRef, changes: liveOld.filter { $0.entity == oldRef })
        // What an earlier merge of `old` carried over already: what its `mergedInto` writes had seen.
        var carried = VersionVector()
        for write in oldState.register(mergedIntoField).siblings { carried.merge(write.context) }
        func isNew(_ field: String) -> Bool { oldState.register(field).siblings.contains { !carried.covers($0.dot) } }
        let remerge = !oldState.register(mergedIntoField).siblings.isEmpty

        let liveTarget = try tx.liveChanges(ofArticle: canonical)
        let current = ArticleMaterializer.materialize(id: canonical, changes: liveTarget)
        var writes: [(String, JSONValue)] = []
        let texts: [(String, KeyPath<Article, String?>)] = [
            (Fields.title, \.title), (Fields.excerpt, \.excerpt), (Fields.content, \.content), (Fields.author, \.author),
            (Fields.siteName, \.siteName), (Fields.imageURL, \.imageURL), (Fields.language, \.language), (Fields.note, \.note),
        ]
        let flags: [(String, KeyPath<Article, Bool>)] = [(Fields.isRead, \.isRead), (Fields.isArchived, \.isArchived), (Fields.isFavorite, \.isFavorite)]
        let fresh = !(current?.isVisible ?? false)
        if fresh {
            // Not in the list (or deleted): a fresh save of the canonical article with everything `old` shows.
            writes = [(Fields.deleted, false), (Fields.url, .string(from.url)), (Fields.addedAt, .number(Double(from.addedAt)))]
            for (field, path) in texts { if let value = from[keyPath: path] { writes.append((field, .string(value))) } }
            if let words = from.wordCount { writes.append((Fields.wordCount, .number(Double(words)))) }
            for (field, path) in flags where from[keyPath: path] { writes.append((field, true)) }
            if oldState.fields[Fields.progress] != nil { writes.append((Fields.progress, from.progress.jsonValue)) }
            for tag in from.tags { writes.append((Fields.tag(tag), true)) }
            let written = Set(writes.map(\.0))
            let state = EntityState(entity: target, changes: liveTarget.filter { $0.entity == target })
            for field in state.fields.keys.sorted() where !written.contains(field) {
                guard let reset = defaultValue(of: field, in: state) else { continue }
                writes.append((field, reset))
            }
        } else if let to = current?.article {
            if from.addedAt < to.addedAt, oldState.fields[Fields.addedAt] != nil { writes.append((Fields.addedAt, .number(Double(from.addedAt)))) }
            for (field, path) in texts where isNew(field) {
                guard let value = from[keyPath: path], value != to[keyPath: path] else { continue }
                if field == Fields.note {
                    // A note is the user's own text: never dropped, appended when the other holds another.
                    guard let existing = to.note else { writes.append((field, .string(value))); continue }
                    let combined = existing + "\n\n" + value
                    if !existing.contains(value), combined.utf8.count <= (FieldLimits.maxBytes(of: Fields.note) ?? Int.max) {
                        writes.append((field, .string(combined)))
                    }
                } else if to[keyPath: path] == nil || remerge {
                    // A first merge fills what the canonical article lacks; a later one carries an edit made on the old article since.
                    writes.append((field, .string(value)))
                }
            }
            if isNew(Fields.wordCount), let words = from.wordCount, to.wordCount == nil || remerge, words != to.wordCount {
                writes.append((Fields.wordCount, .number(Double(words))))
            }
            for (field, path) in flags where isNew(field) && from[keyPath: path] && !to[keyPath: path] { writes.append((field, true)) }
            if isNew(Fields.progress), from.progress > to.progress { writes.append((Fields.progress, from.progress.jsonValue)) }
            for tag in from.tags where isNew(Fields.tag(tag)) && !to.tags.contains(tag) { writes.append((Fields.tag(tag), true)) }
        }
        writes.sort { $0.0 < $1.0 }
        try tx.writeLocal(target, writes)

        // Highlights move: `old/X` becomes `canonical/X`.
        var moved: Set<String> = []
        for highlight in from.highlights {
            let suffix = highlight.id.dropFirst(old.rawValue.utf8.count)
            let source = EntityRef.highlight(highlight.id), destination = EntityRef.highlight(canonical.rawValue + suffix)
            let state = EntityState(entity: source, changes: liveOld.filter { $0.entity == source })
            let existing = EntityState(entity: destination, changes: liveTarget.filter { $0.entity == destination })
            var fields: [(String, JSONValue)] = []
            for field in state.fields.keys.sorted() {
                guard let value = state.resolved(field) else { continue }
                if !fresh && !existing.fields.isEmpty {
                    // Moved before: carry only what changed on the old article since.
                    guard state.register(field).siblings.contains(where: { !carried.covers($0.dot) }), existing.resolved(field) != value else { continue }
                }
                fields.append((field, value))
            }
            if fresh, !existing.fields.isEmpty, !fields.contains(where: { $0.0 == Fields.deleted }) { fields.append((Fields.deleted, false)) }
            fields.sort { $0.0 < $1.0 }
            try tx.writeLocal(destination, fields)
            moved.insert(destination.id)
        }
        if fresh {
            // A fresh save deletes the highlights the canonical article had (the moved ones excepted).
            let ids = Set(liveTarget.filter { $0.entity.type == EntityRef.highlightType }.map(\.entity))
            for highlight in ids.sorted() where !moved.contains(highlight.id) {
                let state = EntityState(entity: highlight, changes: liveTarget.filter { $0.entity == highlight })
                if state.isVisible() { try tx.writeLocal(highlight, Fields.deleted, true) }
            }
        }
        // The old article says where it went, then goes (the delete's context covers that write).
        try tx.writeLocal(oldRef, mergedIntoField, .string(canonical.rawValue))
        try tx.writeLocal(oldRef, Fields.deleted, true)
        return true
    }

    /// The article of the canonical form of `id`'s URL, when `id` is an
    /// article that is not visible and was saved under a variant's id.
    static func canonicalArticle(of id: String, _ db: Database) throws -> ArticleID? {
        guard let text = try String.fetchOne(
            db.cachedStatement(sql: "SELECT json_extract(json, '$.url') FROM article WHERE id = ?"), arguments: [id]),
            let url = try? NormalizedURL(text) else { return nil }
        let canonical = ArticleID(url: url)
        guard canonical.rawValue != id,
              try Bool.fetchOne(db.cachedStatement(sql: "SELECT visible FROM article WHERE id = ?"), arguments: [canonical.rawValue]) == true
        else { return nil }
        return canonical
    }
}

/// An `article` row as the URL-variant pass reads it: the saved URL (from
/// its JSON) beside the normalised one it was materialised with.
private struct VariantRow: FetchableRecord {
    enum Columns {
        static let id = Column("id")
        static let url = Column("url")
        static let normalizedURL = Column("normalized_url")
        static let visible = Column("visible")
    }

    var id: String
    var url: String?
    var normalizedURL: String?
    var visible: Bool

    init(row: Row) {
        id = row[Columns.id]
        url = row[Columns.url]
        normalizedURL = row[Columns.normalizedURL]
        visible = row[Columns.visible]
    }
}
