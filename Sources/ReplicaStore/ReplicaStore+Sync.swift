import Foundation
import GRDB
import ReadingListModel
import SyncCore

/// What applying a batch did.
public struct ApplyResult: Sendable, Hashable {
    /// Changes that were new here (duplicates and replaced ranges not counted).
    package var appliedChanges: Int
    /// Entries that were already known (a retry, or a change received by another path).
    package var duplicates: Int
    /// This replica's knowledge after the batch.
    package var knowledge: VersionVector

    package init(appliedChanges: Int, duplicates: Int, knowledge: VersionVector) {
        self.appliedChanges = appliedChanges
        self.duplicates = duplicates
        self.knowledge = knowledge
    }
}

extension ReplicaStore {
    /// Up to `limit` entries this replica holds that a replica knowing
    /// `remote` lacks, in causal order (the local apply order), with replaced
    /// writes as ranges. Reads only the entries above `remote`: the cost
    /// follows the delta, not the size of the list.
    package func outgoing(for remote: VersionVector, limit: Int) throws(StoreError) -> [LogEntry] {
        precondition(limit > 0)
        return try read { db in try Self.outgoing(for: remote, limit: limit, db) }
    }

    /// ``outgoing(for:limit:)`` and ``heads()`` read in one transaction (a server's answer).
    package func outgoingAndHeads(for remote: VersionVector, limit: Int) throws(StoreError) -> (entries: [LogEntry], heads: [ForkCheck.Head]) {
        precondition(limit > 0)
        let me = replicaID
        return try read { db in (try Self.outgoing(for: remote, limit: limit, db), try Self.heads(me, db)) }
    }

    /// ``knowledge()`` and the digests at `dots` (``digest(at:)``) read in one transaction.
    package func knowledgeAndDigests(at dots: [Dot]) throws(StoreError) -> (knowledge: VersionVector, digests: [UInt64?]) {
        let me = replicaID
        return try read { db in (try LogTransaction.readKnowledge(db), try dots.map { try Self.digest(at: $0, me, db) }) }
    }

    static func outgoing(for remote: VersionVector, limit: Int, _ db: Database) throws -> [LogEntry] {
        let local = try LogTransaction.readKnowledge(db)
        // Sorted by local order, then counter: a run's changes share a seq, and so
        // do the replaced dots between them, which must go out in counter order.
        var candidates: [(seq: Int64, counter: UInt64, entry: LogEntry)] = []
        func add(_ row: Row, above floor: UInt64) throws {
            let seq: Int64 = row[LogColumn.seq]
            for entry in try LogTransaction.entries(ofRow: row, above: floor) {
                candidates.append((seq, entry.lastCounter, entry))
            }
        }
        for (replica, counter) in local.counters where counter > remote[replica] {
            let floor = remote[replica]
            // A run the other side has seen the start of.
            if floor > 0, let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(LogTransaction.columns), seq FROM change_log WHERE replica = ? AND counter <= ? ORDER BY counter DESC LIMIT 1"),
                arguments: [replica.rawValue, Int64(floor)]) {
                try add(row, above: floor)
            }
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(LogTransaction.columns), seq FROM change_log WHERE replica = ? AND counter > ? ORDER BY counter LIMIT ?"),
                arguments: [replica.rawValue, Int64(floor), limit])
            for row in rows { try add(row, above: floor) }
            let ranges = try StoredReplacedRange.fetchAll(
                db.cachedStatement(sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range WHERE replica = ? AND to_counter > ? ORDER BY to_counter LIMIT ?"),
                arguments: [replica.rawValue, Int64(floor), limit])
            for stored in ranges {
                let from = max(stored.from, floor + 1)
                let range = ReplacedRange(replica: replica, from: from, to: stored.to, digest: stored.digest)
                candidates.append((stored.seq, from, .replaced(range)))
            }
        }
        candidates.sort { ($0.seq, $0.counter) < ($1.seq, $1.counter) }
        return candidates.prefix(limit).map(\.entry)
    }

    /// Applies a batch in one transaction: all of it, or (on any refusal) none of it.
    ///
    /// Each replica's entries must continue its counters without a gap and
    /// each change's context must be known (`CausalGate`). An entry already
    /// known is skipped, but a stored change whose dot arrives with different
    /// content is refused as a copied replica.
    @discardableResult
    package func apply(_ entries: [LogEntry]) throws(StoreError) -> ApplyResult {
        try apply(entries, materializing: true)
    }

    func apply(_ entries: [LogEntry], materializing: Bool) throws(StoreError) -> ApplyResult {
        let faults = faults
        return try transaction(materializing: materializing) { tx in
            var steps = LogApply(knowledge: tx.knowledge)
            // Every article the batch writes, read in one statement.
            var articles: Set<ArticleID> = []
            for entry in entries {
                switch entry {
                case let .change(change): if let id = change.entity.articleID { articles.insert(id) }
                case let .run(run): if let id = run.entity.articleID { articles.insert(id) }
                case .replaced: break
                }
            }
            try tx.preload(articles)
            // A run is admitted and applied change by change (the log keeps it as one row again).
            for (index, entry) in entries.lazy.flatMap(\.expanded).enumerated() {
                try faults?.beforeEntry(index)
                // The decisions are SyncCore's (LogApply), shared with the PostgreSQL log; this loop does the I/O.
                switch try steps.step(entry) {
                case let .integrate(change): try tx.applyRemote(change)
                case let .record(range): try tx.applyRemote(range)
                case let .check(dot, digest): try LogApply.check(dot, digest: digest, stored: try tx.storedDigest(at: dot))
                }
            }
            return ApplyResult(appliedChanges: tx.appliedChanges, duplicates: steps.duplicates, knowledge: tx.knowledge)
        }
    }

    /// Remembers what a sync partner (a replica file or a server) was last known to have.
    package func recordSync(partner name: String, replica: ReplicaID?, knowledge: VersionVector) throws(StoreError) {
        let time = now()
        try mapErrors {
            try writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO sync_partner (name, replica, knowledge, last_sync) VALUES (?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET replica = excluded.replica, knowledge = excluded.knowledge, last_sync = excluded.last_sync
                        """,
                    arguments: [name, replica?.rawValue, LogTransaction.encode(knowledge), time])
                // (A WITHOUT ROWID table: GRDB's observations are told of the change explicitly.)
                try db.notifyChanges(in: Table("sync_partner"))
            }
        }
    }

    /// What `partner` was last known to have, or nil when this replica never synced with it.
    /// Forgets the sync partner `name` (its records moved under another name).
    package func forgetPartner(_ name: String) throws(StoreError) {
        try mapErrors { try writer.write { db in try db.execute(sql: "DELETE FROM sync_partner WHERE name = ?", arguments: [name]) } }
    }

    package func partnerKnowledge(_ name: String) throws(StoreError) -> VersionVector? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT knowledge FROM sync_partner WHERE name = ?", arguments: [name])
                .map(LogTransaction.decodeContext)
        }
    }

    /// A replica's state at a glance.
    public struct Status: Sendable, Hashable {
        /// The replica's identity.
        public var replicaID: ReplicaID
        /// The database file (nil in memory).
        public var path: String?
        /// Every change the replica has, by replica.
        public var knowledge: VersionVector
        /// Changes made on this replica.
        public var localChanges: UInt64
        /// Local changes no sync partner is known to have.
        public var pendingChanges: UInt64
        /// Changes in the log that are still live (not replaced).
        public var liveWrites: Int
        /// Ranges of replaced changes kept to account for them.
        public var replacedRanges: Int
        /// Articles shown (not deleted).
        public var visibleArticles: Int
        /// Articles with at least one conflict.
        public var articlesWithConflicts: Int
        /// The replicas and servers this one synced with.
        public var partners: [Partner]

        /// A sync partner as last seen.
        public struct Partner: Sendable, Hashable {
            /// Its name: a server's URL, or another replica's file path.
            public var name: String
            /// Its replica id, when it is a replica.
            public var replica: ReplicaID?
            /// What it was known to have after the last sync.
            public var knowledge: VersionVector
            /// Milliseconds since 1970 of the last sync.
            public var lastSync: Int64
        }
    }

    /// The number of visible articles with conflicts (from a partial index: the cost does not grow with the list).
    public func conflictCount() throws(StoreError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM article INDEXED BY article_conflicts WHERE visible = 1 AND conflict_count > 0") ?? 0 }
    }

    /// The replica's identity, counts and sync partners.
    public func status() throws(StoreError) -> Status {
        let replica = replicaID
        return try read { db in
            let knowledge = try LogTransaction.readKnowledge(db)
            var partners: [Status.Partner] = []
            for partner in try SyncPartnerRow.fetchAll(db, sql: "SELECT \(SyncPartnerRow.columns) FROM sync_partner ORDER BY last_sync DESC") {
                partners.append(Status.Partner(
                    name: partner.name, replica: partner.replica.flatMap(ReplicaID.init),
                    knowledge: try LogTransaction.decodeContext(partner.knowledge), lastSync: partner.lastSync))
            }
            let acknowledged = partners.map { $0.knowledge[replica] }.max() ?? 0
            return Status(
                replicaID: replica, path: path, knowledge: knowledge,
                localChanges: knowledge[replica],
                pendingChanges: knowledge[replica] - min(acknowledged, knowledge[replica]),
                liveWrites: try Int.fetchOne(
                    db, sql: "SELECT coalesce(sum(CASE WHEN field IS NULL THEN json_array_length(value) ELSE 1 END), 0) FROM change_log") ?? 0,
                replacedRanges: try Int.fetchOne(db, sql: "SELECT count(*) FROM replaced_range") ?? 0,
                visibleArticles: try Int.fetchOne(db, sql: "SELECT count(*) FROM article WHERE visible = 1") ?? 0,
                articlesWithConflicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM article WHERE visible = 1 AND conflict_count > 0") ?? 0,
                partners: partners)
        }
    }

    /// One line of the change log.
    package struct LogLine: Sendable, Hashable {
        package var seq: Int64
        package var entry: LogEntry
    }

    /// The change log, newest first: live writes, and replaced writes as ranges of dots.
    package func log(limit: Int = 50) throws(StoreError) -> [LogLine] {
        try read { db in
            var lines: [LogLine] = []
            for row in try Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns), seq FROM change_log ORDER BY seq DESC LIMIT ?", arguments: [limit]) {
                for entry in try LogTransaction.entries(ofRow: row, above: 0) { lines.append(LogLine(seq: row[LogColumn.seq], entry: entry)) }
            }
            for stored in try StoredReplacedRange.fetchAll(
                db, sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range ORDER BY seq DESC LIMIT ?", arguments: [limit]) {
                guard let replica = ReplicaID(stored.replica) else { continue }
                let range = ReplacedRange(replica: replica, from: stored.from, to: stored.to, digest: stored.digest)
                lines.append(LogLine(seq: stored.seq, entry: .replaced(range)))
            }
            return Array(lines.sorted { ($0.seq, $0.entry.lastCounter) > ($1.seq, $1.entry.lastCounter) }.prefix(limit))
        }
    }

    /// Every live write (for invariant checks and tools).
    package func liveChanges() throws(StoreError) -> [Change] {
        try read { db in try LogTransaction.decodeChanges(Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns) FROM change_log ORDER BY seq")) }
    }

    /// A setting kept in the replica (e.g. the sync server's URL).
    package func setting(_ key: String) throws(StoreError) -> String? {
        try read { db in try Meta.get("setting." + key, db) }
    }

    package func setSetting(_ key: String, _ value: String?) throws(StoreError) {
        try mapErrors { try writer.write { db in try Meta.set("setting." + key, value, db) } }
    }

    /// Gives a copied replica file its own identity.
    ///
    /// Two files with one replica id write different changes under the same
    /// dots, which every receiver refuses. This gives the file a new id and
    /// keeps everything both files certainly share: every change of the other
    /// replicas, and this replica's own changes up to the last one another
    /// replica is known to hold (what a sync partner acknowledged, or what a
    /// change of another replica depends on). Its own changes after that,
    /// which the original file may have written differently under the same
    /// dots, are written again under the new id, each with the values, clock
    /// and context it had (its own entry capped at what is shared), so they
    /// merge on the next sync exactly as they would have: an edit made on the
    /// copy replaces what the copy had seen and is concurrent with the rest.
    /// Nothing else is written again: an article deleted elsewhere stays
    /// deleted unless the copy itself changed it since, and running this on a
    /// file that is no copy only renames its unacknowledged changes.
    public static func resetIdentity(path: String) throws(StoreError) -> ReplicaID {
        let old = try open(path: path, create: false)
        let me = old.replicaID
        var generator = SystemRandomNumberGenerator()
        let newID = ReplicaID.random(using: &generator)
        let time = old.now()
        try old.mapErrors {
            try old.writer.write { db in
                // The log as it is, in its order: rows (a change or a run) and replaced ranges, by seq.
                var items: [(seq: Int64, changes: [Change], range: ReplacedRange?)] = []
                for row in try Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns), seq FROM change_log") {
                    items.append((row[LogColumn.seq], try LogTransaction.decodeRow(row), nil))
                }
                for stored in try StoredReplacedRange.fetchAll(db, sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range") {
                    guard let replica = ReplicaID(stored.replica) else { throw StoreError.database("corrupt replica id in replaced_range") }
                    let range = ReplacedRange(replica: replica, from: stored.from, to: stored.to, digest: stored.digest)
                    items.append((stored.seq, [], range))
                }
                items.sort { $0.seq < $1.seq }
                var ownDigests: [UInt64: UInt64] = [:]
                for row in try OwnDigestRow.fetchAll(db, sql: "SELECT counter, digest FROM own_digest") {
                    ownDigests[row.counter] = row.digest
                }
                // What is certainly shared: what a partner holds, and what another replica's change depends on.
                var shared: UInt64 = 0
                for text in try String.fetchAll(db, sql: "SELECT knowledge FROM sync_partner") {
                    shared = max(shared, VersionVector(compactText: text)?[me] ?? 0)
                }
                for item in items {
                    for change in item.changes where change.dot.replica != me { shared = max(shared, change.context[me]) }
                }
                for table in ["change_log", "replaced_range", "own_digest"] { try db.execute(sql: "DELETE FROM \(table)") }
                try Meta.set("knowledge", nil, db)
                try Meta.set("replica_id", newID.rawValue, db)
                var tx = try LogTransaction(db: db, replica: newID, now: time)
                tx.checksInput = false
                // Every article is materialised again afterwards, compared with the rows it has.
                tx.defersMaterialization()
                var knowledge = VersionVector()
                var pending: [Change] = []
                for item in items {
                    if var range = item.range {
                        if range.replica == me {
                            guard range.from <= shared else { continue }
                            if range.to > shared { range = ReplacedRange(replica: me, from: range.from, to: shared, digest: ownDigests[shared] ?? 0) }
                        }
                        try tx.applyRemote(range)
                        knowledge[range.replica] = max(knowledge[range.replica], range.to)
                        continue
                    }
                    for change in item.changes {
                        if change.dot.replica == me && change.dot.counter > shared {
                            pending.append(change)
                            continue
                        }
                        try tx.applyRemote(change)
                        knowledge[change.dot.replica] = max(knowledge[change.dot.replica], change.dot.counter)
                    }
                }
                // The copy's own live changes after what is shared, under the new id, in their order.
                pending.sort { $0.dot.counter < $1.dot.counter }
                for (index, change) in pending.enumerated() {
                    var context = change.context
                    let seen = context[me]
                    context[me] = min(seen, shared)
                    // The earlier ones it had seen are the new id's first changes (pending is in counter order).
                    var (low, high) = (0, index)
                    while low < high {
                        let middle = (low + high) / 2
                        if pending[middle].dot.counter <= seen { low = middle + 1 } else { high = middle }
                    }
                    context[newID] = UInt64(low)
                    let renamed = Change(
                        dot: Dot(newID, UInt64(index + 1)), entity: change.entity, field: change.field, value: change.value, context: context,
                        hlc: change.hlc)
                    try tx.applyRemote(renamed)
                    knowledge[newID] = renamed.dot.counter
                }
                tx.knowledge = knowledge
                try tx.commit()
            }
            _ = try old.materializePending()
        }
        try old.close()
        return newID
    }
}

extension ReplicaStore {
    /// The digest of this replica's latest known change of every replica (see `ForkCheck`).
    package func heads() throws(StoreError) -> [ForkCheck.Head] {
        let me = replicaID
        return try read { db in try Self.heads(me, db) }
    }

    static func heads(_ me: ReplicaID, _ db: Database) throws -> [ForkCheck.Head] {
        try LogTransaction.readKnowledge(db).counters.sorted { $0.key < $1.key }.compactMap { replica, counter in
            let dot = Dot(replica, counter)
            return try Self.digest(at: dot, me, db).map { ForkCheck.Head(dot: dot, digest: $0) }
        }
    }

    /// The digest of the change at `dot` as this replica knows it, or nil when it cannot tell.
    package func digest(at dot: Dot) throws(StoreError) -> UInt64? {
        let me = replicaID
        return try read { db in try Self.digest(at: dot, me, db) }
    }

    static func digest(at dot: Dot, _ me: ReplicaID, _ db: Database) throws -> UInt64? {
        if dot.replica == me {
            // Every change made here is either live (its row gives the digest) or
            // replaced, its digest kept in own_digest when it left the log.
            if let kept = try Int64.fetchOne(db.cachedStatement(sql: "SELECT digest FROM own_digest WHERE counter = ?"), arguments: [Int64(dot.counter)]) {
                return UInt64(bitPattern: kept)
            }
            return try LogTransaction.change(at: dot, db)?.digest
        }
        if let change = try LogTransaction.change(at: dot, db) { return change.digest }
        return try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT digest FROM replaced_range WHERE replica = ? AND to_counter = ?"),
            arguments: [dot.replica.rawValue, Int64(dot.counter)]).map { UInt64(bitPattern: $0) }
    }
}

extension LogTransaction {
    /// The digest held for `dot` (``ReplicaStore/digest(at:)``), the rows of this transaction included.
    mutating func storedDigest(at dot: Dot) throws -> UInt64? {
        try flushRows()
        return try ReplicaStore.digest(at: dot, replica, db)
    }
}

/// A `sync_partner` row: what a partner was last known to have seen, and when.
struct SyncPartnerRow: FetchableRecord {
    /// The columns a query selects for this record.
    static let columns = "name, replica, knowledge, last_sync"

    enum Columns {
        static let name = Column("name")
        static let replica = Column("replica")
        static let knowledge = Column("knowledge")
        static let lastSync = Column("last_sync")
    }

    var name: String
    /// The partner's replica id, as stored (NULL for a server's snapshot).
    var replica: String?
    /// In ``VersionVector/compactText`` form.
    var knowledge: String
    var lastSync: Int64

    init(row: Row) {
        name = row[Columns.name]
        replica = row[Columns.replica]
        knowledge = row[Columns.knowledge]
        lastSync = row[Columns.lastSync]
    }
}

/// An `own_digest` row: the digest of a change made here that is no longer live.
private struct OwnDigestRow: FetchableRecord {
    enum Columns {
        static let counter = Column("counter")
        static let digest = Column("digest")
    }

    var counter: UInt64
    var digest: UInt64

    init(row: Row) {
        counter = UInt64(row[Columns.counter] as Int64)
        digest = UInt64(bitPattern: row[Columns.digest] as Int64)
    }
}
