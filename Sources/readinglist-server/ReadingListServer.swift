import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import ReplicaStore
import SyncProtocol
import SyncServer

@main
struct ReadingListServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readinglist-server",
        abstract: "The reference sync server for readinglist replicas.",
        version: "0.1.0",
        subcommands: [Serve.self, UserCommand.self])
}

/// Where the server keeps its data, shared by every command: `--db` (SQLite,
/// the default; `$READINGLIST_SERVER_DB`) or `--postgres` (`$READINGLIST_SERVER_POSTGRES`).
struct StorageOptions: ParsableArguments {
    @Option(help: "The server database (SQLite). Default: $READINGLIST_SERVER_DB, else ./readinglist-server.sqlite.")
    var db: String?
    @Option(help: "A PostgreSQL database instead, postgres://USER[:PASSWORD]@HOST[:PORT]/DB ($READINGLIST_SERVER_POSTGRES).")
    var postgres: String?

    var path: String {
        db ?? ProcessInfo.processInfo.environment["READINGLIST_SERVER_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "readinglist-server.sqlite"
    }

    var postgresURL: String? { postgres ?? environment("READINGLIST_SERVER_POSTGRES") }

    func validate() throws {
        if db != nil && postgres != nil { throw ValidationError("use either --db or --postgres, not both") }
    }

    func open(logger: Logger = Logger(label: "readinglist-server")) async throws -> any ServerStorage {
        do {
            if let url = postgresURL { return try await PostgresServerStorage(url: url, logger: logger) }
            return try SQLiteServerStorage(path: path)
        } catch {
            throw Failure(description: error.description)
        }
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
    @Option(help: "Port (0: an ephemeral port, printed at start; default: $READINGLIST_SERVER_PORT, else 8080).") var port: Int?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body ($READINGLIST_SERVER_MAX_BODY_BYTES).") var maxBodyBytes: Int?
    @Option(name: .customLong("max-push"), help: "Most entries one request may push ($READINGLIST_SERVER_MAX_PUSH).") var maxPush: Int?
    @Option(name: .customLong("retention-days"), help: "How long a replica may stay away before it must rejoin; deleted articles are forgotten once every replica seen within it acknowledged them ($READINGLIST_SERVER_RETENTION_DAYS, default 90).")
    var retentionDays: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error ($READINGLIST_SERVER_LOG_LEVEL).") var logLevel: String?

    func run() async throws {
        let levelText = logLevel ?? environment("READINGLIST_SERVER_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("unknown log level '\(levelText)'") }
        let resolvedPort = try port ?? environment("READINGLIST_SERVER_PORT").map { text in
            guard let value = Int(text) else { throw ValidationError("READINGLIST_SERVER_PORT must be a number") }
            return value
        } ?? 8080
        guard (0...65535).contains(resolvedPort) else { throw ValidationError("--port must be 0 to 65535") }
        var limits = SyncLimits()
        if let value = maxBodyBytes ?? environment("READINGLIST_SERVER_MAX_BODY_BYTES").flatMap(Int.init) { limits.maxBodyBytes = value }
        if let value = maxPush ?? environment("READINGLIST_SERVER_MAX_PUSH").flatMap(Int.init) { limits.maxPushEntries = value }
        guard limits.maxPushEntries >= 1, limits.maxBodyBytes >= 1024 else {
            throw ValidationError("--max-push must be at least 1 and --max-body-bytes at least 1024")
        }

        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "readinglist-server")
        let store = try await storage.open(logger: logger)
        let days = retentionDays ?? environment("READINGLIST_SERVER_RETENTION_DAYS").flatMap(Int.init) ?? 90
        guard days >= 1 else { throw ValidationError("--retention-days must be at least 1") }
        let service = SyncService(storage: store, limits: limits, retention: .seconds(days * 86_400), now: ReplicaStore.wallClock)
        let address = host ?? environment("READINGLIST_SERVER_HOST") ?? "127.0.0.1"
        let configuration = ServerConfiguration(host: address, port: resolvedPort, limits: limits)
        let app = buildApplication(service: service, configuration: configuration, logger: logger) { address in
            // Written unbuffered: scripts and tests read the address while the server runs.
            FileHandle.standardOutput.write(Data("listening on \(address)\n".utf8))
        }
        do {
            try await app.runService()
        } catch let error as IOError where error.errnoCode == EADDRINUSE || error.errnoCode == EADDRNOTAVAIL || error.errnoCode == EACCES {
            await store.close()
            let reason = switch error.errnoCode {
            case EADDRINUSE: "the port is already in use (another server?); stop it, or choose another --port (0 picks a free one)"
            case EACCES: "permission denied (ports below 1024 need privileges); choose a port above 1023"
            default: "that address is not one of this machine's"
            }
            throw Failure(description: "cannot listen on \(address):\(resolvedPort): \(reason)")
        }
        await store.close()
        logger.info("stopped")
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users and their tokens.", subcommands: [Add.self, List.self, Revoke.self, Token.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; prints its bearer token once (only its hash is stored).")
        @OptionGroup var storage: StorageOptions
        @Argument var name: String

        func run() async throws {
            guard !name.isEmpty, name.count <= 100, !name.contains(where: \.isNewline) else { throw ValidationError("a user name is 1 to 100 characters on one line") }
            try await UserCommand.issueToken(storage, notice: "created user '\(name)'; the token above is shown only once") { store, hash in
                _ = try await store.addUser(name: name, tokenHash: hash)
            }
        }
    }

    /// Stores a new token's hash with `write`, then prints the token once (stdout) and `notice` (stderr).
    static func issueToken(
        _ storage: StorageOptions, notice: String, _ write: (any ServerStorage, String) async throws -> Void
    ) async throws {
        let store = try await storage.open()
        let token = Tokens.generate()
        do {
            try await write(store, Tokens.hash(token))
        } catch {
            await store.close()
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
        @Argument var name: String

        func run() async throws {
            try await UserCommand.issueToken(
                storage, notice: "new token for '\(name)'; the token above is shown only once, the old one no longer works"
            ) { store, hash in
                guard try await store.replaceToken(name: name, tokenHash: hash) else { throw Failure(description: "no user '\(name)'") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let store = try await storage.open()
            let users = try await store.users()
            await store.close()
            if users.isEmpty { print("(no users)") }
            for user in users {
                let state = user.revokedAt.map { "revoked \(Self.iso($0))" } ?? "active"
                print("\(user.name)\tcreated \(Self.iso(user.createdAt))\t\(state)")
            }
        }

        static func iso(_ millis: Int64) -> String {
            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a user's token (their list stays stored).")
        @OptionGroup var storage: StorageOptions
        @Argument var name: String

        func run() async throws {
            let store = try await storage.open()
            let revoked = try await store.revokeUser(name: name)
            await store.close()
            guard revoked else { throw Failure(description: "no active user '\(name)'") }
            print("revoked '\(name)'")
        }
    }
}
