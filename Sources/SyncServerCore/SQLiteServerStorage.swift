import Foundation
import GRDB
import ReplicaStore
import SyncCore
import SyncProtocol
import Synchronization

/// The embedded server storage: users and tokens in one SQLite file, and each
/// user's change log in a file of its own next to it (`NAME.spaces/ID.sqlite`),
/// so no query can reach another user's list.
public final class SQLiteServerStorage: ServerStorage {
    let users: DatabasePool
    /// The per-sync bookkeeping writes, committed in groups.
    let bookkeeping: GroupCommit
    let spacesFolder: String
    /// Snapshots being sent (each removed once sent; the folder is emptied when the server starts).
    let snapshotsFolder: String
    let now: @Sendable () -> Int64
    /// The server's identity (32 hex digits), kept in the database.
    public let serverID: String
    private let spaces = Mutex<[Int64: SQLiteSpace]>([:])

    /// Opens (creating) the server database at `path`.
    public init(path: String, now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock) throws(ServerError) {
        self.now = now
        spacesFolder = path + ".spaces"
        snapshotsFolder = spacesFolder + "/snapshots"
        do {
            // A database in a folder that does not exist is a typo: refused, no folder made.
            let folder = (path as NSString).deletingLastPathComponent
            var isFolder: ObjCBool = false
            if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue {
                throw ServerError.invalidAdminRequest("no folder '\(folder)' for the server database '\(path)'; create it first")
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            // Validated through a plain connection first, so that a file which is
            // not a server database is refused before anything changes it.
            let check = try DatabaseQueue(path: path, configuration: configuration)
            try check.read { db in
                if try db.tableExists("server_meta") {
                    let format = try String.fetchOne(db, sql: "SELECT value FROM server_meta WHERE key = 'format'")
                    guard format == "readinglist-server" else { throw ServerError.invalidAdminRequest("'\(path)' is not a readinglist server database") }
                    let version = Int(try String.fetchOne(db, sql: "SELECT value FROM server_meta WHERE key = 'schema_version'") ?? "0") ?? 0
                    if version > 2 {
                        throw ServerError.invalidAdminRequest("'\(path)' was written by a newer readinglist-server (schema \(version)); upgrade to open it")
                    }
                } else if (try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0) > 0 {
                    throw ServerError.invalidAdminRequest("'\(path)' is not a readinglist server database")
                }
            }
            try check.close()
            // The lists' folder, once the database is known to be a server's (a refused file leaves nothing behind).
            try FileManager.default.createDirectory(atPath: spacesFolder, withIntermediateDirectories: true)
            // Snapshots a stopped server was sending are of no use now.
            try? FileManager.default.removeItem(atPath: snapshotsFolder)
            try FileManager.default.createDirectory(atPath: snapshotsFolder, withIntermediateDirectories: true)
            // A pool: the users' bookkeeping is read concurrently (token checks,
            // horizons) while one write goes on. It keeps SQLite's FULL synchronous
            // mode: the space files are durable, so the records of what was
            // collected from them, and of the replicas that hold collection back,
            // must be too.
            users = try DatabasePool(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE server_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    INSERT INTO server_meta VALUES ('format', 'readinglist-server'), ('schema_version', '1');
                    CREATE TABLE user (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        token_hash TEXT NOT NULL UNIQUE,
                        created_at INTEGER NOT NULL,
                        revoked_at INTEGER
                    );
                    CREATE TABLE collected (
                        seq INTEGER PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES user (id),
                        article TEXT NOT NULL,
                        horizon TEXT NOT NULL,
                        at INTEGER NOT NULL
                    );
                    CREATE INDEX collected_user ON collected (user_id, seq);
                    CREATE TABLE replica (
                        user_id INTEGER NOT NULL REFERENCES user (id),
                        replica TEXT NOT NULL,
                        knowledge TEXT NOT NULL,
                        last_seen INTEGER NOT NULL,
                        PRIMARY KEY (user_id, replica)
                    );
                    """)
            }
            migrator.registerMigration("v2") { db in
                // Collection records are read by cursor (seq > the client's last);
                // without AUTOINCREMENT, pruning the newest rows let a later
                // collection reuse a seq a client had already passed.
                try db.execute(sql: """
                    CREATE TABLE collected_v2 (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        user_id INTEGER NOT NULL REFERENCES user (id),
                        article TEXT NOT NULL,
                        horizon TEXT NOT NULL,
                        at INTEGER NOT NULL
                    );
                    INSERT INTO collected_v2 (seq, user_id, article, horizon, at) SELECT seq, user_id, article, horizon, at FROM collected;
                    DROP TABLE collected;
                    ALTER TABLE collected_v2 RENAME TO collected;
                    CREATE INDEX collected_user ON collected (user_id, seq);
                    UPDATE server_meta SET value = '2' WHERE key = 'schema_version';
                    """)
            }
            try migrator.migrate(users)
            // The server's identity, drawn once (older databases get theirs now): replicas bind to it.
            var generator = SystemRandomNumberGenerator()
            let fresh = ReplicaID.random(using: &generator).rawValue
            serverID = try users.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO server_meta (key, value) VALUES ('server_id', ?)", arguments: [fresh])
                return try String.fetchOne(db, sql: "SELECT value FROM server_meta WHERE key = 'server_id'") ?? fresh
            }
            bookkeeping = GroupCommit(users)
        } catch let error as ServerError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw .invalidAdminRequest("'\(path)' is not a readinglist server database (not SQLite)")
        } catch {
            throw .storage("\(path): \(error)")
        }
    }

    /// Creates a user whose bearer token hashes to `tokenHash` (``Tokens/hash(_:)``).
    public func addUser(name: String, tokenHash: String) async throws(ServerError) -> ServerUser {
        let time = now()
        return try await offload { [users] in
            try users.write { db in
                // Names are unique whatever their case ('alice' and 'Alice' would be two people's lists).
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM user WHERE lower(name) = lower(?)", arguments: [name]) == true {
                    throw ServerError.invalidAdminRequest("user '\(name)' already exists")
                }
                try db.execute(
                    sql: "INSERT INTO user (name, token_hash, created_at) VALUES (?, ?, ?)", arguments: [name, tokenHash, time])
                return ServerUser(id: db.lastInsertedRowID, name: name, createdAt: time)
            }
        }
    }

    /// Every user, revoked ones included.
    public func users() async throws(ServerError) -> [ServerUser] {
        try await offload { [users] in
            try users.read { db in
                try UserRow.fetchAll(db, sql: "SELECT \(UserRow.columns) FROM user ORDER BY name").map(\.user)
            }
        }
    }

    /// Revokes a user's token (their list stays stored); false when there is no such active user.
    public func revokeUser(name: String) async throws(ServerError) -> Bool {
        let time = now()
        return try await offload { [users] in
            try users.write { db in
                try db.execute(sql: "UPDATE user SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [time, name])
                return db.changesCount > 0
            }
        }.announcingTokens(to: tokenEventsPath)
    }

    /// Gives a user a new token (a revoked user is active again); false when there is no such user.
    public func replaceToken(name: String, tokenHash: String) async throws(ServerError) -> Bool {
        try await offload { [users] in
            try users.write { db in
                try db.execute(sql: "UPDATE user SET token_hash = ?, revoked_at = NULL WHERE name = ?", arguments: [tokenHash, name])
                return db.changesCount > 0
            }
        }.announcingTokens(to: tokenEventsPath)
    }

    /// Written after every token revoked or replaced (by this process or an
    /// admin command): the serving process watches it to close the push
    /// channels of tokens that no longer work.
    var tokenEventsPath: String { spacesFolder + "/tokens-changed" }

    /// Inline, as the other reads of the shared database: it is a pool in WAL
    /// mode, whose readers never wait for its writer or a flush, only for a
    /// free connection, which other reads of a few rows hold.
    public func user(tokenHash: String) async throws(ServerError) -> ServerUser? {
        try inline { [users] in
            try users.readOneStatement { db in
                try UserRow.fetchOne(
                    db.cachedStatement(sql: "SELECT \(UserRow.columns) FROM user WHERE token_hash = ? AND revoked_at IS NULL"), arguments: [tokenHash]
                )?.user
            }
        }
    }

    /// The change log of `user`'s list (a replica file of its own).
    public func space(for user: ServerUser) async throws(ServerError) -> any SyncSpace {
        if let space = spaces.withLock({ $0[user.id] }) { return space }
        let path = "\(spacesFolder)/\(user.id).sqlite"
        let now = now
        let users = users, bookkeeping = bookkeeping
        let opened: SQLiteSpace = try await offload {
            // Articles are materialised on demand (a snapshot), not on every write.
            let store = try ReplicaStore.open(path: path, create: true, now: now, materializes: false, cacheMiB: 8)
            return SQLiteSpace(
                store: store, lane: BlockingPool.Lane(), userID: user.id, users: users, bookkeeping: bookkeeping,
                upkeep: MaterializationUpkeep(store))
        }
        return spaces.withLock { spaces in
            if let existing = spaces[user.id] { return existing }
            spaces[user.id] = opened
            return opened
        }
    }

    /// A consistent copy of `user`'s list for a new replica to start from.
    public func snapshot(for user: ServerUser) async throws(ServerError) -> ServerSnapshot? {
        guard let space = try await space(for: user) as? SQLiteSpace else { return nil }
        // A list pushed in bulk is materialised in the background first: the
        // client is told to come back rather than kept waiting in silence.
        if try await offload(on: space.lane, { try space.store.needsLongCatchUp() }) {
            space.upkeep.catchUpNow()
            throw .refused(.unavailable, "the list is being prepared for a snapshot; retry in a few seconds, or sync page by page")
        }
        // Each copy reads the whole list, writes it to disk and is sent: a few at a time.
        guard snapshotSlots.take(upTo: Self.concurrentSnapshots) else {
            throw .refused(.unavailable, "\(Self.concurrentSnapshots) snapshots are being sent; retry later, or sync page by page")
        }
        let slots = snapshotSlots
        let release: @Sendable () -> Void = { slots.release() }
        let path = "\(snapshotsFolder)/\(user.id)-\(UUID().uuidString).sqlite"
        do throws(ServerError) {
            // The file system calls too, on the blocking pool (not the cooperative one).
            let (copy, file) = try await offload { () throws -> (ReplicaStore.Snapshot, FileHandle) in
                do {
                    let copy = try space.store.writeSnapshot(to: path)
                    // Open, then out of the folder: the file lives until it is sent or the response is dropped.
                    let file = FileHandle(forReadingAtPath: copy.path)
                    try? FileManager.default.removeItem(atPath: copy.path)
                    guard let file else { throw ServerError.storage("the snapshot \(copy.path) could not be opened") }
                    return (copy, file)
                } catch {
                    try? FileManager.default.removeItem(atPath: path)
                    throw error
                }
            }
            return ServerSnapshot(knowledge: copy.knowledge, bytes: copy.bytes, file: file, release: release)
        } catch {
            release()
            throw error
        }
    }

    /// How many snapshots are made and sent at once (each reads a whole list and keeps a copy until sent).
    static let concurrentSnapshots = 2
    private let snapshotSlots = Slots()

    /// A count of things under way, bounded by the caller.
    final class Slots: Sendable {
        private let count = Mutex(0)

        func take(upTo limit: Int) -> Bool {
            count.withLock { count in
                guard count < limit else { return false }
                count += 1
                return true
            }
        }

        func release() { count.withLock { $0 -= 1 } }
    }

    /// Closes the database and every open list.
    public func close() async {
        let all = spaces.withLock { spaces in
            defer { spaces.removeAll() }
            return Array(spaces.values)
        }
        for space in all {
            await space.upkeep.stop()
            try? await offload(on: space.lane) { try space.store.close() }
        }
        try? users.close()
    }
}

/// One user's list: a replica file (log and materialised articles) the server never writes local changes to.
struct SQLiteSpace: SyncSpace {
    let store: ReplicaStore
    /// The calls on `store`, one at a time (see below).
    let lane: BlockingPool.Lane
    let userID: Int64
    let users: DatabasePool
    let bookkeeping: GroupCommit
    let upkeep: MaterializationUpkeep

    // The list is one connection, which a write holds until it is on disk
    // (a push and its fsync, a catch-up chunk, a collection): a read of a few
    // microseconds may wait that long for it. So reads go where the writes
    // go, to the blocking pool, never waiting on a thread of the cooperative
    // one (two of them blocked there stall every request), and through the
    // list's lane, so that the requests waiting for a held list wait holding
    // no thread. (The background catch-up and a snapshot's copy, long and
    // chunked, go straight to the pool: a request waits for a chunk, not for
    // all of them.)
    func knowledge() async throws(ServerError) -> VersionVector { try await offload(on: lane) { try store.knowledge() } }
    func heads() async throws(ServerError) -> [ForkCheck.Head] { try await offload(on: lane) { try store.heads() } }
    func digest(at dot: Dot) async throws(ServerError) -> UInt64? { try await offload(on: lane) { try store.digest(at: dot) } }
    func apply(_ entries: [LogEntry]) async throws(ServerError) -> ApplyResult {
        let result = try await offload(on: lane) { try store.apply(entries) }
        upkeep.wrote(result.appliedChanges)
        return result
    }

    func knowledgeAndDigests(at dots: [Dot]) async throws(ServerError) -> (knowledge: VersionVector, digests: [UInt64?]) {
        try await offload(on: lane) { try store.knowledgeAndDigests(at: dots) }
    }

    func outgoingAndHeads(for knowledge: VersionVector, limit: Int) async throws(ServerError) -> (entries: [LogEntry], heads: [ForkCheck.Head]) {
        try await offload(on: lane) { try store.outgoingAndHeads(for: knowledge, limit: limit) }
    }

    func outgoing(for knowledge: VersionVector, limit: Int) async throws(ServerError) -> [LogEntry] {
        try await offload(on: lane) { try store.outgoing(for: knowledge, limit: limit) }
    }

    func recordReplica(_ replica: ReplicaID, acknowledged: VersionVector?, at time: Int64) async throws(ServerError) {
        let text = acknowledged.map(StoredVector.encode)
        try await bookkeeping.write { [userID] db in
            if let text {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO replica (user_id, replica, knowledge, last_seen) VALUES (?, ?, ?, ?)
                        ON CONFLICT (user_id, replica) DO UPDATE SET knowledge = excluded.knowledge, last_seen = excluded.last_seen
                        """
                ).execute(arguments: [userID, replica.rawValue, text, time])
            } else {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO replica (user_id, replica, knowledge, last_seen) VALUES (?, ?, '', ?)
                        ON CONFLICT (user_id, replica) DO UPDATE SET last_seen = excluded.last_seen
                        """
                ).execute(arguments: [userID, replica.rawValue, time])
            }
        }
    }

    func lastSeen(_ replica: ReplicaID) async throws(ServerError) -> Int64? {
        try inline { [users, userID] in
            try users.readOneStatement { db in
                try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_seen FROM replica WHERE user_id = ? AND replica = ?"), arguments: [userID, replica.rawValue])
            }
        }
    }

    func registerReplicas(_ replicas: [ReplicaID], at time: Int64) async throws(ServerError) {
        guard !replicas.isEmpty else { return }
        try await bookkeeping.write { [userID] db in
            for replica in replicas {
                try db.cachedStatement(sql: "INSERT INTO replica (user_id, replica, knowledge, last_seen) VALUES (?, ?, '', ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [userID, replica.rawValue, time])
            }
        }
    }

    func horizon(activeSince: Int64) async throws(ServerError) -> VersionVector {
        try inline { [users, userID] in
            let acks = try users.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT knowledge FROM replica WHERE user_id = ? AND last_seen >= ?"), arguments: [userID, activeSince])
            }
            return try StoredVector.minimum(acks.map(StoredVector.decode))
        }
    }

    func settle(activeSince: Int64, at time: Int64, keepSince: Int64, collectedAfter: Int64?) async throws(ServerError) -> Settlement {
        // Nearly every sync: no deleted article waits and nothing expired. One
        // read of the shared database (horizon, expiry, collections; on this
        // thread, as its other reads) and one of the list tell, without
        // opening a write.
        let (acks, expired, collections) = try inline { [users, userID] in
            try users.read { db in
                (try String.fetchAll(
                    db.cachedStatement(sql: "SELECT knowledge FROM replica WHERE user_id = ? AND last_seen >= ?"), arguments: [userID, activeSince]),
                 try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT 1 FROM collected WHERE user_id = ? AND at < ? LIMIT 1"), arguments: [userID, keepSince]) ?? false,
                 try Self.collections(after: collectedAfter, userID: userID, db))
            }
        }
        let horizon = try inline { try StoredVector.minimum(acks.map(StoredVector.decode)) }
        if !expired, try await offload(on: lane, { [store] in try !store.holdsDeletes() }) {
            return Settlement(horizon: horizon, collectedNow: 0, collections: collections)
        }
        let collected = try await collectGarbage(horizon: horizon, at: time, keepSince: keepSince)
        return Settlement(horizon: horizon, collectedNow: collected, collections: try await self.collections(after: collectedAfter))
    }

    func collectGarbage(horizon: VersionVector, at time: Int64, keepSince: Int64) async throws(ServerError) -> Int {
        let text = StoredVector.encode(horizon)
        // The list's lane for the list only: its next requests need not wait for the shared database's write.
        let collected = try await offload(on: lane) { [store] in try store.collectGarbage(horizon: horizon) }
        return try await offload { [users, userID] in
            // Nothing collected and nothing expired (nearly every sync): no write on the shared database.
            let expired = try users.read { db in
                try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT 1 FROM collected WHERE user_id = ? AND at < ? LIMIT 1"), arguments: [userID, keepSince]) ?? false
            }
            if !collected.isEmpty || expired {
                try users.write { db in
                    for article in collected {
                        try db.execute(
                            sql: "INSERT INTO collected (user_id, article, horizon, at) VALUES (?, ?, ?, ?)",
                            arguments: [userID, article.rawValue, text, time])
                    }
                    try db.execute(sql: "DELETE FROM collected WHERE user_id = ? AND at < ?", arguments: [userID, keepSince])
                }
            }
            return collected.count
        }
    }

    func collections(after seq: Int64?) async throws(ServerError) -> [CollectedArticle] {
        try inline { [users, userID] in try users.read { db in try Self.collections(after: seq, userID: userID, db) } }
    }

    static func collections(after seq: Int64?, userID: Int64, _ db: Database) throws -> [CollectedArticle] {
        try CollectedRow.fetchAll(
            db.cachedStatement(sql: "SELECT seq, article, horizon FROM collected WHERE user_id = ? AND seq > ? ORDER BY seq"),
            arguments: [userID, seq ?? 0]
        ).map { CollectedArticle(seq: $0.seq, article: $0.article, horizon: try StoredVector.decode($0.horizon)) }
    }
}

/// Runs a short database read on the calling thread, mapping errors to
/// ``ServerError``: only where nothing it waits for is held long (the
/// shared database's readers; not a list, whose connection a write holds).
func inline<T>(_ body: () throws -> T) throws(ServerError) -> T {
    do {
        return try body()
    } catch let error as ServerError {
        throw error
    } catch let error as StoreError {
        throw ServerError(error)
    } catch {
        throw .storage("\(error)")
    }
}

/// Runs blocking SQLite work (a write that waits for fsync, anything on a
/// connection such a write holds) off the cooperative thread pool, with
/// `inline`'s error mapping; with a `lane`, after that lane's earlier work.
package func offload<T: Sendable>(
    on lane: BlockingPool.Lane? = nil, _ body: @escaping @Sendable () throws -> T
) async throws(ServerError) -> T {
    let result: Result<T, ServerError> = await withCheckedContinuation { continuation in
        let work: @Sendable () -> Void = {
            continuation.resume(returning: Result { () throws(ServerError) -> T in try inline(body) })
        }
        if let lane { lane.submit(work) } else { BlockingPool.shared.submit(work) }
    }
    return try result.get()
}

/// Keeps a list's materialised articles nearly current, off the write path:
/// once enough changes arrived and writes have paused, it catches up in the
/// background (``ReplicaStore/catchUpMaterialization()``), so that a snapshot
/// seldom has much to materialise first. Snapshots stay correct without it:
/// each one catches up on whatever is left.
final class MaterializationUpkeep: Sendable {
    /// Changes written since the last catch-up before one is worth starting.
    static let threshold = 2_000
    /// How long writes must pause first (a bulk push is not chased page by page).
    static let quiet: Duration = .seconds(1)

    private struct State {
        var written = 0
        var lastWrite = ContinuousClock.now
        var scheduled = false
        /// A snapshot is waiting: no quiet period first.
        var urgent = false
        /// The storage is closing: no catch-up starts, a running one stops after its chunk.
        var stopped = false
        var running: Task<Void, Never>?
    }

    private let store: ReplicaStore
    private let state = Mutex(State())

    init(_ store: ReplicaStore) {
        self.store = store
    }

    func wrote(_ changes: Int) {
        guard changes > 0 else { return }
        let start = state.withLock { state -> Bool in
            state.written += changes
            state.lastWrite = .now
            guard state.written >= Self.threshold, !state.scheduled, !state.stopped else { return false }
            state.scheduled = true
            return true
        }
        if start { run() }
    }

    /// Catches up now (a snapshot waits for it), unless a catch-up is under way.
    func catchUpNow() {
        let start = state.withLock { state -> Bool in
            state.urgent = true
            guard !state.scheduled, !state.stopped else { return false }
            state.scheduled = true
            return true
        }
        if start { run() }
    }

    /// Stops the upkeep before its store closes: waits for a running
    /// catch-up to finish the chunk it is in (the next one, or the next
    /// snapshot, goes on from the mark).
    func stop() async {
        let running = state.withLock { state in
            state.stopped = true
            return state.running
        }
        running?.cancel()
        await running?.value
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func run() {
        // The handle is recorded under the lock the task's end takes too, so
        // stop() always finds a task that may still touch the store.
        state.withLock { current in
            current.running = Task.detached(priority: .background) { [self] in
                while !stopped {
                    let (waited, urgent) = state.withLock { (ContinuousClock.now - $0.lastWrite, $0.urgent) }
                    if urgent || waited >= Self.quiet { break }
                    try? await Task.sleep(for: Self.quiet - waited)
                }
                state.withLock { $0.written = 0 }
                if !stopped {
                    _ = try? await offload { [store, self] in try store.catchUpMaterialization(while: { !self.stopped }) }
                }
                state.withLock {
                    $0.scheduled = false
                    $0.urgent = false
                    $0.running = nil
                }
            }
        }
    }
}

extension DatabasePool {
    /// A read of one statement, which SQLite runs as a transaction of its
    /// own: without the transaction and savepoint GRDB's `read` opens around
    /// it (about a tenth of the server's CPU per sync round trip went to
    /// those for the token check and the replica's last sync).
    func readOneStatement<T>(_ body: (Database) throws -> T) throws -> T {
        try unsafeRead(body)
    }
}

extension Bool {
    /// When true (a token changed), writes the time into `path` (see ``SQLiteServerStorage/tokenEventsPath``).
    fileprivate func announcingTokens(to path: String) -> Bool {
        // Atomically (a rename into the folder): what the server's watch of the folder sees on every platform.
        if self { try? Data("\(Date().timeIntervalSince1970)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic) }
        return self
    }
}

/// A `user` row.
private struct UserRow: FetchableRecord {
    /// The columns a query selects for this record.
    static let columns = "id, name, created_at, revoked_at"

    enum Columns {
        static let id = Column("id")
        static let name = Column("name")
        static let createdAt = Column("created_at")
        static let revokedAt = Column("revoked_at")
    }

    var user: ServerUser

    init(row: Row) {
        user = ServerUser(id: row[Columns.id], name: row[Columns.name], createdAt: row[Columns.createdAt], revokedAt: row[Columns.revokedAt])
    }
}

/// A `collected` row: an article garbage collection forgot, with the horizon it was forgotten at.
private struct CollectedRow: FetchableRecord {
    enum Columns {
        static let seq = Column("seq")
        static let article = Column("article")
        static let horizon = Column("horizon")
    }

    var seq: Int64
    var article: String
    /// As ``StoredVector`` writes it.
    var horizon: String

    init(row: Row) {
        seq = row[Columns.seq]
        article = row[Columns.article]
        horizon = row[Columns.horizon]
    }
}
