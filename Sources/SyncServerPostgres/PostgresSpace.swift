import Foundation
import Logging
import PostgresNIO
import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol
import SyncServerCore

/// One user's change log in PostgreSQL: the same rules as a replica's
/// (`LogApply`, `LogRules`, `ReplacedRanges` in SyncCore), with the user's row locked for every write.
struct PostgresSpace: SyncSpace {
    let storage: PostgresServerStorage
    let userID: Int64
    var client: PostgresClient { storage.client }
    var logger: Logger { storage.logger }

    func knowledge() async throws(ServerError) -> VersionVector {
        try await storage.perform { try await PostgresLog.knowledge(client, userID, logger) }
    }

    func heads() async throws(ServerError) -> [ForkCheck.Head] {
        try await storage.perform {
            var heads: [ForkCheck.Head] = []
            for (replica, counter) in try await PostgresLog.knowledge(client, userID, logger).counters.sorted(by: { $0.key < $1.key }) {
                let dot = Dot(replica, counter)
                if let digest = try await PostgresLog.digest(client, userID, dot, logger) { heads.append(.init(dot: dot, digest: digest)) }
            }
            return heads
        }
    }

    func digest(at dot: Dot) async throws(ServerError) -> UInt64? {
        try await storage.perform { try await PostgresLog.digest(client, userID, dot, logger) }
    }

    func apply(_ entries: [LogEntry]) async throws(ServerError) -> ApplyResult {
        let userID = userID, logger = logger, beforeCommit = storage.beforeCommit
        return try await storage.perform {
            try await client.withTransaction(logger: logger) { connection in
                var log = try await PostgresLog(connection: connection, userID: userID, logger: logger)
                var steps = LogApply(knowledge: log.knowledge)
                // Runs are admitted and stored change by change (this log keeps one row per change).
                // The decisions are SyncCore's (LogApply), shared with the SQLite log; this loop does the I/O.
                for entry in entries.lazy.flatMap(\.expanded) {
                    switch try steps.step(entry) {
                    case let .integrate(change): try await log.apply(change)
                    case let .record(range): try await log.apply(range)
                    case let .check(dot, digest): try LogApply.check(dot, digest: digest, stored: try await PostgresLog.digest(connection, userID, dot, logger))
                    }
                }
                try await log.commit()
                await beforeCommit?()
                return ApplyResult(appliedChanges: log.applied, duplicates: steps.duplicates, knowledge: log.knowledge)
            }
        }
    }

    /// Up to `limit` entries, with the changes a replica made together sent
    /// as runs. This log keeps a row per change, so rows are read in growing
    /// batches until `limit` entries are made or the log is exhausted.
    func outgoing(for remote: VersionVector, limit: Int) async throws(ServerError) -> [LogEntry] {
        var rows = limit * 8
        while true {
            let (changes, exhausted) = try await outgoingChanges(for: remote, limit: rows)
            let entries = LogEntry.coalesced(changes)
            if entries.count >= limit || exhausted { return Array(entries.prefix(limit)) }
            rows *= 4
        }
    }

    /// The first `limit` changes and ranges the other side lacks, in causal
    /// order, and whether that was all of them.
    private func outgoingChanges(for remote: VersionVector, limit: Int) async throws(ServerError) -> ([LogEntry], Bool) {
        let userID = userID, logger = logger
        return try await storage.perform {
            try await client.withConnection { connection in
                var candidates: [(seq: Int64, entry: LogEntry)] = []
                // A query that returned `limit` rows may have left some: then this is not all.
                var cut = false
                for (replica, counter) in try await PostgresLog.knowledge(connection, userID, logger).counters where counter > remote[replica] {
                    let before = candidates.count
                    let floor = Int64(remote[replica])
                    let rows = try await connection.query(
                        "SELECT replica, counter, entity_type, entity_id, field, value, context, hlc, seq FROM rl_change WHERE user_id = \(userID) AND replica = \(replica.rawValue) AND counter > \(floor) ORDER BY counter LIMIT \(limit)",
                        logger: logger)
                    for try await row in rows.decode((String, Int64, String, String, String, String, String, Int64, Int64).self) {
                        candidates.append((row.8, .change(try PostgresLog.change(row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7))))
                    }
                    if candidates.count - before == limit { cut = true }
                    let afterChanges = candidates.count
                    let ranges = try await connection.query(
                        "SELECT from_counter, to_counter, seq, digest FROM rl_replaced WHERE user_id = \(userID) AND replica = \(replica.rawValue) AND to_counter > \(floor) ORDER BY from_counter LIMIT \(limit)",
                        logger: logger)
                    for try await (from, to, seq, digest) in ranges.decode((Int64, Int64, Int64, Int64).self) {
                        let range = ReplacedRange(
                            replica: replica, from: max(UInt64(from), remote[replica] + 1), to: UInt64(to), digest: UInt64(bitPattern: digest))
                        candidates.append((seq, .replaced(range)))
                    }
                    if candidates.count - afterChanges == limit { cut = true }
                }
                candidates.sort { $0.seq < $1.seq }
                return (candidates.prefix(limit).map(\.entry), !cut && candidates.count <= limit)
            }
        }
    }

    func recordReplica(_ replica: ReplicaID, acknowledged: VersionVector?, at time: Int64) async throws(ServerError) {
        let userID = userID, logger = logger
        try await storage.perform {
            if let acknowledged {
                let text = StoredVector.encode(acknowledged)
                try await client.query(
                    "INSERT INTO rl_replica (user_id, replica, knowledge, last_seen) VALUES (\(userID), \(replica.rawValue), \(text), \(time)) ON CONFLICT (user_id, replica) DO UPDATE SET knowledge = excluded.knowledge, last_seen = excluded.last_seen",
                    logger: logger)
            } else {
                try await client.query(
                    "INSERT INTO rl_replica (user_id, replica, knowledge, last_seen) VALUES (\(userID), \(replica.rawValue), '', \(time)) ON CONFLICT (user_id, replica) DO UPDATE SET last_seen = excluded.last_seen",
                    logger: logger)
            }
        }
    }

    func lastSeen(_ replica: ReplicaID) async throws(ServerError) -> Int64? {
        let userID = userID, logger = logger
        return try await storage.perform {
            let rows = try await client.query(
                "SELECT last_seen FROM rl_replica WHERE user_id = \(userID) AND replica = \(replica.rawValue)", logger: logger)
            for try await seen in rows.decode(Int64.self) { return seen }
            return nil
        }
    }

    func registerReplicas(_ replicas: [ReplicaID], at time: Int64) async throws(ServerError) {
        let userID = userID, logger = logger
        try await storage.perform {
            for replica in replicas {
                try await client.query(
                    "INSERT INTO rl_replica (user_id, replica, knowledge, last_seen) VALUES (\(userID), \(replica.rawValue), '', \(time)) ON CONFLICT DO NOTHING",
                    logger: logger)
            }
        }
    }

    func horizon(activeSince: Int64) async throws(ServerError) -> VersionVector {
        let userID = userID, logger = logger
        return try await storage.perform {
            var acks: [VersionVector] = []
            let rows = try await client.query(
                "SELECT knowledge FROM rl_replica WHERE user_id = \(userID) AND last_seen >= \(activeSince)", logger: logger)
            for try await text in rows.decode(String.self) { acks.append(try StoredVector.decode(text)) }
            return StoredVector.minimum(acks)
        }
    }

    func collectGarbage(horizon: VersionVector, at time: Int64, keepSince: Int64) async throws(ServerError) -> Int {
        guard !horizon.isEmpty else { return 0 }
        let userID = userID, logger = logger
        let horizonText = StoredVector.encode(horizon)
        return try await storage.perform {
            try await client.withTransaction(logger: logger) { connection in
                var log = try await PostgresLog(connection: connection, userID: userID, logger: logger)
                var candidates: [String] = []
                let rows = try await connection.query(
                    "SELECT DISTINCT entity_id FROM rl_change WHERE user_id = \(userID) AND entity_type = 'article' AND field = 'deleted' AND value = 'true'",
                    logger: logger)
                for try await id in rows.decode(String.self) { candidates.append(id) }
                var collected = 0
                for text in candidates {
                    guard let id = try? ArticleID(validating: text) else { continue }
                    // The rule is SyncCore's (LogRules), shared with the SQLite log.
                    let doomed = LogRules.collected(article: id, live: try await log.liveChanges(ofArticle: id), horizon: horizon)
                    guard !doomed.isEmpty else { continue }
                    for change in doomed { try await log.forget(change) }
                    try await connection.query(
                        "INSERT INTO rl_collected (user_id, article, horizon, at) VALUES (\(userID), \(text), \(horizonText), \(time))", logger: logger)
                    collected += 1
                }
                try await connection.query("DELETE FROM rl_collected WHERE user_id = \(userID) AND at < \(keepSince)", logger: logger)
                try await log.commit()
                return collected
            }
        }
    }

    func collections(after seq: Int64?) async throws(ServerError) -> [CollectedArticle] {
        let userID = userID, logger = logger
        return try await storage.perform {
            var result: [CollectedArticle] = []
            let rows = try await client.query(
                "SELECT seq, article, horizon FROM rl_collected WHERE user_id = \(userID) AND seq > \(seq ?? 0) ORDER BY seq", logger: logger)
            for try await (seq, article, horizon) in rows.decode((Int64, String, String).self) {
                result.append(CollectedArticle(seq: seq, article: article, horizon: try StoredVector.decode(horizon)))
            }
            return result
        }
    }
}

/// The write side of one transaction on a user's log, with the user's row locked.
struct PostgresLog {
    let connection: PostgresConnection
    let userID: Int64
    let logger: Logger
    var knowledge: VersionVector
    var nextSeq: Int64
    var changed: Set<ReplicaID> = []
    var applied = 0

    init(connection: PostgresConnection, userID: Int64, logger: Logger) async throws {
        self.connection = connection
        self.userID = userID
        self.logger = logger
        var seq: Int64?
        // The lock that serialises every writer of this list, in every process.
        for try await value in try await connection.query("SELECT next_seq FROM rl_user WHERE id = \(userID) FOR UPDATE", logger: logger).decode(Int64.self) {
            seq = value
        }
        guard let seq else { throw ServerError.storage("user \(userID) does not exist") }
        nextSeq = seq
        knowledge = try await Self.knowledge(connection, userID, logger)
    }

    static func knowledge(_ connection: PostgresConnection, _ userID: Int64, _ logger: Logger) async throws -> VersionVector {
        var counters: [ReplicaID: UInt64] = [:]
        let rows = try await connection.query("SELECT replica, counter FROM rl_knowledge WHERE user_id = \(userID)", logger: logger)
        for try await (replica, counter) in rows.decode((String, Int64).self) {
            if let id = ReplicaID(replica) { counters[id] = UInt64(counter) }
        }
        return VersionVector(counters)
    }

    static func knowledge(_ client: PostgresClient, _ userID: Int64, _ logger: Logger) async throws -> VersionVector {
        try await client.withConnection { try await knowledge($0, userID, logger) }
    }

    static func digest(_ client: PostgresClient, _ userID: Int64, _ dot: Dot, _ logger: Logger) async throws -> UInt64? {
        try await client.withConnection { try await digest($0, userID, dot, logger) }
    }

    /// The digest of the change held at `dot`: a live change's, or the one
    /// kept for the top of a replaced range (`nil` where neither is held).
    static func digest(_ connection: PostgresConnection, _ userID: Int64, _ dot: Dot, _ logger: Logger) async throws -> UInt64? {
        let counter = Int64(dot.counter)
        let rows = try await connection.query(
            "SELECT replica, counter, entity_type, entity_id, field, value, context, hlc FROM rl_change WHERE user_id = \(userID) AND replica = \(dot.replica.rawValue) AND counter = \(counter)",
            logger: logger)
        for try await row in rows.decode((String, Int64, String, String, String, String, String, Int64).self) {
            return try change(row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7).digest
        }
        let ranges = try await connection.query(
            "SELECT digest FROM rl_replaced WHERE user_id = \(userID) AND replica = \(dot.replica.rawValue) AND to_counter = \(counter)", logger: logger)
        for try await digest in ranges.decode(Int64.self) { return UInt64(bitPattern: digest) }
        return nil
    }

    static func change(
        _ replica: String, _ counter: Int64, _ type: String, _ id: String, _ field: String, _ value: String, _ context: String, _ hlc: Int64
    ) throws -> Change {
        guard let replicaID = ReplicaID(replica) else { throw ServerError.storage("corrupt replica id in rl_change") }
        let decoded: JSONValue
        do { decoded = try JSONDecoder().decode(JSONValue.self, from: Data(value.utf8)) } catch { throw ServerError.storage("corrupt value in rl_change") }
        return Change(
            dot: Dot(replicaID, UInt64(counter)), entity: EntityRef(type: type, id: id), field: field, value: decoded,
            context: try StoredVector.decode(context), hlc: HLC(rawValue: UInt64(bitPattern: hlc)))
    }

    func changes(_ query: PostgresQuery) async throws -> [Change] {
        var result: [Change] = []
        let rows = try await connection.query(query, logger: logger)
        for try await row in rows.decode((String, Int64, String, String, String, String, String, Int64).self) {
            result.append(try Self.change(row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7))
        }
        return result
    }

    func liveChanges(ofArticle id: ArticleID) async throws -> [Change] {
        try await changes(
            "SELECT replica, counter, entity_type, entity_id, field, value, context, hlc FROM rl_change WHERE user_id = \(userID) AND article_id = \(id.rawValue)")
    }

    mutating func takeSeq() -> Int64 {
        defer { nextSeq += 1 }
        return nextSeq
    }

    mutating func apply(_ change: Change) async throws {
        knowledge[change.dot.replica] = change.dot.counter
        changed.insert(change.dot.replica)
        let outcome = LogRules.integrate(change, siblings: try await changes(
            "SELECT replica, counter, entity_type, entity_id, field, value, context, hlc FROM rl_change WHERE user_id = \(userID) AND entity_type = \(change.entity.type) AND entity_id = \(change.entity.id) AND field = \(change.field)"))
        for old in outcome.replaced { try await forget(old) }
        let seq = takeSeq()
        if outcome.live {
            let counter = Int64(change.dot.counter), hlc = Int64(bitPattern: change.hlc.rawValue)
            let value = change.value.canonicalText, context = StoredVector.encode(change.context), article = change.entity.articleID?.rawValue
            try await connection.query(
                "INSERT INTO rl_change (user_id, replica, counter, seq, entity_type, entity_id, field, value, context, hlc, article_id) VALUES (\(userID), \(change.dot.replica.rawValue), \(counter), \(seq), \(change.entity.type), \(change.entity.id), \(change.field), \(value), \(context), \(hlc), \(article))",
                logger: logger)
            applied += 1
        } else {
            try await addReplaced(change.dot.replica, from: change.dot.counter, to: change.dot.counter, digest: change.digest, seq: seq)
        }
    }

    mutating func apply(_ range: ReplacedRange) async throws {
        knowledge[range.replica] = range.to
        changed.insert(range.replica)
        let seq = takeSeq()
        try await addReplaced(range.replica, from: range.from, to: range.to, digest: range.digest, seq: seq)
    }

    /// Turns a live change into a replaced dot (it was replaced, or collected).
    mutating func forget(_ change: Change) async throws {
        let counter = Int64(change.dot.counter)
        var seq: Int64?
        let rows = try await connection.query(
            "DELETE FROM rl_change WHERE user_id = \(userID) AND replica = \(change.dot.replica.rawValue) AND counter = \(counter) RETURNING seq", logger: logger)
        for try await value in rows.decode(Int64.self) { seq = value }
        let position = seq ?? takeSeq()
        try await addReplaced(change.dot.replica, from: change.dot.counter, to: change.dot.counter, digest: change.digest, seq: position)
    }

    /// Adds `from...to` to the replaced ranges, merged with its neighbours
    /// (``ReplacedRanges/merge(_:below:above:)``): each is read and dropped in one round trip.
    func addReplaced(_ replica: ReplicaID, from: UInt64, to: UInt64, digest: UInt64, seq: Int64) async throws {
        let new = ReplacedRow(from: from, to: to, seq: seq, digest: digest)
        var below: ReplacedRow?, above: ReplacedRow?
        let belowEnd = Int64(ReplacedRanges.belowEnd(of: new)), aboveStart = Int64(ReplacedRanges.aboveStart(of: new))
        let left = try await connection.query(
            "DELETE FROM rl_replaced WHERE user_id = \(userID) AND replica = \(replica.rawValue) AND to_counter = \(belowEnd) RETURNING from_counter, seq, digest",
            logger: logger)
        for try await (from, seq, digest) in left.decode((Int64, Int64, Int64).self) {
            below = ReplacedRow(from: UInt64(from), to: UInt64(belowEnd), seq: seq, digest: UInt64(bitPattern: digest))
        }
        let right = try await connection.query(
            "DELETE FROM rl_replaced WHERE user_id = \(userID) AND replica = \(replica.rawValue) AND from_counter = \(aboveStart) RETURNING to_counter, seq, digest",
            logger: logger)
        for try await (to, seq, digest) in right.decode((Int64, Int64, Int64).self) {
            above = ReplacedRow(from: UInt64(aboveStart), to: UInt64(to), seq: seq, digest: UInt64(bitPattern: digest))
        }
        let merged = ReplacedRanges.merge(new, below: below, above: above)
        let (lower, upper, storedDigest) = (Int64(merged.from), Int64(merged.to), Int64(bitPattern: merged.digest))
        try await connection.query(
            "INSERT INTO rl_replaced (user_id, replica, from_counter, to_counter, seq, digest) VALUES (\(userID), \(replica.rawValue), \(lower), \(upper), \(merged.seq), \(storedDigest))",
            logger: logger)
    }

    func commit() async throws {
        for replica in changed {
            let counter = Int64(knowledge[replica])
            try await connection.query(
                "INSERT INTO rl_knowledge (user_id, replica, counter) VALUES (\(userID), \(replica.rawValue), \(counter)) ON CONFLICT (user_id, replica) DO UPDATE SET counter = excluded.counter",
                logger: logger)
        }
        try await connection.query("UPDATE rl_user SET next_seq = \(nextSeq) WHERE id = \(userID)", logger: logger)
    }
}
