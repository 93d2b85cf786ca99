import Foundation
import GRDB
import ReadingListModel
import SyncCore

/// Why an article shows what it shows (`readinglist explain`): for each
/// field, its live writes ("siblings") with their replica, dot, clock
/// reading and context, the rule that picked the displayed value, and, for
/// visibility, which writes keep a deleted article visible or which delete
/// hides it.
///
/// Replaced writes are not kept in the log (only their dots are, to sync
/// without gaps): what a live write replaced is told by its context, the
/// writes its author had seen.
package struct Explanation: Sendable, Hashable, Codable {
    /// One live write.
    package struct Write: Sendable, Hashable, Codable {
        /// `REPLICA8:COUNTER`.
        package var dot: String
        /// The writing replica's full id.
        package var replica: String
        package var counter: UInt64
        /// Whether this replica made the write.
        package var local: Bool
        /// The hybrid logical clock reading of the write: milliseconds since 1970 and a logical counter.
        package var clockMillis: Int64
        package var clockLogical: UInt16
        /// The clock reading as UTC (ISO 8601, milliseconds).
        package var clock: String
        /// The writes its author had seen (replica id -> highest counter): it replaced every earlier write of its field these cover.
        package var context: [String: UInt64]
        /// `article`, or `highlight ID`.
        package var entity: String
        package var field: String
        package var value: JSONValue
    }

    /// One field of the article or of one of its highlights.
    package struct Field: Sendable, Hashable, Codable {
        /// `article`, or `highlight ID`.
        package var entity: String
        /// As `show --json` and `conflicts` name it (`title`, `tag:swift`, `highlight:ID.note`).
        package var field: String
        /// The displayed value (nil: never written).
        package var shown: JSONValue?
        /// The live writes, the displayed one first, then by precedence.
        package var siblings: [Write]
        /// The rule that picked the displayed value.
        package var rule: String
        /// For each pair of live writes: why both are live (neither had seen the other).
        package var concurrency: [String]
        /// What each live write replaced, as far as the log still knows.
        package var replaced: [String]
        /// The values shown as a conflict (empty: none).
        package var conflict: [JSONValue]
    }

    /// Whether the article is in the list, and which writes decide it.
    package struct Visibility: Sendable, Hashable, Codable {
        package var visible: Bool
        /// The rule that decided, in words.
        package var rule: String
        /// Live `deleted = true` writes.
        package var deletes: [Write]
        /// Live `deleted = false` writes (saves).
        package var saves: [Write]
        /// Live writes (of the article or its highlights) that no live delete had seen:
        /// each keeps a deleted article visible.
        package var keptBy: [Write]
        /// The deletes that hide it (when not visible).
        package var hiddenBy: [Write]
    }

    /// The article id.
    package var article: String
    /// The URL as displayed (nil: no live write of it).
    package var url: String?
    /// This replica's id.
    package var replica: String
    package var visibility: Visibility
    /// The fields explained (one, or every field with a live write).
    package var fields: [Field]
}

extension ReplicaStore {
    /// Explains `field` of the article `idOrURL` (deleted articles too: by
    /// URL or full id), or, with no field, every field that has a live write
    /// plus visibility. `field` is a name as `show --json` or `conflicts`
    /// prints it (`title`, `tags`, `tag:swift`, `highlight:ID.note`), or
    /// `visible` / `deleted` for visibility only.
    package func explain(_ idOrURL: String, field: String? = nil) throws(StoreError) -> Explanation {
        let me = replicaID
        let (id, live) = try read { db -> (ArticleID, [Change]) in
            let id = try Self.explainedArticle(idOrURL, db)
            return (id, try LogTransaction.liveChanges(ofArticle: id, db))
        }
        guard !live.isEmpty else { throw .articleNotFound(idOrURL) }
        let articleRef = EntityRef.article(id)
        let article = EntityState(entity: articleRef, changes: live.filter { $0.entity == articleRef })
        let dependents = live.filter { $0.entity != articleRef }
        var highlights: [EntityRef: EntityState] = [:]
        for change in dependents where change.entity.type == EntityRef.highlightType {
            highlights[change.entity, default: EntityState(entity: change.entity)].apply(change)
        }

        var fields: [Explanation.Field] = []
        func explainField(_ state: EntityState, _ name: String) {
            let register = state.register(name)
            guard !register.siblings.isEmpty else { return }
            let shownName = state.entity == articleRef ? name : "highlight:\(state.entity.id).\(name)"
            let entity = state.entity == articleRef ? "article" : "highlight \(state.entity.id)"
            fields.append(Self.explainRegister(register, entity: state.entity, name: name, shownName: shownName, entityName: entity, me: me))
        }
        let wanted = field?.trimmingCharacters(in: .whitespaces)
        switch wanted {
        case nil, "":
            for name in article.fields.keys.sorted() where name != Fields.deleted { explainField(article, name) }
            for (_, state) in highlights.sorted(by: { $0.key.id < $1.key.id }) {
                for name in state.fields.keys.sorted() { explainField(state, name) }
            }
        case "visible", Fields.deleted:
            break
        case "tags":
            for name in article.fields.keys.sorted() where name.hasPrefix(Fields.tagPrefix) { explainField(article, name) }
        case let name? where name.hasPrefix("highlight:"):
            let spec = name.dropFirst("highlight:".count)
            guard let dot = spec.lastIndex(of: "."), let state = highlights[.highlight(String(spec[..<dot]))] else {
                throw .invalidOperation("article \(id.rawValue.prefix(8)) has no highlight field '\(name)' (highlights: \(highlights.keys.map(\.id).sorted().joined(separator: ", ")))")
            }
            explainField(state, String(spec[spec.index(after: dot)...]))
        case let name?:
            explainField(article, name)
            if fields.isEmpty {
                let known = article.fields.keys.filter { $0 != Fields.deleted }.sorted()
                throw .invalidOperation("article \(id.rawValue.prefix(8)) has no live write of '\(name)' (written fields: \(known.joined(separator: ", ")))")
            }
        }

        let visibility = Self.explainVisibility(article, dependents: dependents, me: me)
        let url = article.resolved(Fields.url)?.stringValue
        return Explanation(article: id.rawValue, url: url, replica: me.rawValue, visibility: visibility, fields: fields)
    }

    /// The article `idOrURL` names, visible or not: a URL or a full id names a
    /// deleted article too; an id prefix names a visible one.
    static func explainedArticle(_ idOrURL: String, _ db: Database) throws -> ArticleID {
        let text = idOrURL.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.contains("://") {
            let id = ArticleID(url: try NormalizedURL(text))
            if try !LogTransaction.liveChanges(ofArticle: id, db).isEmpty { return id }
        } else if let id = try? ArticleID(validating: text.lowercased()), try !LogTransaction.liveChanges(ofArticle: id, db).isEmpty {
            return id
        }
        return try resolve(text, db)
    }

    static func write(_ change: Change, me: ReplicaID) -> Explanation.Write {
        var context: [String: UInt64] = [:]
        for (replica, counter) in change.context.counters { context[replica.rawValue] = counter }
        return Explanation.Write(
            dot: change.dot.description, replica: change.dot.replica.rawValue, counter: change.dot.counter,
            local: change.dot.replica == me, clockMillis: change.hlc.millis, clockLogical: change.hlc.logical,
            clock: Timestamp.iso8601(change.hlc.millis),
            context: context, entity: change.entity.type == EntityRef.articleType ? "article" : "\(change.entity.type) \(change.entity.id)",
            field: change.field, value: change.value)
    }

    static func contextText(_ context: VersionVector) -> String {
        "{" + context.counters.sorted { $0.key < $1.key }.map { "\($0.key.short):\($0.value)" }.joined(separator: ", ") + "}"
    }

    static func explainRegister(
        _ register: FieldRegister, entity: EntityRef, name: String, shownName: String, entityName: String, me: ReplicaID
    ) -> Explanation.Field {
        let policy = FieldPolicy.of(entityType: entity.type, field: name)
        let ranked = register.ranked(by: policy)
        let rule: String
        if ranked.count == 1 {
            rule = "one live write: nothing to resolve, it is shown (every earlier write of \(name) was replaced by it or by writes it replaced)"
        } else {
            switch policy {
            case let .register(surfaces):
                rule = "\(ranked.count) concurrent writes: the highest (clock, replica) wins, here \(ranked[0].dot) at \(Timestamp.iso8601(ranked[0].hlc.millis))"
                    + (surfaces ? "; the others stay as a conflict until a write that has seen them all replaces them" : "; this field shows no conflict")
            case .url:
                rule = "\(ranked.count) concurrent writes: the highest (clock, replica) wins, here \(ranked[0].dot); URLs that normalise alike are no conflict"
            case .earliest:
                rule = "\(ranked.count) concurrent writes: the earliest value wins (then the highest (clock, replica))"
            case .progress:
                rule = "\(ranked.count) concurrent writes: the latest read-through (epoch) wins, then the furthest position: concurrent devices never move progress backwards"
            case .addWinsFlag:
                rule = "\(ranked.count) concurrent writes: add wins: any live true keeps the tag, whatever the clocks"
            case .deleted:
                rule = "\(ranked.count) concurrent writes: see visibility"
            }
        }
        var concurrency: [String] = []
        for (index, a) in ranked.enumerated() {
            for b in ranked[(index + 1)...] {
                concurrency.append("\(a.dot) and \(b.dot) are concurrent: \(a.dot) had seen \(a.context[b.dot.replica]) of \(b.dot.replica.short)'s writes (not \(b.dot.counter)), \(b.dot) had seen \(b.context[a.dot.replica]) of \(a.dot.replica.short)'s (not \(a.dot.counter))")
            }
        }
        let replaced = ranked.map { write in
            "\(write.dot) replaced every write of \(name) that its context \(contextText(write.context)) covers and that was live where it was written (replaced writes are not kept, only their dots)"
        }
        return Explanation.Field(
            entity: entityName, field: shownName, shown: ranked.first?.value, siblings: ranked.map { write($0, me: me) },
            rule: rule, concurrency: concurrency, replaced: replaced, conflict: register.conflictValues(by: policy))
    }

    static func explainVisibility(_ article: EntityState, dependents: [Change], me: ReplicaID) -> Explanation.Visibility {
        let flags = article.register(Fields.deleted).siblings
        let deletes = flags.filter { $0.value == true }.sorted { $0.dot < $1.dot }
        let saves = flags.filter { $0.value == false }.sorted { $0.dot < $1.dot }
        let others = article.fields.filter { $0.key != Fields.deleted }.flatMap(\.value.siblings) + dependents
        let unseen = others.filter { write in !deletes.contains { $0.context.covers(write.dot) } }.sorted { $0.dot < $1.dot }
        let visible = article.isVisible(dependents: dependents)
        let rule: String
        if deletes.isEmpty {
            rule = flags.isEmpty && others.isEmpty ? "no live write: not in the list" : "no live delete: in the list"
        } else if visible, !saves.isEmpty {
            rule = "deleted by \(deletes.map(\.dot.description).joined(separator: ", ")), but a save concurrent with the delete (\(saves.map(\.dot.description).joined(separator: ", "))) keeps it: a save always says \"keep this\""
        } else if visible {
            rule = "deleted by \(deletes.map(\.dot.description).joined(separator: ", ")), but \(unseen.count) write(s) no delete had seen keep it (edit wins over delete): \(unseen.prefix(5).map { "\($0.dot) \($0.entity.type == EntityRef.highlightType ? "highlight " : "")\($0.field)" }.joined(separator: ", "))"
        } else {
            rule = "hidden by \(deletes.map(\.dot.description).joined(separator: ", ")): every other live write was seen by a delete (an edit the deleter had seen stays deleted)"
        }
        return Explanation.Visibility(
            visible: visible, rule: rule, deletes: deletes.map { write($0, me: me) }, saves: saves.map { write($0, me: me) },
            keptBy: deletes.isEmpty || !saves.isEmpty ? [] : unseen.map { write($0, me: me) },
            hiddenBy: visible ? [] : deletes.map { write($0, me: me) })
    }
}
