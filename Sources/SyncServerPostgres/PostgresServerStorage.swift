import Foundation
import Logging
import PostgresNIO
import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol
import SyncServerCore
import Synchronization

/// Server storage on PostgreSQL, for several server processes sharing one
/// database behind a load balancer.
///
/// Concurrency: every write to a user's list (a pushed page, a collection)
/// runs in one transaction that first locks that user's row
/// (`SELECT ... FOR UPDATE`). Writers of one list therefore take turns across
/// all processes: the gap and duplicate checks see every earlier page, each
/// replica's counters stay gap-free, and no write is lost or stored twice.
/// Reads (pulls) need no lock: they see committed pages only. Different users
/// never wait for each other. Schema migrations run at start under a
/// transaction-scoped advisory lock, so processes starting at the same moment
/// migrate once.
public final class PostgresServerStorage: ServerStorage, PushRelay {
    static let schemaVersion = 1
    static let operationTimeout = 20
    static let migrationLock: Int64 = 0x7265_6164_6c69_7374  // "readlist"

    let client: PostgresClient
    let logger: Logger
    let runner: Task<Void, Never>
    let now: @Sendable () -> Int64
    /// Test hook: runs inside every page's transaction just before it commits.
    let beforeCommit: (@Sendable () async -> Void)?
    /// Where the push channel's listener connects (a connection of its own, outside the pool).
    let listenerConfiguration: PostgresConnection.Configuration
    /// The server's identity (32 hex digits), kept in the database.
    public let serverID: String

    /// Connects with a `postgres://user:password@host:port/database` URL and
    /// migrates the schema. Throws (without hanging) when the database is
    /// unreachable, the credentials are wrong, or the schema is newer.
    /// `beforeCommit` (tests only) runs inside every page's transaction just before it commits.
    public init(
        url: String, logger: Logger = Logger(label: "readinglist-postgres"), now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock,
        beforeCommit: (@Sendable () async -> Void)? = nil
    ) async throws(ServerError) {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, let user = components.user else {
            throw .invalidAdminRequest("invalid PostgreSQL URL '\(Self.redact(url))': expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let where_ = "\(host):\(components.port ?? 5432)/\(database)"
        // One direct connection first: an unreachable server or wrong credentials fail at once, clearly,
        // instead of the pool retrying in the background.
        do {
            var probeLogger = logger
            probeLogger.logLevel = .critical
            let probe = try await PostgresConnection.connect(
                configuration: .init(host: host, port: components.port ?? 5432, username: user, password: components.password,
                                     database: database.isEmpty ? nil : database, tls: .disable),
                id: 0, logger: probeLogger)
            try await probe.close()
        } catch {
            throw .storage("cannot connect to PostgreSQL at \(where_): \(Self.describe(error))")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        var listener = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        listener.options.connectTimeout = .seconds(5)
        listenerConfiguration = listener
        self.logger = logger
        self.now = now
        self.beforeCommit = beforeCommit
        runner = Task { await client.run() }
        do {
            serverID = try await Self.withTimeout(seconds: 15) { try await Self.migrate(client, logger) }
        } catch let error as ServerError {
            runner.cancel()
            throw error
        } catch {
            runner.cancel()
            throw .storage("cannot use PostgreSQL at \(where_): \(Self.describe(error))")
        }
    }

    /// Stops the storage: its connections end with the task that runs them.
    public func close() async { runner.cancel() }

    static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying {
                let text = "\(underlying)"
                return text.contains("Connection refused") ? "connection refused" : text
            }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Races `body` against a timer without waiting for `body` to notice cancellation:
    /// a query stuck on a connection that died mid-flight must not hold the request.
    static func withTimeout<T: Sendable>(seconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let settled = Once()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                if settled.claim() { continuation.resume(with: result) }
            }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                if settled.claim() {
                    work.cancel()
                    continuation.resume(throwing: ServerError.storage("no answer from PostgreSQL within \(seconds) s"))
                }
            }
        }
    }

    /// Creates or checks the schema; returns the server's identity (drawn once, shared by every process).
    static func migrate(_ client: PostgresClient, _ logger: Logger) async throws -> String {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS rl_meta (key text PRIMARY KEY, value text NOT NULL)", logger: logger)
            var format: String?
            var version: Int?
            for try await (key, value) in try await connection.query("SELECT key, value FROM rl_meta", logger: logger).decode((String, String).self) {
                if key == "format" { format = value }
                if key == "schema_version" { version = Int(value) }
            }
            if let format, format != "readinglist-server" { throw ServerError.invalidAdminRequest("the database is not a readinglist server database") }
            if let version, version > schemaVersion {
                throw ServerError.invalidAdminRequest("the database was written by a newer readinglist-server (schema \(version); this version reads up to \(schemaVersion)); upgrade to use it")
            }
            if version == nil {
                for statement in [
                    "CREATE TABLE rl_user (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, token_hash text NOT NULL UNIQUE, created_at bigint NOT NULL, revoked_at bigint, next_seq bigint NOT NULL DEFAULT 1)",
                    "CREATE TABLE rl_knowledge (user_id bigint NOT NULL REFERENCES rl_user (id), replica text NOT NULL, counter bigint NOT NULL, PRIMARY KEY (user_id, replica))",
                    "CREATE TABLE rl_change (user_id bigint NOT NULL REFERENCES rl_user (id), replica text NOT NULL, counter bigint NOT NULL, seq bigint NOT NULL, entity_type text NOT NULL, entity_id text NOT NULL, field text NOT NULL, value text NOT NULL, context text NOT NULL, hlc bigint NOT NULL, article_id text, PRIMARY KEY (user_id, replica, counter))",
                    "CREATE INDEX rl_change_field ON rl_change (user_id, entity_type, entity_id, field)",
                    "CREATE INDEX rl_change_article ON rl_change (user_id, article_id)",
                    "CREATE TABLE rl_replaced (user_id bigint NOT NULL REFERENCES rl_user (id), replica text NOT NULL, from_counter bigint NOT NULL, to_counter bigint NOT NULL, seq bigint NOT NULL, digest bigint NOT NULL, PRIMARY KEY (user_id, replica, from_counter))",
                    "CREATE UNIQUE INDEX rl_replaced_end ON rl_replaced (user_id, replica, to_counter)",
                    "CREATE TABLE rl_replica (user_id bigint NOT NULL REFERENCES rl_user (id), replica text NOT NULL, knowledge text NOT NULL, last_seen bigint NOT NULL, PRIMARY KEY (user_id, replica))",
                    "CREATE TABLE rl_collected (seq bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES rl_user (id), article text NOT NULL, horizon text NOT NULL, at bigint NOT NULL)",
                    "CREATE INDEX rl_collected_user ON rl_collected (user_id, seq)",
                    "INSERT INTO rl_meta (key, value) VALUES ('format', 'readinglist-server'), ('schema_version', '1')",
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            // The server's identity, drawn once (older databases get theirs now): replicas bind to it.
            var generator = SystemRandomNumberGenerator()
            let fresh = ReplicaID.random(using: &generator).rawValue
            try await connection.query("INSERT INTO rl_meta (key, value) VALUES ('server_id', \(fresh)) ON CONFLICT (key) DO NOTHING", logger: logger)
            for try await id in try await connection.query("SELECT value FROM rl_meta WHERE key = 'server_id'", logger: logger).decode(String.self) {
                return id
            }
            return fresh
        }
    }

    /// Runs `body`, mapping every database failure to a retryable storage error. An
    /// operation that does not finish within `operationTimeout` (a connection that died
    /// without the driver noticing) is answered as a storage failure too.
    func perform<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws(ServerError) -> T {
        do {
            return try await Self.withTimeout(seconds: Self.operationTimeout, body)
        } catch let error as PostgresTransactionError {
            throw Self.map(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw Self.map(error)
        }
    }

    /// A refused page keeps its meaning (4xx); anything else is a retryable storage failure (503).
    static func map(_ error: any Error) -> ServerError {
        switch error {
        case let error as ServerError: error
        case let error as SyncError: .refused(SyncErrorCode(error), error.description)
        default: .storage(Cause(describe(error), underlying: error))
        }
    }

    /// Creates a user whose bearer token hashes to `tokenHash` (``Tokens/hash(_:)``).
    public func addUser(name: String, tokenHash: String) async throws(ServerError) -> ServerUser {
        let time = now()
        return try await perform {
            // Names are unique whatever their case ('alice' and 'Alice' would be two people's lists).
            let rows = try await self.client.query(
                """
                INSERT INTO rl_user (name, token_hash, created_at) SELECT \(name), \(tokenHash), \(time)
                WHERE NOT EXISTS (SELECT 1 FROM rl_user WHERE lower(name) = lower(\(name))) ON CONFLICT (name) DO NOTHING RETURNING id
                """,
                logger: self.logger)
            for try await id in rows.decode(Int64.self) { return ServerUser(id: id, name: name, createdAt: time) }
            throw ServerError.invalidAdminRequest("user '\(name)' already exists")
        }
    }

    /// Every user, revoked ones included.
    public func users() async throws(ServerError) -> [ServerUser] {
        try await perform {
            var users: [ServerUser] = []
            let rows = try await self.client.query("SELECT id, name, created_at, revoked_at FROM rl_user ORDER BY name", logger: self.logger)
            for try await (id, name, created, revoked) in rows.decode((Int64, String, Int64, Int64?).self) {
                users.append(ServerUser(id: id, name: name, createdAt: created, revokedAt: revoked))
            }
            return users
        }
    }

    /// Revokes a user's token (their list stays stored); false when there is no such active user.
    public func revokeUser(name: String) async throws(ServerError) -> Bool {
        let time = now()
        return try await perform {
            let rows = try await self.client.query(
                "UPDATE rl_user SET revoked_at = \(time) WHERE name = \(name) AND revoked_at IS NULL RETURNING id", logger: self.logger)
            var revoked: Int64?
            for try await id in rows.decode(Int64.self) { revoked = id }
            guard let revoked else { return false }
            try await self.notifyPush(PushHub.payload(.tokensChanged(user: revoked)))  // Closes its push connections.
            return true
        }
    }

    /// Gives a user a new token (a revoked user is active again); false when there is no such user.
    public func replaceToken(name: String, tokenHash: String) async throws(ServerError) -> Bool {
        try await perform {
            let rows = try await self.client.query(
                "UPDATE rl_user SET token_hash = \(tokenHash), revoked_at = NULL WHERE name = \(name) RETURNING id", logger: self.logger)
            var changed: Int64?
            for try await id in rows.decode(Int64.self) { changed = id }
            guard let changed else { return false }
            try await self.notifyPush(PushHub.payload(.tokensChanged(user: changed)))  // Closes the old token's push connections.
            return true
        }
    }

    /// The active user whose token hashes to `tokenHash`.
    public func user(tokenHash: String) async throws(ServerError) -> ServerUser? {
        try await perform {
            let rows = try await self.client.query(
                "SELECT id, name, created_at FROM rl_user WHERE token_hash = \(tokenHash) AND revoked_at IS NULL", logger: self.logger)
            for try await (id, name, created) in rows.decode((Int64, String, Int64).self) { return ServerUser(id: id, name: name, createdAt: created) }
            return nil
        }
    }

    /// The change log of `user`'s list (its rows in the shared tables).
    public func space(for user: ServerUser) async throws(ServerError) -> any SyncSpace {
        PostgresSpace(storage: self, userID: user.id)
    }

    /// None: the lists live in shared tables, not in replica files (clients pull page by page).
    public func snapshot(for user: ServerUser) async throws(ServerError) -> ServerSnapshot? { nil }
}

/// Lets exactly one of several racing tasks finish something.
final class Once: Sendable {
    private let done = Mutex(false)

    func claim() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}

// MARK: The push channel's events between server processes (LISTEN/NOTIFY)

extension PostgresServerStorage {
    /// The channel every server process listens to.
    static let pushChannel = "readinglist_push"

    /// Sends `payload` to every process listening (this one included).
    package func notifyPush(_ payload: String) async throws {
        try await Self.withTimeout(seconds: Self.operationTimeout) {
            // (Read to the end: the connection goes back to the pool only then.)
            for try await _ in try await self.client.query("SELECT pg_notify(\(Self.pushChannel), \(payload))", logger: self.logger) {}
        }
    }

    /// Listens on a connection of its own and hands every payload to `deliver`,
    /// until the task is cancelled; a broken connection is made again after a
    /// pause (events sent meanwhile are lost: devices sync on reconnecting anyway).
    package func listenPush(_ deliver: @escaping @Sendable (String) async -> Void) async {
        var attempt = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: listenerConfiguration, id: 1, logger: logger)
                attempt = 0
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.pushChannel) { notifications in
                    logger.debug("listening for push events")
                    for try await notification in notifications { await deliver(notification.payload) }
                }
            } catch {
                if Task.isCancelled { return }
                attempt += 1
                logger.warning("push listener lost PostgreSQL; reconnecting", metadata: ["error": .string(Self.describe(error)), "attempt": .stringConvertible(attempt)])
            }
            try? await Task.sleep(for: .milliseconds(min(5000, 250 << min(attempt, 5))))
        }
    }
}
