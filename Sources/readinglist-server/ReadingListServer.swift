import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import ReadingListModel
import ReplicaStore
import ServiceLifecycle
import SyncProtocol
import SyncServer
import SyncServerCore
import SyncServerPostgres
import Synchronization

@main
struct ReadingListServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readinglist-server",
        abstract: "The reference sync server for readinglist replicas.",
        version: "0.1.0",
        subcommands: [Serve.self, UserCommand.self])

    /// A malformed command line (an unknown flag, a missing argument) gets
    /// ArgumentParser's message and the usage; anything that fails once the
    /// command runs is one line, `error: ...`, and exit status 1, as with `readinglist`.
    static func main() async {
        let command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // ArgumentParser's own: `--help` and `help` (run as a command), ExitCode, CleanExit.
            exit(withError: error)
        } catch {
            let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            FileHandle.standardError.write(Data("error: \(text)\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// Where the server keeps its data, shared by every command: `--db` (SQLite,
/// the default; `$READINGLIST_SERVER_DB`) or `--postgres` (`$READINGLIST_SERVER_POSTGRES`).
struct StorageOptions: ParsableArguments {
    @Option(help: "The server database, a SQLite file (default: $READINGLIST_SERVER_DB, else ./readinglist-server.sqlite).")
    var db: String?
    @Option(help: "A PostgreSQL database instead, postgres://USER[:PASSWORD]@HOST[:PORT]/DB (default: $READINGLIST_SERVER_POSTGRES, else none: SQLite).")
    var postgres: String?

    var path: String {
        db ?? ProcessInfo.processInfo.environment["READINGLIST_SERVER_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "readinglist-server.sqlite"
    }

    /// `--postgres`, else `$READINGLIST_SERVER_POSTGRES` unless `--db` names a SQLite file (a flag beats the environment).
    var postgresURL: String? { postgres ?? (db == nil ? environment("READINGLIST_SERVER_POSTGRES") : nil) }

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        if db != nil && postgres != nil { throw Failure(description: "use either --db or --postgres, not both") }
        // SQLite would take "" as a temporary database: users added there would vanish.
        if let db, db.trimmingCharacters(in: .whitespaces).isEmpty { throw Failure(description: "--db is empty: give the server database's file") }
    }

    /// Opens the storage. A SQLite database is created when missing, unless
    /// `create` is false (the commands that only read or change what is there):
    /// then a missing one is refused, and nothing is created.
    func open(logger: Logger = Logger(label: "readinglist-server"), create: Bool = true) async throws -> any ServerStorage {
        try check()
        if !create && postgresURL == nil && !FileManager.default.fileExists(atPath: path) {
            throw Failure(description: "no server database at '\(path)'; `user add` creates one")
        }
        do {
            if let url = postgresURL { return try await PostgresServerStorage(url: url, logger: logger) }
            return try SQLiteServerStorage(path: path)
        } catch {
            throw Failure(description: error.description)
        }
    }
}

extension StorageOptions {
    /// The files and folder a SQLite server database at `path` consists of
    /// that do not exist yet (what opening it would create).
    static func missingFiles(at path: String) -> [String] {
        [path, path + "-wal", path + "-shm", path + "-journal", path + ".spaces"].filter { !FileManager.default.fileExists(atPath: $0) }
    }
}

/// An error printed as one line, with a non-zero exit status.
struct Failure: Error, CustomStringConvertible {
    var description: String
}

func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sync API until SIGTERM or SIGINT (in-flight requests finish first).")
    @OptionGroup var storage: StorageOptions
    @Option(help: "Address to bind (default: $READINGLIST_SERVER_HOST, else 127.0.0.1).") var host: String?
    // (Numbers are read unconditionally: `--port -1` is a port to refuse, not a missing value.)
    @Option(parsing: .unconditional, help: "Port (0: an ephemeral port, printed at start; default: $READINGLIST_SERVER_PORT, else 8080).")
    var port: Int?
    @Option(name: .customLong("max-body-bytes"), parsing: .unconditional, help: "Largest request body in bytes, gzip-inflated, at least 1024 (default: $READINGLIST_SERVER_MAX_BODY_BYTES, else \(SyncLimits().maxBodyBytes) = \(SyncLimits().maxBodyBytes >> 20) MiB).")
    var maxBodyBytes: Int?
    @Option(name: .customLong("max-push"), parsing: .unconditional, help: "Most entries one request may push, at least 1 (default: $READINGLIST_SERVER_MAX_PUSH, else \(SyncLimits().maxPushEntries)).")
    var maxPush: Int?
    @Option(name: .customLong("retention-days"), parsing: .unconditional, help: "How long a replica may stay away before it must rejoin; deleted articles are forgotten once every replica seen within it acknowledged them; 1 to 36500 (default: $READINGLIST_SERVER_RETENTION_DAYS, else 90).")
    var retentionDays: Int?
    @Option(name: .customLong("max-push-connections-per-user"), parsing: .unconditional, help: "Most open push channels (GET /v1/events) of one user, all devices; at least 1 (default: $READINGLIST_SERVER_MAX_PUSH_CONNECTIONS_PER_USER, else \(PushLimits().maxConnectionsPerUser)).")
    var maxPushConnectionsPerUser: Int?
    @Option(name: .customLong("max-push-connections"), parsing: .unconditional, help: "Most open push channels of this process, at least 1 (default: $READINGLIST_SERVER_MAX_PUSH_CONNECTIONS, else \(PushLimits().maxConnections)).")
    var maxPushConnections: Int?
    @Option(name: .customLong("push-heartbeat-seconds"), parsing: .unconditional, help: "Seconds between pings on a push channel; a peer silent until the next one is closed; 1 to 3600 (default: $READINGLIST_SERVER_PUSH_HEARTBEAT_SECONDS, else \(PushLimits().heartbeatSeconds)).")
    var pushHeartbeatSeconds: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning or error (default: $READINGLIST_SERVER_LOG_LEVEL, else info).") var logLevel: String?

    func run() async throws {
        try storage.check()
        // Everything is checked before anything is opened or created.
        let levelText = logLevel ?? environment("READINGLIST_SERVER_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw Failure(description: "unknown log level '\(levelText)' (expected trace, debug, info, notice, warning or error)")
        }
        let resolvedPort = try number(port, "--port", "READINGLIST_SERVER_PORT", in: 0...65535) ?? 8080
        var limits = SyncLimits()
        if let value = try number(maxBodyBytes, "--max-body-bytes", "READINGLIST_SERVER_MAX_BODY_BYTES", in: 1024...) { limits.maxBodyBytes = value }
        if let value = try number(maxPush, "--max-push", "READINGLIST_SERVER_MAX_PUSH", in: 1...) { limits.maxPushEntries = value }
        // (At most about 100 years: the retention in seconds must not overflow.)
        let days = try number(retentionDays, "--retention-days", "READINGLIST_SERVER_RETENTION_DAYS", in: 1...36_500) ?? 90
        var push = PushLimits()
        if let value = try number(
            maxPushConnectionsPerUser, "--max-push-connections-per-user", "READINGLIST_SERVER_MAX_PUSH_CONNECTIONS_PER_USER", in: 1...) {
            push.maxConnectionsPerUser = value
        }
        if let value = try number(maxPushConnections, "--max-push-connections", "READINGLIST_SERVER_MAX_PUSH_CONNECTIONS", in: 1...) {
            push.maxConnections = value
        }
        if let value = try number(pushHeartbeatSeconds, "--push-heartbeat-seconds", "READINGLIST_SERVER_PUSH_HEARTBEAT_SECONDS", in: 1...3600) {
            push.heartbeatSeconds = value
        }
        let address = host ?? environment("READINGLIST_SERVER_HOST") ?? "127.0.0.1"
        if let problem = Self.hostProblem(address) { throw Failure(description: problem) }
        let shownAddress = (address.contains(":") ? "[\(address)]" : address) + ":\(resolvedPort)"

        // Log lines go to stderr from a thread of their own (a slow reader drops
        // lines, counted in /metrics, rather than stalling requests); what is
        // queued is written before the process exits, for up to two seconds.
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, writer: .standardError) }
        defer { LogWriter.standardError.flush(timeout: .seconds(2)) }
        let logger = Logger(label: "readinglist-server")
        // What this run creates (a new SQLite database, its spaces folder) is removed again if it cannot listen.
        let created = storage.postgresURL == nil ? StorageOptions.missingFiles(at: storage.path) : []
        let store = try await storage.open(logger: logger)
        let hub = PushHub(storage: store, limits: push, logger: logger)
        let service = SyncService(storage: store, limits: limits, retention: .seconds(days * 86_400), push: hub, now: ReplicaStore.wallClock)
        let configuration = ServerConfiguration(host: address, port: resolvedPort, limits: limits)
        let listening = Mutex(false)
        let app = buildApplication(service: service, configuration: configuration, logger: logger) { address in
            listening.withLock { $0 = true }
            // Written unbuffered: scripts and tests read the address while the server runs.
            FileHandle.standardOutput.write(Data("listening on \(address)\n".utf8))
        }
        // On SIGTERM or SIGINT the push channels are closed first (1001, going away), then the server stops.
        let group = ServiceGroup(
            configuration: .init(services: [app, PushGoingAway(hub: hub)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch where !listening.withLock({ $0 }) {
            await store.close()
            for path in created { try? FileManager.default.removeItem(atPath: path) }
            throw Failure(description: "cannot listen on \(shownAddress): \(Self.bindFailure(error))")
        }
        await store.close()
        logger.info("stopped")
    }

    /// Why binding failed, in words (not NIO's): a busy port, a privileged one, an address not of this machine.
    static func bindFailure(_ error: any Error) -> String {
        let busy = "the port is already in use (another server?); stop it, or choose another --port (0 picks a free one)"
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE: return busy
            case EACCES: return "permission denied (ports below 1024 need privileges); choose a port above 1023"
            case EADDRNOTAVAIL: return "that address is not one of this machine's"
            default: return String(cString: strerror(error.errnoCode)).lowercased()
            }
        }
        if error is SocketAddressError { return "the host name does not resolve" }
        return "the server could not start (\(String(describing: type(of: error))))"
    }

    /// What is wrong with a `--host` value, checked before anything is opened: nil when it resolves.
    static func hostProblem(_ host: String) -> String? {
        if host.isEmpty { return "--host is empty; give an address of this machine (127.0.0.1, 0.0.0.0, ::1)" }
        if host.hasPrefix("[") { return "--host \(host): give an IPv6 address without brackets (--host ::1)" }
        // Only digits and dots: an IPv4 address, four numbers from 0 to 255.
        if host.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }) {
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && (Int($0) ?? 256) <= 255 }) else {
                return "--host \(host) is not a valid IPv4 address (four numbers from 0 to 255)"
            }
            return nil
        }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &found)
        if let found { freeaddrinfo(found) }
        return status == 0 ? nil : "--host '\(host)' is not an address of this machine (the name does not resolve)"
    }

    /// A number from its option, else from its environment variable (refused when that is not a number), else nil.
    /// The value of `flag`, or else of the environment's `variable`, or nil;
    /// a value outside `range` is refused, naming the flag.
    func number(_ option: Int?, _ flag: String, _ variable: String, in range: ClosedRange<Int>) throws -> Int? {
        let (value, source): (Int, String)
        if let option {
            (value, source) = (option, flag)
        } else {
            guard let text = environment(variable) else { return nil }
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw Failure(description: "$\(variable) must be a whole number (for \(flag)), not '\(text)'")
            }
            (value, source) = (number, "$\(variable) (for \(flag))")
        }
        guard range.contains(value) else {
            let bounds = range.upperBound == .max ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw Failure(description: "\(source) must be \(bounds), not \(value)")
        }
        return value
    }

    func number(_ option: Int?, _ flag: String, _ variable: String, in range: PartialRangeFrom<Int>) throws -> Int? {
        try number(option, flag, variable, in: range.lowerBound...Int.max)
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users and their tokens.", subcommands: [Add.self, List.self, Revoke.self, Token.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; prints its bearer token once (only its hash is stored).")
        @OptionGroup var storage: StorageOptions
        @Argument(help: "The new user's name (1 to 100 characters, one line).") var name: String

        func run() async throws {
            guard !name.allSatisfy(\.isWhitespace), name.count <= 100, !name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                throw Failure(description: "a user name is 1 to 100 characters on one line, not only spaces")
            }
            try await UserCommand.issueToken(storage, notice: "created user '\(name)'; the token above is shown only once") { store, hash in
                _ = try await store.addUser(name: name, tokenHash: hash)
            }
        }
    }

    /// Stores a new token's hash with `write`, then prints the token once (stdout) and `notice` (stderr).
    static func issueToken(
        _ storage: StorageOptions, notice: String, create: Bool = true, _ write: (any ServerStorage, String) async throws -> Void
    ) async throws {
        let created = create && storage.postgresURL == nil ? StorageOptions.missingFiles(at: storage.path) : []
        let store = try await storage.open(create: create)
        let token = Tokens.generate()
        do {
            try await write(store, Tokens.hash(token))
        } catch {
            await store.close()
            // A database this command created for nothing goes again.
            for path in created { try? FileManager.default.removeItem(atPath: path) }
            throw Failure(description: "\(error)")
        }
        await store.close()
        print(token)
        FileHandle.standardError.write(Data((notice + "\n").utf8))
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a user a new token, printed once: the old one stops working; a revoked user is active again.")
        @OptionGroup var storage: StorageOptions
        @Argument(help: "The user's name, as `user list` shows it.") var name: String

        func run() async throws {
            try await UserCommand.issueToken(
                storage, notice: "new token for '\(name)'; the token above is shown only once, the old one no longer works", create: false
            ) { store, hash in
                guard try await store.replaceToken(name: name, tokenHash: hash) else { throw Failure(description: "no user '\(name)'") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let store = try await storage.open(create: false)
            let users = try await store.users()
            await store.close()
            if users.isEmpty { print("(no users)") }
            for user in users {
                let state = user.revokedAt.map { "revoked \(Self.iso($0))" } ?? "active"
                print("\(user.name)\tcreated \(Self.iso(user.createdAt))\t\(state)")
            }
        }

        static func iso(_ millis: Int64) -> String {
            Timestamp.iso8601(millis)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a user's token (their list stays stored).")
        @OptionGroup var storage: StorageOptions
        @Argument(help: "The user's name, as `user list` shows it.") var name: String

        func run() async throws {
            let store = try await storage.open(create: false)
            let revoked = try await store.revokeUser(name: name)
            await store.close()
            guard revoked else { throw Failure(description: "no active user '\(name)'") }
            print("revoked '\(name)'")
        }
    }
}
