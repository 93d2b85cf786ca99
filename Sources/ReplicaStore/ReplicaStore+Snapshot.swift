import Foundation
import GRDB
import ReadingListModel
import SyncCore

/// Snapshots: a replica's whole state (its live writes, replaced ranges and
/// materialised articles) as one SQLite file, so that an empty replica can
/// start from a copy of the server's instead of applying the list change by
/// change. The copy is consistent (one read transaction of the source) and
/// carries its knowledge, so the replica then pulls exactly what came after it.
extension ReplicaStore {
    /// A snapshot written by ``writeSnapshot(to:)``: where, what it knows, its size.
    package struct Snapshot: Sendable, Hashable {
        package var path: String
        package var knowledge: VersionVector
        package var bytes: Int
    }

    /// Writes a consistent copy of this replica to a new file at `path`
    /// (SQLite's online backup, through a connection of its own, so that
    /// writes to this replica go on meanwhile). Only file replicas have one.
    package func writeSnapshot(to path: String) throws(StoreError) -> Snapshot {
        guard let source = self.path else { throw .invalidOperation("an in-memory replica has no file to copy") }
        guard !FileManager.default.fileExists(atPath: path) else { throw .invalidOperation("'\(path)' already exists") }
        // A store that materialises on demand catches up first (the work then
        // stays done for the next snapshot), and the copy catches up on what
        // was written between the two.
        if !materializes { try catchUpMaterialization() }
        do throws(StoreError) {
            // The copy is scratch until sent: never synced to disk (the page cache
            // holds it; forcing 200 MB per 100k articles to disk was most of a
            // snapshot's time), and without a journal (it is rolled back by removal).
            var scratch = Configuration()
            scratch.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = OFF")
                try db.execute(sql: "PRAGMA journal_mode = OFF")
            }
            try mapErrors {
                var configuration = Configuration()
                configuration.busyMode = .timeout(10)
                let reader = try DatabaseQueue(path: source, configuration: configuration)
                defer { try? reader.close() }
                let copy = try DatabaseQueue(path: path, configuration: scratch)
                defer { try? copy.close() }
                try reader.backup(to: copy)
            }
            let copy: ReplicaStore = try mapErrors {
                try ReplicaStore(writer: DatabaseQueue(path: path, configuration: scratch), path: path, now: now, materializes: false, walMode: false)
            }
            let knowledge: VersionVector
            do throws(StoreError) {
                if !materializes { try copy.catchUpMaterialization() }
                knowledge = try copy.knowledge()
            } catch {
                try? copy.close()
                throw error
            }
            try copy.close()
            guard let bytes = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue, bytes > 0 else {
                throw StoreError.database("the snapshot '\(path)' has no size")
            }
            return Snapshot(path: path, knowledge: knowledge, bytes: bytes)
        } catch {
            Self.removeFiles(at: path)
            throw error
        }
    }

    /// Removes a database file and the journal, write-ahead log and shared
    /// memory files SQLite keeps beside it (a scratch copy, a failed download).
    package static func removeFiles(at path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Whether this replica holds nothing at all: it knows no change, holds
    /// no live write, replaced range or article (a snapshot may fill it).
    package func isEmpty() throws(StoreError) -> Bool {
        try read { db in try Self.isEmpty(db) }
    }

    static func isEmpty(_ db: Database) throws -> Bool {
        try LogTransaction.readKnowledge(db).counters.isEmpty
            && Bool.fetchOne(db, sql: "SELECT 1 FROM change_log LIMIT 1") == nil
            && Bool.fetchOne(db, sql: "SELECT 1 FROM replaced_range LIMIT 1") == nil
            && Bool.fetchOne(db, sql: "SELECT 1 FROM article LIMIT 1") == nil
    }

    /// Makes a new replica at `path` from a downloaded snapshot file, which
    /// it moves there: the replica gets an identity of its own, knows what
    /// the snapshot holds, and remembers `partner` (the server) as having it.
    /// Refuses when `path` exists (use ``adoptSnapshot(_:partner:expecting:)`` on an
    /// empty replica). The file is checked, changed and closed before it
    /// takes the replica's name in one rename: a crash leaves either no
    /// replica or the whole one.
    package static func createFromSnapshot(
        _ snapshot: String, at path: String, partner: String, expecting expected: VersionVector? = nil,
        now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock
    ) throws(StoreError) -> ReplicaStore {
        guard !FileManager.default.fileExists(atPath: path) else { throw .invalidOperation("'\(path)' already exists") }
        try checkWhole(snapshot)
        // Opening checks the format and the schema version (and migrates an older one).
        let copy = try open(path: snapshot, create: false, now: now, materializes: false)
        var generator = SystemRandomNumberGenerator()
        let id = ReplicaID.random(using: &generator)
        do {
            try copy.mapErrors {
                try copy.writer.write { db in
                    let knowledge = try Self.checkedSnapshotKnowledge(db, expecting: expected)
                    try Meta.set("replica_id", id.rawValue, db)
                    // (A pass the source left unfinished is finished by this replica: its owner was another machine's process.)
                    try Meta.set(PendingMaterialization.ownerKey, nil, db)
                    // (The source's catch-up mark means nothing here: a replica materialises every write.)
                    try Meta.set(Self.materializedSeqKey, nil, db)
                    try db.execute(sql: "DELETE FROM sync_partner")
                    try db.execute(sql: "DELETE FROM replica_meta WHERE key LIKE 'setting.%'")
                    try Self.rememberSnapshot(partner: partner, knowledge: knowledge, time: now(), db)
                }
            }
        } catch {
            try? copy.close()
            throw error
        }
        try copy.close()
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: snapshot + suffix) {
            // A connection elsewhere kept the write-ahead log: the file alone is not the replica.
            if suffix == "-wal", ((try? FileManager.default.attributesOfItem(atPath: snapshot + suffix)[.size]) as? NSNumber)?.intValue ?? 0 > 0 {
                throw .invalidOperation("the snapshot '\(snapshot)' is still open elsewhere")
            }
            try? FileManager.default.removeItem(atPath: snapshot + suffix)
        }
        // A write-ahead log left by a replica that was here before would be replayed onto this one.
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            guard !FileManager.default.fileExists(atPath: path) else { break }
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
        try durablyMove(snapshot, to: path)
        return try open(path: path, create: false, now: now)
    }

    /// Fills this replica, which must be empty (``isEmpty()``), from a
    /// snapshot file, in one transaction, keeping its identity. Returns false,
    /// changing nothing, when the replica holds something by then.
    @discardableResult
    package func adoptSnapshot(_ snapshot: String, partner: String, expecting expected: VersionVector? = nil) throws(StoreError) -> Bool {
        // Checked and brought to this schema version first, through a connection of its own.
        try Self.checkWhole(snapshot)
        let copy = try Self.open(path: snapshot, create: false, now: now, materializes: false)
        let read: (VersionVector, String?, String?, String?, String?)
        do {
            read = try copy.read { db in
                (
                    try Self.checkedSnapshotKnowledge(db, expecting: expected), try Meta.get("hlc", db), try Meta.get("seq", db),
                    try Meta.get(PendingMaterialization.key, db), try Meta.get(SearchIndex.rulesKey, db)
                )
            }
        } catch {
            try? copy.close()
            throw error
        }
        try copy.close()
        let (knowledge, clock, seq, pending, rules) = read
        // This replica's own changes known elsewhere (a copied or restored file):
        // taking them as its own would write the next ones under dots in use.
        if knowledge[replicaID] > 0 {
            throw .sync(.replicaBehindItself(replica: replicaID, itsOwnCounter: 0, seenElsewhere: knowledge[replicaID]))
        }
        let time = now()
        return try mapErrors {
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS snapshot", arguments: [snapshot])
                defer { try? db.execute(sql: "DETACH DATABASE snapshot") }
                var adopted = false
                try db.inTransaction(.immediate) {
                    guard try Self.isEmpty(db) else { return .rollback }
                    // Tables of the same shape, copied whole into empty ones: SQLite copies the records (and index entries) as they are.
                    for table in ["change_log", "replaced_range", "article", "article_tag", "article_text"] {
                        try db.execute(sql: "INSERT INTO main.\(table) SELECT * FROM snapshot.\(table)")
                    }
                    // The search index, from the text rows just copied.
                    try SearchIndex.rebuild(db)
                    try Meta.set("knowledge", knowledge.compactText, db)
                    let ownClock = try Meta.get("hlc", db).flatMap(Int64.init) ?? 0
                    try Meta.set("hlc", String(max(ownClock, clock.flatMap(Int64.init) ?? 0)), db)
                    if let seq { try Meta.set("seq", seq, db) }
                    if let pending { try Meta.set(PendingMaterialization.key, pending, db) }
                    // The text rows are the snapshot's, derived under its rules: re-derived
                    // (``rederiveReadableText``) unless it says they are this version's.
                    try Meta.set(SearchIndex.rulesKey, rules, db)
                    try Self.rememberSnapshot(partner: partner, knowledge: knowledge, time: time, db)
                    adopted = true
                    return .commit
                }
                return adopted
            }
        }
    }

    /// Refuses a file cut short (a download that stopped early): an SQLite
    /// file's header says how many pages it has, when the header is current.
    static func checkWhole(_ file: String) throws(StoreError) {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw .missingFile(path: file) }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw .notAReplica(path: file, reason: "not an SQLite database")
        }
        func word(_ at: Int) -> Int { header[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let rawPageSize = Int(header[16]) << 8 | Int(header[17])
        let pageSize = rawPageSize == 1 ? 65_536 : rawPageSize
        let pages = word(28)
        // (The page count is valid when the change counter matches the version-valid-for number.)
        guard pages > 0, word(24) == word(92) else { return }
        let size = ((try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? NSNumber)?.intValue ?? 0
        guard size >= pages * pageSize else {
            throw .notAReplica(path: file, reason: "cut short: \(size) of \(pages * pageSize) bytes")
        }
    }

    /// A snapshot's knowledge, after checking the snapshot is one a replica
    /// can start from: made by a replica that never wrote (a server's copy),
    /// its knowledge covering every live write and replaced range it holds,
    /// and equal to what its sender announced (`expected`), when given.
    static func checkedSnapshotKnowledge(_ db: Database, expecting expected: VersionVector? = nil) throws -> VersionVector {
        let knowledge = try LogTransaction.readKnowledge(db)
        if let expected, expected != knowledge {
            throw StoreError.invalidOperation("the snapshot holds \(knowledge.compactText), not the \(expected.compactText) its sender announced")
        }
        let source = try Meta.get("replica_id", db).flatMap(ReplicaID.init)
        if try source.map({ knowledge[$0] > 0 }) ?? true || Bool.fetchOne(db, sql: "SELECT 1 FROM own_digest LIMIT 1") == true {
            throw StoreError.invalidOperation("the snapshot is a replica that wrote changes itself, not a server's copy")
        }
        for row in try ReplicaCounterRow.fetchAll(db, sql: """
            SELECT replica, max(counter) AS counter FROM change_log GROUP BY replica
            UNION ALL SELECT replica, max(to_counter) FROM replaced_range GROUP BY replica
            """) {
            guard let replica = ReplicaID(row.replica), UInt64(max(0, row.counter)) <= knowledge[replica] else {
                throw StoreError.invalidOperation("the snapshot holds changes beyond its knowledge")
            }
        }
        return knowledge
    }

    static func rememberSnapshot(partner: String, knowledge: VersionVector, time: Int64, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO sync_partner (name, replica, knowledge, last_sync) VALUES (?, NULL, ?, ?)
                ON CONFLICT (name) DO UPDATE SET replica = NULL, knowledge = excluded.knowledge, last_sync = excluded.last_sync
                """,
            arguments: [partner, LogTransaction.encode(knowledge), time])
    }

    /// Renames `source` to `target` (which must not exist) and makes the rename durable.
    static func durablyMove(_ source: String, to target: String) throws(StoreError) {
        let file = Foundation.open(source, O_RDONLY)
        if file >= 0 {
            _ = fsync(file)
            _ = Foundation.close(file)
        }
        // link fails when the target exists: never replaces a replica that appeared meanwhile.
        if link(source, target) == 0 {
            unlink(source)
        } else {
            let failure = errno
            // A file system without hard links: a rename, the target checked just before.
            guard failure != EEXIST, !FileManager.default.fileExists(atPath: target), rename(source, target) == 0 else {
                throw .invalidOperation("cannot create '\(target)': \(String(cString: strerror(failure == EEXIST ? failure : errno)))")
            }
        }
        let folder = (target as NSString).deletingLastPathComponent
        let directory = Foundation.open(folder.isEmpty ? "." : folder, O_RDONLY)
        if directory >= 0 {
            _ = fsync(directory)
            _ = Foundation.close(directory)
        }
    }
}

extension ReplicaStore {
    /// The last `seq` of the log whose articles are materialised (a store
    /// that does not materialise on every write: a server's copy).
    static let materializedSeqKey = "materialized_seq"
    /// Past this many new log rows, a catch-up goes through every article in
    /// id order (each page of the id index written once) rather than one by one.
    static let catchUpByPassRows: Int64 = 20_000

    /// Whether catching up would be long: a pass under way or interrupted, or
    /// more than `catchUpByPassRows` log sequence numbers past the mark (a
    /// bulk push). A snapshot is then not made while the client waits.
    package func needsLongCatchUp() throws(StoreError) -> Bool {
        try read { db in
            if try Meta.get(PendingMaterialization.key, db) != nil { return true }
            let (top, since) = try Self.catchUpLag(db)
            return top - (since ?? 0) > Self.catchUpByPassRows
        }
    }

    /// The log's last sequence number, and the catch-up mark (nil: never caught up).
    static func catchUpLag(_ db: Database) throws -> (top: Int64, since: Int64?) {
        (try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log") ?? 0, try Meta.get(Self.materializedSeqKey, db).flatMap(Int64.init))
    }

    /// Articles catch up by chunks of this many, a transaction each.
    static let catchUpChunk = 256

    /// The delta catch-up: articles with log rows above the mark, a chunk per
    /// transaction, each moving the mark to the last row it covered (rows
    /// written meanwhile are above it: the next chunk or catch-up has them).
    private func catchUpArticles(while proceed: () -> Bool) throws(StoreError) -> Int {
        var done = 0
        while proceed() {
            let step: Int? = try mapErrors {
                try writer.write { db -> Int? in
                    let since = try Meta.get(Self.materializedSeqKey, db).flatMap(Int64.init) ?? 0
                    // The next rows in log order, up to a chunk's worth of articles.
                    let rows = try LogArticleRow.fetchAll(
                        db.cachedStatement(sql: "SELECT seq, article_id FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?"),
                        arguments: [since, Self.catchUpChunk * 4])
                    guard !rows.isEmpty else { return nil }
                    var ids = Set<String>()
                    var mark = since
                    for row in rows {
                        if let id = row.articleID {
                            if ids.count == Self.catchUpChunk && !ids.contains(id) { break }
                            ids.insert(id)
                        }
                        mark = row.seq
                    }
                    var inserts = RawInserts(db)
                    for text in ids.sorted() {
                        let id = try ArticleID(validating: text)
                        try Materializer.write(Materializer.prepare(id, changes: LogTransaction.liveChanges(ofArticle: id, db)), &inserts)
                    }
                    try inserts.notifyObservers()
                    try Meta.set(Self.materializedSeqKey, String(mark), db)
                    return ids.count
                }
            }
            guard let step else { return done }
            done += step
        }
        return done
    }

    /// For a store that does not materialise on every write (a sync server's
    /// copy of a list): materialises the articles written since the last
    /// catch-up, so that the article table agrees with the log up to its last
    /// row (a snapshot must hold the articles). The first catch-up, or one
    /// after a bulk push, goes through every article. Returns the articles
    /// materialised. (Garbage collection drops forgotten articles itself.)
    /// `proceed` is asked before each chunk (a transaction): false stops
    /// there, and the next call goes on from the mark.
    @discardableResult
    package func catchUpMaterialization(while proceed: () -> Bool = { true }) throws(StoreError) -> Int {
        // A pass that stopped (a crash) finishes first: the mark says where it was.
        var done = try materializePending(while: proceed)
        guard proceed() else { return done }
        enum Plan { case none, byArticle, byPass }
        let plan: Plan = try mapErrors {
            try writer.write { db -> Plan in
                let (top, since) = try Self.catchUpLag(db)
                if let since {
                    if since >= top { return .none }
                    if top - since <= Self.catchUpByPassRows { return .byArticle }
                }
                // Every article, in id order, in resumable chunks, the new mark committed with the pass's.
                try Meta.set(Self.materializedSeqKey, String(top), db)
                try Meta.set(PendingMaterialization.key, "", db)
                try Meta.set(PendingMaterialization.ownerKey, String(getpid()), db)
                return .byPass
            }
        }
        switch plan {
        case .none: break
        case .byArticle: done += try catchUpArticles(while: proceed)
        case .byPass: done += try materializePending(while: proceed)
        }
        return done
    }
}

/// A change_log row's place in the local order and its article (NULL for other entities).
private struct LogArticleRow: FetchableRecord {
    enum Columns {
        static let seq = Column("seq")
        static let articleID = Column("article_id")
    }

    var seq: Int64
    var articleID: String?

    init(row: Row) {
        seq = row[Columns.seq]
        articleID = row[Columns.articleID]
    }
}
