import Foundation
import GRDB
import ReadingListModel
import SyncCore
import Synchronization

/// Fault injection for simulations: `beforeEntry(i)` runs inside the
/// transaction that applies an incoming batch, before entry `i`; throwing
/// rolls the whole batch back, exactly as a crash part-way through would.
public struct ReplicaFaults: Sendable {
    package var beforeEntry: @Sendable (Int) throws -> Void

    package init(beforeEntry: @escaping @Sendable (Int) throws -> Void) {
        self.beforeEntry = beforeEntry
    }
}

/// One replica of the reading list: a SQLite database holding the live
/// writes (the change log), this replica's knowledge (version vector), and
/// the materialised articles that queries read.
///
/// Every local edit and every incoming batch is one transaction: a crash
/// leaves the database before or after it, never between.
public final class ReplicaStore: Sendable {
    let writer: any DatabaseWriter
    /// This replica's identity, created with the database. It changes only when the replica rejoins its server after staying away too long (during `ServerSync`), or when ``resetIdentity(path:)`` gives a copied file an identity of its own.
    public var replicaID: ReplicaID { identity.withLock { $0 } }
    let identity: Mutex<ReplicaID>
    /// The database file, or nil for an in-memory replica.
    public let path: String?
    let now: @Sendable () -> Int64
    /// False for a sync server's copy of a list: it keeps the change log only,
    /// without the materialised articles a client queries.
    let materializes: Bool
    /// Test and simulation hook: called before each entry of an incoming
    /// batch is applied; throwing aborts the batch as a crash would.
    let faults: ReplicaFaults?
    /// Whether a deferred apply set the bulk checkpoint interval (restored by the pass).
    let bulkLoading = Mutex(false)
    /// Whether ``mergeURLVariants()`` runs (off only to play a `url-v1` replica in tests).
    let mergesURLVariants = Mutex(true)
    /// How many batches imports wrote as they were built apart
    /// (`importArticles(_:batchSize:batchWritten:)`): for tests and the benchmark.
    package let importBatchesBuiltApart = Mutex(0)

    /// The current wall clock in milliseconds since 1970.
    public static let wallClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Opens (or, with `create`, creates) the replica database at `path`.
    ///
    /// Refuses, without changing the file, anything that is not a replica
    /// database and a replica written by a newer schema version.
    public static func open(
        path: String, create: Bool = true, now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock,
        materializes: Bool = true, faults: ReplicaFaults? = nil, replicaID: ReplicaID? = nil, cacheMiB: Int = 32
    ) throws(StoreError) -> ReplicaStore {
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create { throw .missingFile(path: path) }
        if exists {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw .notAReplica(path: path, reason: "it is a directory")
            }
        }
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            // SQLite's default page cache (2 MiB) makes a large transaction (an
            // import, an initial sync page) re-read its own pages from the WAL.
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(max(2, cacheMiB) * 1024)") }
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try ReplicaStore(writer: queue, path: path, now: now, replicaID: replicaID, materializes: materializes, faults: faults)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw .notAReplica(path: path, reason: "not an SQLite database")
        } catch {
            throw StoreError.database(error, path: path)
        }
    }

    /// A replica in memory (tests, simulations). `seed` draws its identity reproducibly.
    public static func inMemory(
        replicaID: ReplicaID? = nil, now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock
    ) throws(StoreError) -> ReplicaStore {
        do {
            return try ReplicaStore(writer: DatabaseQueue(), path: nil, now: now, replicaID: replicaID)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database(Cause(error))
        }
    }

    /// Wraps `writer`, validates it is a replica (or empty), and migrates it.
    init(
        writer: any DatabaseWriter, path: String?, now: @escaping @Sendable () -> Int64, replicaID: ReplicaID? = nil,
        materializes: Bool = true, faults: ReplicaFaults? = nil, walMode: Bool = true
    ) throws {
        self.writer = writer
        self.path = path
        self.now = now
        self.materializes = materializes
        self.faults = faults
        let shownPath = path ?? ":memory:"
        try writer.read { db in
            if try db.tableExists("replica_meta") {
                let format = try Meta.get("format", db)
                guard format == Schema.format else {
                    throw StoreError.notAReplica(path: shownPath, reason: "it has no reading-list format marker")
                }
                let version = Int(try Meta.get("schema_version", db) ?? "0") ?? 0
                let superseded = try Schema.migrator.hasBeenSuperseded(db)
                if version > Schema.version || superseded {
                    throw StoreError.newerSchema(path: shownPath, version: version, supported: Schema.version)
                }
            } else {
                let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0
                if tables > 0 { throw StoreError.notAReplica(path: shownPath, reason: "it holds other tables") }
            }
        }
        if path != nil && walMode {
            try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        }
        try Schema.migrator.migrate(writer)
        identity = Mutex(try writer.write { db in
            try Meta.set("format", Schema.format, db)
            try Meta.set("schema_version", String(Schema.version), db)
            if let text = try Meta.get("replica_id", db), let id = ReplicaID(text) { return id }
            var generator = SystemRandomNumberGenerator()
            let id = replicaID ?? ReplicaID.random(using: &generator)
            try Meta.set("replica_id", id.rawValue, db)
            return id
        })
        // A large pull that stopped (a crash) before its articles were materialised: finish now.
        if materializes { finishInterruptedPass() }
        // Text and metadata derived with earlier extraction rules: derived again (once per rules version).
        if materializes { _ = try? rederiveReadableText() }
    }

    /// Closes the database (checkpointing its write-ahead log into the file).
    public func close() throws(StoreError) {
        do { try writer.close() } catch { throw .database(Cause(error)) }
    }

    /// For the benchmark (package-only): hands `record` every statement this
    /// replica's connection runs from now on, as written (with its `?`
    /// parameters) and as SQLite expands it (its arguments written in); nil
    /// stops. The benchmark replays a recorded workload's statements without
    /// the engine, to measure what this engine's SQL costs apart from its own work.
    package func traceStatements(_ record: (@Sendable (_ sql: String, _ expanded: String) -> Void)?) {
        writer.writeWithoutTransaction { db in
            guard let record else { return db.trace(options: [], nil) }
            db.trace(options: .statement) { event in
                if case let .statement(statement) = event { record(statement.sql, statement.expandedSQL) }
            }
        }
    }

    // MARK: Transactions

    /// Runs `body` in one write transaction on the change log.
    @discardableResult
    func transaction<T>(materializing: Bool = true, _ body: (inout LogTransaction) throws -> T) throws(StoreError) -> T {
        try transaction(materializing: materializing, body) { result, _ in result }
    }

    /// Runs `body` in one write transaction and returns article `id` as the
    /// transaction left it (from its re-materialisation, without reading it back).
    func transaction(returning id: ArticleID, _ body: (inout LogTransaction) throws -> Void) throws(StoreError) -> Article {
        if let article = try transaction({ tx in
            tx.keeping = id
            try body(&tx)
        }, then: { _, tx in tx.materialized }) { return article }
        return try self.article(id.rawValue)
    }

    /// Runs `body` in one write transaction on the visible article `idOrURL`
    /// designates, resolved inside it (no separate read, and no window in
    /// which another process deletes it), and returns the article as left.
    func transaction(resolving idOrURL: String, _ body: (inout LogTransaction, ArticleID) throws -> Void) throws(StoreError) -> Article {
        let (id, article) = try transaction({ tx in
            let id = try Self.resolve(idOrURL, tx.db)
            tx.keeping = id
            try body(&tx, id)
            return id
        }, then: { id, tx in (id, tx.materialized) })
        if let article { return article }
        return try self.article(id.rawValue)
    }

    /// The one place a write transaction on the change log is opened and committed;
    /// `then` reads what it needs from the committed transaction.
    func transaction<T, R>(
        materializing: Bool = true, _ body: (inout LogTransaction) throws -> T, then: (T, LogTransaction) -> R
    ) throws(StoreError) -> R {
        let replica = replicaID
        let time = now()
        let materializes = materializes
        return try mapErrors {
            try writer.writeWithoutTransaction { db in
                // BEGIN IMMEDIATE (as GRDB's `write` begins it) and COMMIT as
                // prepared statements kept in the connection's cache: `write`
                // compiles both afresh for every transaction (a twentieth of a
                // one-article save's CPU).
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                do {
                    var tx = try LogTransaction(db: db, replica: replica, now: time)
                    tx.materializes = materializes
                    if materializes && !materializing { tx.defersMaterialization() }
                    let result = try body(&tx)
                    try tx.commit()
                    // (SQLite may have rolled back by itself after an error the
                    // body caught: then nothing may be committed.)
                    guard db.isInsideTransaction else {
                        throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the transaction was rolled back by SQLite")
                    }
                    try db.cachedStatement(sql: "COMMIT").execute()
                    return then(result, tx)
                } catch {
                    if db.isInsideTransaction { try? db.rollback() }
                    throw error
                }
            }
        }
    }

    /// Runs `body` in a read transaction (a consistent snapshot).
    ///
    /// Not `DatabaseQueue.read`: it guards the transaction with `PRAGMA
    /// query_only`, and SQLite expires every prepared statement of the
    /// connection each time that flag changes, so every read re-compiled the
    /// statements the write path had cached (a tenth of the server's time).
    /// The store's reads never write.
    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        try mapErrors {
            try writer.unsafeRead { db in
                var result: T?
                try db.inTransaction(.deferred) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        }
    }

    func mapErrors<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch let error as SyncError {
            throw .sync(error)
        } catch let error as ModelError {
            throw .invalidInput(error)
        } catch {
            throw StoreError.database(error, path: path)
        }
    }

    // MARK: Queries

    /// Which articles `articles(_:)` returns, in which order: every condition
    /// given must hold (`unread` and a tag: the unread articles with that tag).
    public struct ListFilter: Sendable, Hashable {
        /// The order of a list.
        public enum Order: String, Sendable, Hashable, CaseIterable {
            /// Newest save first (the default).
            case newest
            /// Oldest save first.
            case oldest
            /// By title (articles without one by their URL), A to Z.
            case title
            /// Most recently changed first.
            case updated
        }

        /// Read (`true`), unread (`false`), or either (nil).
        public var read: Bool?
        /// Archived, not archived, or either.
        public var archived: Bool?
        /// Favourites, others, or either.
        public var favorite: Bool?
        /// Tags the articles must all have.
        public var tags: [String]
        /// The order of the list.
        public var order: Order
        /// At most this many articles (nil: all).
        public var limit: Int?

        /// A filter: each criterion left nil (or empty) does not filter.
        public init(read: Bool? = nil, archived: Bool? = nil, favorite: Bool? = nil, tags: [String] = [], order: Order = .newest, limit: Int? = nil) {
            self.read = read
            self.archived = archived
            self.favorite = favorite
            self.tags = tags
            self.order = order
            self.limit = limit
        }

        /// Every visible article, newest save first.
        public static let all = ListFilter()
        /// The reading queue: unread and not archived.
        public static let unread = ListFilter(read: false, archived: false)
        /// The archived articles.
        public static let archived = ListFilter(archived: true)
        /// The favourites.
        public static let favorites = ListFilter(favorite: true)
        /// The articles tagged `tag`.
        public static func tag(_ tag: String) -> ListFilter { ListFilter(tags: [tag]) }
    }

    /// The visible articles `filter` selects, in its order (ties by id: the
    /// same order on every replica). Without `includeContent`, `content` is left out.
    public func articles(_ filter: ListFilter = .all, includeContent: Bool = false) throws(StoreError) -> [Article] {
        try read { db in try Self.articles(filter, includeContent: includeContent, db) }
    }

    /// ``articles(_:includeContent:)`` inside a read (also what the observation of a list fetches,
    /// with a `decode` that reuses the articles of its last value whose stored JSON is unchanged).
    static func articles(
        _ filter: ListFilter, includeContent: Bool, _ db: Database,
        decode: (String) throws -> Article = { try JSONDecoder().decode(Article.self, from: Data($0.utf8)) }
    ) throws -> [Article] {
        var sql = "SELECT json FROM article WHERE visible = 1"
        var arguments: [any DatabaseValueConvertible] = []
        let flags: [(String, Bool?)] = [("is_read", filter.read), ("is_archived", filter.archived), ("is_favorite", filter.favorite)]
        for (column, wanted) in flags {
            if let wanted { sql += " AND \(column) = \(wanted ? 1 : 0)" }
        }
        for tag in Set(filter.tags.map { $0.lowercased() }).sorted() {
            sql += " AND id IN (SELECT article_id FROM article_tag WHERE tag = ?)"
            arguments.append(tag)
        }
        switch filter.order {
        case .newest: sql += " ORDER BY added_at DESC, id"
        case .oldest: sql += " ORDER BY added_at, id"
        case .title: sql += " ORDER BY lower(coalesce(json_extract(json, '$.title'), normalized_url)), id"
        case .updated: sql += " ORDER BY json_extract(json, '$.updatedAt') DESC, id"
        }
        if let limit = filter.limit {
            sql += " LIMIT ?"
            arguments.append(max(0, limit))
        }
        return try String.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { text in
            var article = try decode(text)
            if !includeContent { article.content = nil }
            return article
        }
    }

    /// The visible article an id, an unambiguous id prefix, or a URL designates.
    public func article(_ idOrURL: String) throws(StoreError) -> Article {
        try read { db in
            let id = try Self.resolve(idOrURL, db)
            guard let text = try String.fetchOne(
                db.cachedStatement(sql: "SELECT json FROM article WHERE id = ? AND visible = 1"), arguments: [id.rawValue]) else {
                throw StoreError.articleNotFound(idOrURL)
            }
            return try JSONDecoder().decode(Article.self, from: Data(text.utf8))
        }
    }

    /// Finds the visible article `idOrURL` designates.
    public func resolve(_ idOrURL: String) throws(StoreError) -> ArticleID {
        try read { db in try Self.resolve(idOrURL, db) }
    }

    /// Finds the visible article `idOrURL` designates, inside a transaction
    /// (an edit resolves its article in its own write transaction).
    static func resolve(_ idOrURL: String, _ db: Database) throws -> ArticleID {
        let text = idOrURL.trimmingWhitespace()
        if text.contains("://") {
            let id = ArticleID(url: try NormalizedURL(text))
            let visible = try Bool.fetchOne(db.cachedStatement(sql: "SELECT visible FROM article WHERE id = ?"), arguments: [id.rawValue]) ?? false
            guard visible else { throw StoreError.articleNotFound(idOrURL) }
            return id
        }
        let prefix = text.lowercased()
        let length = prefix.utf8.count
        guard length >= 4, length <= 32, prefix.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            // "example.com/a": a URL typed without its scheme.
            if text.contains("."), !text.contains(" "), (try? NormalizedURL("https://" + text)) != nil {
                return try resolve("https://" + text, db)
            }
            // Hex too short to be an id prefix: say what would work, not that nothing matched.
            if length > 0, length < 4, prefix.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) {
                throw StoreError.invalidOperation("'\(text)' is too short to find an article: give at least 4 characters of its id, or its URL")
            }
            throw StoreError.articleNotFound(idOrURL)
        }
        if length == 32 {
            guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT visible FROM article WHERE id = ?"), arguments: [prefix]) == true else {
                // An article saved under a URL variant's id and merged into the canonical one: its id stays valid.
                if let canonical = try canonicalArticle(of: prefix, db) { return canonical }
                throw StoreError.articleNotFound(idOrURL)
            }
            return ArticleID(unchecked: prefix)
        }
        let matches = try String.fetchAll(db.cachedStatement(sql: Self.prefixLookup), arguments: [prefix, prefix + "g"])
        if matches.isEmpty {
            // A prefix of a merged variant's id (and of no visible article): the canonical article.
            let hidden = try String.fetchAll(
                db.cachedStatement(sql: "SELECT id FROM article WHERE id >= ? AND id < ? LIMIT 2"), arguments: [prefix, prefix + "g"])
            if hidden.count == 1, let canonical = try canonicalArticle(of: hidden[0], db) { return canonical }
        }
        guard let first = matches.first else { throw StoreError.articleNotFound(idOrURL) }
        guard matches.count == 1 else { throw StoreError.ambiguousID(prefix, matches: matches.count) }
        return ArticleID(unchecked: first)
    }

    /// The visible articles whose id starts with a prefix (`id >= prefix AND id < prefix + "g"`).
    /// `+visible` keeps SQLite from choosing the listing index for `visible = 1`
    /// and reading every visible article: the id range of the `article_id` index is searched.
    static let prefixLookup = "SELECT id FROM article WHERE +visible = 1 AND id >= ? AND id < ? LIMIT 2"

    /// This replica's knowledge: the highest counter it has seen of each replica.
    package func knowledge() throws(StoreError) -> VersionVector {
        try read { db in try LogTransaction.readKnowledge(db) }
    }

    /// Every visible article that has at least one conflict.
    public func conflicted() throws(StoreError) -> [Article] {
        try articles().filter { !$0.conflicts.isEmpty }
    }
}
