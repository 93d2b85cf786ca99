import Foundation
import Logging
import PostgresNIO
import SyncClient
import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import SyncServerPostgres
import Testing

/// The PostgreSQL URL the tests use (`scripts/with-postgres` sets it; CI always does).
let postgresURL = ProcessInfo.processInfo.environment["READINGLIST_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL when a server is given (and always in CI, where a missing one fails).
    static var available: [Backend] { postgresURL != nil || inCI ? [.sqlite, .postgres] : [.sqlite] }

    func makeStorage(now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock) async throws -> any ServerStorage {
        switch self {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-conformance-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            return try SQLiteServerStorage(path: folder + "/server.sqlite", now: now)
        case .postgres:
            guard let postgresURL else {
                throw ServerError.storage("no PostgreSQL: set READINGLIST_TEST_POSTGRES (scripts/with-postgres does)")
            }
            var logger = Logger(label: "test")
            logger.logLevel = .error
            return try await PostgresServerStorage(url: postgresURL, logger: logger, now: now)
        }
    }
}

/// Tells, locally, that the PostgreSQL half of the suite did not run and how to run it.
@Test(.enabled(if: postgresURL != nil || inCI, "no PostgreSQL server: the conformance suite ran on SQLite only. Run `scripts/with-postgres swift test` (CI always does)"))
func postgresIsAvailable() async throws {
    let storage = try await Backend.postgres.makeStorage()
    #expect(try await storage.users().count >= 0)
    await storage.close()
}

/// One suite, every backend: everything the server stores.
@Suite("Storage conformance")
struct StorageConformanceTests {
    func user(_ storage: any ServerStorage) async throws -> (ServerUser, String) {
        let token = Tokens.generate()
        return (try await storage.addUser(name: "user-\(UUID().uuidString)", tokenHash: Tokens.hash(token)), token)
    }

    func replicaWithHistory() throws -> ReplicaStore {
        let replica = try ReplicaStore.inMemory()
        for index in 0..<6 { try replica.save(SaveRequest(url: "https://example.com/\(index)", title: "t\(index)", tags: ["x"])) }
        try replica.edit("https://example.com/2", [Fields.title: "edited"])
        try replica.delete("https://example.com/3")
        return replica
    }

    @Test(arguments: Backend.available)
    func usersAndTokens(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (alice, token) = try await user(storage)
        #expect(try await storage.user(tokenHash: Tokens.hash(token)) == alice)
        #expect(try await storage.user(tokenHash: Tokens.hash("rl_wrong")) == nil)
        await #expect(throws: ServerError.self) { _ = try await storage.addUser(name: alice.name, tokenHash: "other") }
        #expect(try await storage.users().contains { $0.name == alice.name && $0.revokedAt == nil })
        #expect(try await storage.revokeUser(name: alice.name))
        #expect(try await !storage.revokeUser(name: alice.name))
        #expect(try await storage.user(tokenHash: Tokens.hash(token)) == nil)
        #expect(try await storage.users().first { $0.name == alice.name }?.revokedAt != nil)
        // A new token makes a revoked user active again; the old token stays refused.
        let fresh = Tokens.generate()
        #expect(try await storage.replaceToken(name: alice.name, tokenHash: Tokens.hash(fresh)))
        #expect(try await storage.user(tokenHash: Tokens.hash(fresh)) == alice)
        #expect(try await storage.user(tokenHash: Tokens.hash(token)) == nil)
        #expect(try await storage.users().first { $0.name == alice.name }?.revokedAt == nil)
        // Rotating an active user's token: only the newest works.
        let newer = Tokens.generate()
        #expect(try await storage.replaceToken(name: alice.name, tokenHash: Tokens.hash(newer)))
        #expect(try await storage.user(tokenHash: Tokens.hash(fresh)) == nil)
        #expect(try await storage.user(tokenHash: Tokens.hash(newer)) == alice)
        #expect(try await !storage.replaceToken(name: "nobody-\(UUID().uuidString)", tokenHash: Tokens.hash(Tokens.generate())))
        await storage.close()
    }

    @Test(arguments: Backend.available)
    func pagesApplyOnceAndPullBackExactly(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let phone = try replicaWithHistory()
        var knowledge = try await space.knowledge()
        #expect(knowledge.isEmpty)
        while true {
            let page = try phone.outgoing(for: knowledge, limit: 4)
            if page.isEmpty { break }
            let first = try await space.apply(page)
            let retry = try await space.apply(page)
            #expect(retry.appliedChanges == 0 && retry.knowledge == first.knowledge)
            knowledge = first.knowledge
        }
        #expect(knowledge == (try phone.knowledge()))
        #expect(try await space.heads() == (try phone.heads()).filter { $0.dot.replica == phone.replicaID })
        // A new replica pulls it back, in pages, to the same list.
        let laptop = try ReplicaStore.inMemory()
        while true {
            let page = try await space.outgoing(for: try laptop.knowledge(), limit: 3)
            if page.isEmpty { break }
            try laptop.apply(page)
        }
        #expect(try laptop.articles(includeContent: true) == phone.articles(includeContent: true))
        #expect(try laptop.checkInvariants() == [])
        await storage.close()
    }

    /// Saves of many fields are runs of many changes: a page of `limit` entries
    /// holds far more changes, and a backend that keeps a row per change must
    /// still fill the page (or say it is the last).
    @Test(arguments: Backend.available)
    func pagesOfLongRunsAreFull(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let phone = try ReplicaStore.inMemory()
        for index in 0..<3 {
            try phone.save(SaveRequest(url: "https://example.com/long/\(index)", title: "T", tags: (0..<20).map { "tag\($0)" }))
        }
        _ = try await space.apply(try phone.outgoing(for: VersionVector(), limit: 100))
        var knowledge = VersionVector()
        var pages: [Int] = []
        while true {
            let page = try await space.outgoing(for: knowledge, limit: 2)
            if page.isEmpty { break }
            pages.append(page.count)
            for entry in page { knowledge[entry.replica] = max(knowledge[entry.replica], entry.lastCounter) }
        }
        #expect(pages == [2, 1])
        #expect(knowledge == (try phone.knowledge()))
        await storage.close()
    }

    @Test(arguments: Backend.available)
    func gapsAndCopiedReplicasAreRefusedWithNothingApplied(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let phone = try replicaWithHistory()
        // Single changes: a gap and a copied dot inside what would be a run.
        let all = try phone.outgoing(for: VersionVector(), limit: 1000).flatMap(\.expanded)
        await #expect {
            _ = try await space.apply(Array(all.dropFirst(2)))
        } throws: { error in
            guard case .refused(.gap, _) = error as? ServerError else { return false }
            return true
        }
        #expect(try await space.knowledge().isEmpty)
        _ = try await space.apply(Array(all.prefix(5)))
        // The same dot with other content: a copied replica file.
        guard case var .change(change) = all[4] else { Issue.record("expected a change"); return }
        change.value = "something else"
        await #expect {
            _ = try await space.apply([.change(change)])
        } throws: { error in
            guard case .refused(.copiedReplica, _) = error as? ServerError else { return false }
            return true
        }
        #expect(try await space.digest(at: change.dot) == all[4].digestForTest)
        await storage.close()
    }

    /// A copy of the phone's file that wrote more changes than the phone, pushed after another
    /// device replaced the phone's last change on the server: the dot the copy reuses is no
    /// longer a live change there, only the top of a replaced range, and it is still refused.
    @Test(arguments: Backend.available)
    func aCopyThatWroteMoreIsRefusedWhereTheChangeItReusesWasReplaced(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let phone = try ReplicaStore.inMemory()
        try phone.save(SaveRequest(url: "https://example.com/a", title: "first"))
        try phone.edit("https://example.com/a", [Fields.title: "the phone's"])
        let phoneEntries = try phone.outgoing(for: VersionVector(), limit: 1000).flatMap(\.expanded)
        _ = try await space.apply(phoneEntries)
        let laptop = try ReplicaStore.inMemory()
        _ = try laptop.apply(try await space.outgoing(for: VersionVector(), limit: 1000))
        try laptop.edit("https://example.com/a", [Fields.title: "the laptop's"])
        _ = try await space.apply(try laptop.outgoing(for: try phone.knowledge(), limit: 1000))
        guard case let .change(head) = phoneEntries.last, head.field == Fields.title else { Issue.record("expected the title edit last"); return }
        #expect(try await space.digest(at: head.dot) == head.digest) // held only as a replaced range's top now
        // The copy wrote its own title under the phone's last dot, then one more change.
        var reused = head
        reused.value = "the copy's"
        var context = reused.context
        context[head.dot.replica] = head.dot.counter
        let more = Change(
            dot: Dot(head.dot.replica, head.dot.counter + 1), entity: head.entity, field: Fields.title, value: "the copy's second",
            context: context, hlc: HLC(rawValue: head.hlc.rawValue + 1))
        let before = try await space.knowledge()
        await #expect {
            _ = try await space.apply([.change(reused), .change(more)])
        } throws: { error in
            guard case .refused(.copiedReplica, _) = error as? ServerError else { return false }
            return true
        }
        #expect(try await space.knowledge() == before)
        #expect(try await space.digest(at: more.dot) == nil)
        await storage.close()
    }

    /// One log algorithm on three stores: the same pages, with concurrent
    /// edits that replace changes inside runs and next to each other, leave the
    /// backend's log and a bare replica's (the third store) holding the same
    /// live changes and the same merged replaced ranges, and count the same duplicates.
    @Test(arguments: Backend.available)
    func theSamePagesLeaveTheSameLogAsAReplica(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let mirror = try ReplicaStore.inMemory()
        func push(_ from: ReplicaStore) async throws {
            let page = try from.outgoing(for: try await space.knowledge(), limit: 1000)
            let stored = try await space.apply(page), mirrored = try mirror.apply(page)
            #expect(stored.appliedChanges == mirrored.appliedChanges && stored.knowledge == mirrored.knowledge)
            let storedAgain = try await space.apply(page), mirroredAgain = try mirror.apply(page)
            #expect(storedAgain.duplicates == mirroredAgain.duplicates && storedAgain.appliedChanges == 0)
        }
        let phone = try ReplicaStore.inMemory(), laptop = try ReplicaStore.inMemory()
        for index in 0..<3 { try phone.save(SaveRequest(url: "https://example.com/\(index)", title: "t\(index)", tags: ["x", "y"])) }
        // Replaced dots next to each other: each edit of the title replaces the last.
        for round in 0..<3 { try phone.edit("https://example.com/1", [Fields.title: .string("phone \(round)")]) }
        try await push(phone)
        _ = try laptop.apply(try await space.outgoing(for: VersionVector(), limit: 1000))
        // Replaced dots inside the phone's runs (a save's tag and title), and the phone's last edit.
        try laptop.edit("https://example.com/0", [Fields.title: "laptop"])
        try laptop.setTags("https://example.com/0", ["x"], present: false)
        try laptop.edit("https://example.com/1", [Fields.title: "laptop's"])
        try laptop.delete("https://example.com/2")
        try await push(laptop)
        func log(_ entries: [LogEntry]) -> Set<LogEntry> { Set(entries.flatMap(\.expanded)) }
        let stored = log(try await space.outgoing(for: VersionVector(), limit: 1000))
        #expect(stored == log(try mirror.outgoing(for: VersionVector(), limit: 1000)))
        #expect(stored.contains { if case .replaced = $0 { true } else { false } })
        #expect(try await space.heads() == (try mirror.heads()))
        #expect(try mirror.checkInvariants() == [])
        await storage.close()
    }

    @Test(arguments: Backend.available)
    func usersAreIsolated(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (alice, _) = try await user(storage)
        let (bob, _) = try await user(storage)
        let phone = try replicaWithHistory()
        _ = try await storage.space(for: alice).apply(try phone.outgoing(for: VersionVector(), limit: 1000))
        let bobs = try await storage.space(for: bob)
        #expect(try await bobs.knowledge().isEmpty)
        #expect(try await bobs.outgoing(for: VersionVector(), limit: 1000).isEmpty)
        #expect(try await bobs.heads().isEmpty)
        await storage.close()
    }

    @Test(arguments: Backend.available)
    func acknowledgementsHorizonAndCollections(_ backend: Backend) async throws {
        let storage = try await backend.makeStorage()
        let (owner, _) = try await user(storage)
        let space = try await storage.space(for: owner)
        let phone = try replicaWithHistory()
        let laptop = try ReplicaStore.inMemory()
        _ = try await space.apply(try phone.outgoing(for: VersionVector(), limit: 1000))
        let everything = try phone.knowledge()
        try await space.recordReplica(phone.replicaID, acknowledged: everything, at: 1000)
        try await space.registerReplicas([laptop.replicaID], at: 1000)
        #expect(try await space.lastSeen(laptop.replicaID) == 1000)
        #expect(try await space.horizon(activeSince: 0).isEmpty, "the laptop has acknowledged nothing")
        #expect(try await space.collectGarbage(horizon: try await space.horizon(activeSince: 0), at: 1000, keepSince: 0) == 0)
        try await space.recordReplica(laptop.replicaID, acknowledged: everything, at: 2000)
        #expect(try await space.horizon(activeSince: 0) == everything)
        #expect(try await space.horizon(activeSince: 1500) == everything)
        #expect(try await space.collectGarbage(horizon: everything, at: 2000, keepSince: 0) == 1)
        let collections = try await space.collections(after: nil)
        #expect(collections.map(\.article) == [ArticleID(url: try NormalizedURL("https://example.com/3")).rawValue])
        #expect(collections.first?.horizon == everything)
        #expect(try await space.collections(after: collections.last?.seq).isEmpty)
        // A new replica gets no change of the collected article, and the same list.
        let fresh = try ReplicaStore.inMemory()
        try fresh.apply(try await space.outgoing(for: VersionVector(), limit: 1000))
        #expect(try fresh.articles() == phone.articles())
        #expect(!(try fresh.liveChanges()).contains { $0.entity.id.hasPrefix(collections[0].article) })
        #expect(try fresh.checkInvariants() == [])
        // Old records are dropped after the retention.
        _ = try await space.collectGarbage(horizon: everything, at: 5000, keepSince: 3000)
        #expect(try await space.collections(after: nil).isEmpty)
        await storage.close()
    }
}

extension LogEntry {
    var digestForTest: UInt64? {
        if case let .change(change) = self { return change.digest }
        return nil
    }
}

@Suite("PostgreSQL connection loss", .enabled(if: postgresURL != nil || inCI, "no PostgreSQL server (run scripts/with-postgres swift test)"))
struct ConnectionLossTests {
    @Test func aConnectionLostDuringASyncGivesA503AndTheRetrySucceeds() async throws {
        // A database of its own: the test kills every connection to it.
        let url = try await PostgresKiller.freshDatabase()
        var quiet = Logger(label: "test")
        quiet.logLevel = .error
        let kills = Counter()
        // The first page's transaction loses its connection just before COMMIT, as in a failover.
        let storage = try await PostgresServerStorage(url: url, logger: quiet, beforeCommit: {
            if kills.increment() == 1 { try? await PostgresKiller.terminateOtherBackends(url) }
        })
        let service = SyncService(storage: storage, now: ReplicaStore.wallClock)
        let token = Tokens.generate()
        let user = try await storage.addUser(name: "loss-\(UUID().uuidString)", tokenHash: Tokens.hash(token))
        let phone = try ReplicaStore.inMemory()
        for index in 0..<60 { try phone.save(SaveRequest(url: "https://example.com/\(index)")) }
        let transport = ClosureTransport { request throws(SyncTransportError) in
            do throws(ServerError) { return try await service.handle(request, for: user) } catch {
                let failure: ServerError = error
                switch failure {
                case let ServerError.refused(code, message): throw SyncTransportError.rejected(status: code.httpStatus, code: code, message: message)
                case let ServerError.storage(message): throw SyncTransportError.rejected(status: 503, code: .unavailable, message: message.description)
                case let ServerError.invalidAdminRequest(message): throw SyncTransportError.rejected(status: 400, code: .malformedRequest, message: message)
                }
            }
        }
        let report = try await ServerSync(pageSize: 5000, retryPolicy: RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(50)))
            .run(store: phone, transport: transport, partner: "server")
        #expect(report.pushed == 180)
        #expect(report.retries >= 1, "the lost connection was answered with a retryable 503")
        let laptop = try ReplicaStore.inMemory()
        _ = try await ServerSync().run(store: laptop, transport: transport, partner: "server")
        #expect(try laptop.articles().count == 60)
        #expect(try laptop.articles() == phone.articles())
        await storage.close()
    }
}

enum PostgresKiller {
    static func connect(_ url: String) async throws -> PostgresConnection {
        let components = try #require(URLComponents(string: url))
        var logger = Logger(label: "killer")
        logger.logLevel = .critical
        return try await PostgresConnection.connect(
            configuration: .init(host: components.host!, port: components.port ?? 5432, username: components.user!, password: components.password,
                                 database: String(components.path.dropFirst()), tls: .disable),
            id: 1, logger: logger)
    }

    /// Creates a database on the test cluster and returns its URL.
    static func freshDatabase() async throws -> String {
        let base = try #require(postgresURL)
        let name = "rl_loss_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        let connection = try await connect(base)
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "killer"))
        try await connection.close()
        return String(base[..<base.lastIndex(of: "/")!]) + "/" + name
    }

    static func terminateOtherBackends(_ url: String) async throws {
        let components = try #require(URLComponents(string: url))
        guard let host = components.host, let user = components.user else { return }
        var logger = Logger(label: "killer")
        logger.logLevel = .critical
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: host, port: components.port ?? 5432, username: user, password: components.password,
                                 database: String(components.path.dropFirst()), tls: .disable),
            id: 1, logger: logger)
        try await connection.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            logger: logger)
        try await connection.close()
    }
}
