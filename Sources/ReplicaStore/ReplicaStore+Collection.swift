import Foundation
import GRDB
import ReadingListModel
import SyncCore

extension ReplicaStore {
    /// Forgets deleted articles no replica can bring back any more.
    ///
    /// `horizon` is the knowledge every active replica of the list has
    /// acknowledged, with all of its own changes pushed (the sync server
    /// computes it). An article is collected when it is not visible and every
    /// live delete of it is within the horizon: every active replica has seen
    /// the delete, and any edit made concurrently with it has already arrived
    /// (it would have made the article visible). Its live changes, and its
    /// highlights', then become replaced dots: nothing of it is kept or sent.
    ///
    /// Returns the articles collected.
    @discardableResult
    package func collectGarbage(horizon: VersionVector) throws(StoreError) -> [ArticleID] {
        guard !horizon.isEmpty, try holdsDeletes() else { return [] }
        let materializes = materializes
        return try transaction { tx in
            let candidates = try String.fetchAll(
                // The literals match the partial index change_log_tombstone.
                tx.db.cachedStatement(sql: "SELECT DISTINCT entity_id FROM change_log WHERE entity_type = 'article' AND field = 'deleted' AND value = 'true'"))
            var collected: [ArticleID] = []
            for text in candidates {
                guard let id = try? ArticleID(validating: text) else { continue }
                // The rule is SyncCore's (LogRules), shared with the PostgreSQL log.
                let doomed = LogRules.collected(article: id, live: try tx.liveChanges(ofArticle: id), horizon: horizon)
                guard !doomed.isEmpty else { continue }
                for change in doomed { try tx.forget(change) }
                // (A store that materialises only on demand drops a stored row now: nothing new in the log would say so.)
                if !materializes { try Materializer.rematerialize(id, changes: [], tx.db) }
                collected.append(id)
            }
            return collected
        }
    }

    /// Whether any live change deletes an article: when none does (nearly
    /// every sync), there is nothing to collect, and no write transaction is
    /// opened to find that out.
    package func holdsDeletes() throws(StoreError) -> Bool {
        try read { db in
            // The literals match the partial index change_log_tombstone.
            try Bool.fetchOne(db.cachedStatement(
                sql: "SELECT 1 FROM change_log WHERE entity_type = 'article' AND field = 'deleted' AND value = 'true' LIMIT 1")) ?? false
        }
    }

    /// Applies a collection the server made: forgets the live changes of
    /// `article` (and its highlights) within `horizon`, as the server did, so
    /// that every replica keeps exactly the same changes of it. Changes outside
    /// the horizon (made by a replica the server had not heard of yet) stay.
    @discardableResult
    package func forget(article: ArticleID, within horizon: VersionVector) throws(StoreError) -> Int {
        let materializes = materializes
        return try transaction { tx in
            let live = try tx.liveChanges(ofArticle: article)
            let doomed = LogRules.collected(live: live, within: horizon)
            for change in doomed { try tx.forget(change) }
            if !materializes, !doomed.isEmpty {
                try Materializer.rematerialize(article, changes: live.filter { !horizon.covers($0.dot) }, tx.db)
            }
            return doomed.count
        }
    }

    /// Starts this replica afresh under a new identity, for a replica that
    /// returns after the server's horizon: its old changes may touch articles
    /// the others have forgotten, so it must not push them as they are.
    ///
    /// Returns this replica's own changes the server had not acknowledged
    /// (`acknowledged`); after pulling the list again, ``replay(_:)`` writes
    /// those that still apply. Everything else is cleared. `newID` is the
    /// new identity (nil: a random one).
    package func rejoin(acknowledged: VersionVector, as newID: ReplicaID? = nil) throws(StoreError) -> [Change] {
        let me = replicaID
        var generator = SystemRandomNumberGenerator()
        let newID = newID ?? ReplicaID.random(using: &generator)
        let pending: [Change] = try mapErrors {
            try writer.write { db in
                // From the run that holds the first unacknowledged change on.
                let floor = Int64(acknowledged[me])
                let start = try Int64.fetchOne(
                    db, sql: "SELECT counter FROM change_log WHERE replica = ? AND counter <= ? ORDER BY counter DESC LIMIT 1",
                    arguments: [me.rawValue, floor]) ?? floor + 1
                let pending = try LogTransaction.decodeChanges(Row.fetchAll(
                    db, sql: "SELECT \(LogTransaction.columns) FROM change_log WHERE replica = ? AND counter >= ? ORDER BY counter",
                    arguments: [me.rawValue, start])).filter { $0.dot.counter > UInt64(floor) }
                for table in ["change_log", "replaced_range", "own_digest", "article", "article_tag", "sync_partner"] {
                    try db.execute(sql: "DELETE FROM \(table)")
                }
                try Meta.set("knowledge", nil, db)
                try Meta.set("replica_id", newID.rawValue, db)
                return pending
            }
        }
        identity.withLock { $0 = newID }
        return pending
    }

    /// Writes again the pending changes ``rejoin(acknowledged:as:)`` returned,
    /// for entities that are still visible; returns those that were not
    /// (their articles were deleted and forgotten meanwhile).
    package func replay(_ pending: [Change]) throws(StoreError) -> [Change] {
        var dropped: [Change] = []
        try transaction { tx in
            tx.checksInput = false
            for change in pending {
                guard let article = change.entity.articleID else {
                    // A type this version does not know: keep it as it was written.
                    try tx.writeLocal(change.entity, change.field, change.value)
                    continue
                }
                let live = try tx.liveChanges(ofArticle: article)
                let entity = EntityRef.article(article)
                let state = EntityState(entity: entity, changes: live.filter { $0.entity == entity })
                let visible = state.isVisible(dependents: live.filter { $0.entity != entity })
                if visible || (change.entity == entity && change.field == Fields.deleted && change.value == false) {
                    try tx.writeLocal(change.entity, change.field, change.value)
                } else {
                    dropped.append(change)
                }
            }
        }
        return dropped
    }
}
