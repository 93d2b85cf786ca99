import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import ReplicaStore
import Logging
import NIOCore
import NIOWebSocket
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
import Synchronization
import Testing

/// A task executor with one thread of its own, for the push clients of these
/// tests. The test process's global concurrent executor has one thread per
/// core, and the end-to-end suites, run in parallel, hold them in synchronous
/// waits for the child processes they run (`CLI.run`, a server's start and
/// stop): with two cores, two such waits stop every other task of the process,
/// for 20 s and more on a loaded machine. A push client on that executor then
/// reads no hello and no error until they end ("the channel did not open
/// within 30 s"). On a thread of their own, the clients go on regardless.
/// (Hand-written: no listed package offers a `TaskExecutor` on its own thread.)
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    /// The one the tests' push clients share (their work is small: frames, a callback).
    static let shared = DedicatedExecutor(name: "push-test-clients")

    // (Guarded by `condition`.)
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() -> Never {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// One device's push channel, read by a task of its own: what it received,
/// whether it is open, how it ended.
final class Watcher: Sendable {
    final class State: Sendable {
        let notices = Mutex<[PushNotice]>([])
        let hello = Mutex<PushHello?>(nil)
        /// nil while running; then `.some(nil)` for a clean finish, or the error.
        let ending = Mutex<(any Error)??>(nil)
    }

    let state: State
    private let task: Task<Void, Never>

    init(_ client: PushChannelClient, knowledge: VersionVector? = nil) {
        let state = State()
        self.state = state
        let stream = client.notices(knowledge: knowledge, connected: { received in state.hello.withLock { $0 = received } })
        task = Task {
            do {
                for try await notice in stream { state.notices.withLock { $0.append(notice) } }
                state.ending.withLock { $0 = .some(nil) }
            } catch {
                state.ending.withLock { $0 = .some(error) }
            }
        }
    }

    var hello: PushHello? { state.hello.withLock { $0 } }

    /// A client on ``DedicatedExecutor`` (nil: on the global concurrent executor).
    convenience init(
        server: String, token: String, replica: ReplicaID, knowledge: VersionVector? = nil,
        executor: (any TaskExecutor)? = DedicatedExecutor.shared
    ) throws {
        self.init(
            PushChannelClient(server: try ServerAddress(validating: server), token: token, replica: replica, executor: executor),
            knowledge: knowledge)
    }

    /// Waits (checking every 10 ms, up to `seconds`: generous, for a loaded machine) until `condition` holds.
    @discardableResult
    func wait(seconds: Double = 30, until condition: (Watcher) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }

    var isOpen: Bool { hello != nil && !hasEnded }
    var hasEnded: Bool { state.ending.withLock { $0 != nil } }
    var received: [PushNotice] { state.notices.withLock { $0 } }
    var error: (any Error)? { state.ending.withLock { $0 ?? nil } }

    /// Waits until the channel is open (the server's hello came).
    func opened(sourceLocation: SourceLocation = #_sourceLocation) async {
        let open = await wait { $0.isOpen }
        #expect(open, "the push channel did not open: \(String(describing: error))", sourceLocation: sourceLocation)
    }

    func stop() { task.cancel() }
    deinit { task.cancel() }
}

/// A replica file driven by the `readinglist` CLI, and its replica id.
func device(_ cli: CLI, _ name: String) throws -> ReplicaID {
    try cli.on(name, "add", "https://example.com/\(name)/first", "--title", "First of \(name)")
    let status = try #require(try cli.json(name, "status") as? [String: Any])
    let text = try #require(status["replicaID"] as? String)
    return try #require(ReplicaID(text))
}

/// The server's refusal of a push channel, as the client reports it.
func refusal(_ watcher: Watcher) -> (status: Int, code: SyncErrorCode)? {
    guard case let .rejected(status, code, _)? = watcher.error as? SyncTransportError else { return nil }
    return (status, code)
}

@Suite("Push channel, end to end", .serialized)
struct PushChannelEndToEndTests {
    /// Devices of one user are woken by each other's syncs, never by their
    /// own, and never by another user's.
    @Test func wakesTheUsersOtherDevicesOnly() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let bob = try ServerProcess.addUser("bob", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let phone = try device(cli, "phone"), laptop = try device(cli, "laptop"), bobsPhone = try device(cli, "bobs-phone")
        _ = try device(cli, "bobs-laptop")
        // Every device joins the lists first (the first sync binds it).
        for (name, token) in [("phone", alice), ("laptop", alice), ("bobs-phone", bob), ("bobs-laptop", bob)] {
            try cli.on(name, "sync", "--server", server.url, "--token", token)
        }
        let phoneWatch = try Watcher(server: server.url, token: alice, replica: phone)
        let laptopWatch = try Watcher(server: server.url, token: alice, replica: laptop)
        let bobWatch = try Watcher(server: server.url, token: bob, replica: bobsPhone)
        for watcher in [phoneWatch, laptopWatch, bobWatch] { await watcher.opened() }
        #expect(phoneWatch.hello?.account.name == "alice")
        #expect(bobWatch.hello?.replica == bobsPhone)

        // Alice's phone stores one change: her laptop is woken.
        try cli.on("phone", "add", "https://example.com/from-phone", "--title", "From the phone")
        try cli.on("phone", "sync")
        #expect(await laptopWatch.wait { !$0.received.isEmpty })
        #expect(laptopWatch.received.first?.changes ?? 0 >= 1)
        // Bob's laptop stores three: only Bob's phone is woken, and that is the first notice it ever got.
        for index in 0..<3 { try cli.on("bobs-laptop", "add", "https://example.com/bob/\(index)", "--title", "Bob \(index)") }
        try cli.on("bobs-laptop", "sync")
        #expect(await bobWatch.wait { !$0.received.isEmpty })
        #expect(bobWatch.received.count == 1)
        #expect(bobWatch.received.first?.changes ?? 0 >= 3, "Bob's phone heard of Alice's edit: \(bobWatch.received)")
        // The laptop answers: the phone's first notice is that one (its own sync woke nothing).
        try cli.on("laptop", "sync")
        try cli.on("laptop", "edit", "https://example.com/from-phone", "--title", "Edited on the laptop")
        try cli.on("laptop", "sync")
        #expect(await phoneWatch.wait { !$0.received.isEmpty })
        #expect(phoneWatch.received.count == 1)
        // A sync that stores nothing wakes nobody.
        try cli.on("phone", "sync")
        try await Task.sleep(for: .milliseconds(200))
        #expect(laptopWatch.received.count == 1)
        #expect(bobWatch.received.count == 1)
        for watcher in [phoneWatch, laptopWatch, bobWatch] {
            #expect(!watcher.hasEnded)
            watcher.stop()
        }
    }

    /// No token, a wrong one, a bad replica id, too many connections, a
    /// garbage frame: each refused clearly; the server keeps serving the others.
    @Test func badInputIsRefusedAndOthersAreServed() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let bob = try ServerProcess.addUser("bob", database: database)
        let server = try ServerProcess(database: database, arguments: ["--max-push-connections-per-user", "2", "--max-push-connections", "3"])
        defer { server.stop() }
        let replica = try device(cli, "phone")
        try cli.on("phone", "sync", "--server", server.url, "--token", alice)

        // No token and a wrong one: 401 unauthorized.
        let none = try Watcher(server: server.url, token: "", replica: replica)
        let wrong = try Watcher(server: server.url, token: "rl_" + String(repeating: "0", count: 64), replica: replica)
        for watcher in [none, wrong] {
            #expect(await watcher.wait { $0.hasEnded })
            #expect(refusal(watcher)?.status == 401)
            #expect(refusal(watcher)?.code == .unauthorized)
        }
        // The same refusal as JSON, for a plain GET (what the client asks after a refused upgrade).
        var request = HTTPClientRequest(url: server.url + "/v1/events?replica=" + replica.rawValue)
        request.headers.add(name: "Authorization", value: "Bearer wrong")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 401)
        let body = try await response.body.collect(upTo: 1 << 16)
        #expect(try JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: body)).error.code == .unauthorized)

        // Too many: two of Alice's are open, a third is refused; Bob still gets his (the total is 3), then a fourth is refused.
        let first = try Watcher(server: server.url, token: alice, replica: replica)
        let second = try Watcher(server: server.url, token: alice, replica: try #require(ReplicaID(String(repeating: "1", count: 32))))
        await first.opened()
        await second.opened()
        let third = try Watcher(server: server.url, token: alice, replica: replica)
        #expect(await third.wait { $0.hasEnded })
        #expect(refusal(third)?.status == 429)
        #expect(refusal(third)?.code == .tooManyConnections)
        // The upgrade itself is answered with the refusal: status and JSON error, as the sync route answers.
        let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
        let (tooMany, _) = try await Task.detached { try SilentPeer.run(port: port, token: alice) }.value
        #expect(tooMany.hasPrefix("HTTP/1.1 429"), "\(tooMany.prefix(300))")
        #expect(tooMany.contains(#"{"error":{"code":"too_many_connections","message":"#), "\(tooMany)")
        let (unknown, _) = try await Task.detached { try SilentPeer.run(port: port, token: "rl_unknown") }.value
        #expect(unknown.hasPrefix("HTTP/1.1 401"), "\(unknown.prefix(300))")
        #expect(unknown.contains("WWW-Authenticate: Bearer"))
        #expect(unknown.contains(#"{"error":{"code":"unauthorized","message":"unknown or revoked token","retryable":false}}"#), "\(unknown)")
        let bobs = try Watcher(server: server.url, token: bob, replica: try #require(ReplicaID(String(repeating: "2", count: 32))))
        await bobs.opened()
        let fourth = try Watcher(server: server.url, token: bob, replica: try #require(ReplicaID(String(repeating: "3", count: 32))))
        #expect(await fourth.wait { $0.hasEnded })
        #expect(refusal(fourth)?.code == .tooManyConnections)

        // A bad replica id: 400 malformed_request, saying what is wrong.
        let bad = try await HTTPClient.shared.execute(
            { var request = HTTPClientRequest(url: server.url + "/v1/events?replica=nope"); request.headers.add(name: "Authorization", value: "Bearer \(alice)"); return request }(),
            timeout: .seconds(10))
        #expect(bad.status.code == 400)

        // A client that sends a frame is closed with 1003 (unacceptable data); nothing else is disturbed.
        second.stop()
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = [.authorization: "Bearer \(alice)"]
        try await Task.sleep(for: .milliseconds(200))  // The stopped channel's slot is released.
        let frame = try await WebSocketClient.connect(
            url: "ws" + server.url.dropFirst("http".count) + "/v1/events?replica=" + String(repeating: "4", count: 32),
            configuration: configuration, logger: Logger(label: "test")
        ) { inbound, outbound, _ in
            try await outbound.write(.text("{\"type\":\"garbage\"}"))
            for try await _ in inbound {}
        }
        #expect(frame?.closeCode == .unacceptableData)

        // Still serving: Alice's open channel is woken by another device's sync.
        _ = try device(cli, "tablet")
        try cli.on("tablet", "sync", "--server", server.url, "--token", alice)
        #expect(await first.wait { !$0.received.isEmpty })
        #expect(!first.hasEnded)
        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: server.url + "/health"), timeout: .seconds(10))
        #expect(health.status == .ok)
        for watcher in [first, bobs] { watcher.stop() }
    }

    /// The hello says whether the replica is behind (or ahead of) the list, judged from the
    /// knowledge the client states; without one it says nothing; a malformed
    /// one is refused.
    @Test func theHelloSaysWhetherTheReplicaIsBehind() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let phone = try device(cli, "phone"), laptop = try device(cli, "laptop")
        // The phone syncs first, then the laptop (which pulls the phone's article): the laptop has all of the list, the phone not the laptop's.
        try cli.on("phone", "sync", "--server", server.url, "--token", alice)
        try cli.on("laptop", "sync", "--server", server.url, "--token", alice)
        func knowledge(_ name: String) throws -> VersionVector {
            let store = try ReplicaStore.open(path: cli.path(name))
            defer { try? store.close() }
            return try store.knowledge()
        }
        let current = try Watcher(server: server.url, token: alice, replica: laptop, knowledge: try knowledge("laptop"))
        let behind = try Watcher(server: server.url, token: alice, replica: phone, knowledge: try knowledge("phone"))
        let silent = try Watcher(server: server.url, token: alice, replica: phone)
        for watcher in [current, behind, silent] { await watcher.opened() }
        #expect(current.hello?.behind == false && current.hello?.ahead == false)
        #expect(current.hello?.upToDate == true)
        #expect(behind.hello?.behind == true && behind.hello?.ahead == false)
        #expect(silent.hello?.behind == nil && silent.hello?.ahead == nil, "no knowledge stated, nothing said")
        #expect(silent.hello?.upToDate == false)
        // The phone syncs: it has everything now.
        try cli.on("phone", "sync")
        let caughtUp = try Watcher(server: server.url, token: alice, replica: phone, knowledge: try knowledge("phone"))
        await caughtUp.opened()
        #expect(caughtUp.hello?.upToDate == true)
        // An edit the server has not received yet: the phone is ahead.
        try cli.on("phone", "add", "https://example.com/not-pushed", "--title", "Not pushed yet")
        let ahead = try Watcher(server: server.url, token: alice, replica: phone, knowledge: try knowledge("phone"))
        await ahead.opened()
        #expect(ahead.hello?.behind == false && ahead.hello?.ahead == true)
        for watcher in [current, behind, silent, caughtUp, ahead] { watcher.stop() }

        // A knowledge that is not a version vector: 400 malformed_request, naming the header.
        var request = HTTPClientRequest(url: server.url + "/v1/events?replica=" + phone.rawValue)
        request.headers.add(name: "Authorization", value: "Bearer \(alice)")
        request.headers.add(name: PushHello.knowledgeHeader, value: "not-a-vector")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 400)
        let body = try await response.body.collect(upTo: 1 << 16)
        let error = try JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: body)).error
        #expect(error.code == .malformedRequest)
        #expect(error.message.contains(PushHello.knowledgeHeader), "\(error.message)")
    }

    /// A push client opens its channel while every thread of the global
    /// concurrent executor is held by synchronous code, as the parallel
    /// end-to-end suites hold them waiting for their child processes: its
    /// connection runs on an executor of its own (``PushChannelClient/executor``).
    /// (On the global executor the hello waits until the threads are
    /// released: this test then fails, as the push suites did in loaded runs.)
    @Test func aChannelOpensWhileTheCooperativeThreadsAreHeld() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let replica = try #require(ReplicaID(String(repeating: "e", count: 32)))
        let threads = ProcessInfo.processInfo.activeProcessorCount
        final class Shared: Sendable {
            let started = Mutex(0)
            let released = Mutex(false)
            /// Whether the hello came while every thread was held, and after how long.
            let opened = Mutex<(Bool, Double)?>(nil)
            let watcher = Mutex<Watcher?>(nil)
        }
        let shared = Shared()
        let url = server.url
        // One task per thread of the global executor, each holding its thread (sleeping, not awaiting) until released.
        let holders = (0..<threads).map { index in
            Task.detached {
                shared.started.withLock { $0 += 1 }
                let limit = ContinuousClock.now + .seconds(20)
                // Every thread taken (others' jobs finish meanwhile), then the first holder opens a channel and waits for its hello, holding its thread.
                while shared.started.withLock({ $0 }) < threads && ContinuousClock.now < limit { usleep(1_000) }
                if index == 0 {
                    let watcher = try? Watcher(server: url, token: alice, replica: replica)
                    shared.watcher.withLock { $0 = watcher }
                    let asked = ContinuousClock.now
                    while watcher?.hello == nil && ContinuousClock.now < asked + .seconds(10) { usleep(1_000) }
                    let waited = ContinuousClock.now - asked
                    shared.opened.withLock { $0 = (watcher?.hello != nil, Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18) }
                    shared.released.withLock { $0 = true }
                } else {
                    while !shared.released.withLock({ $0 }) && ContinuousClock.now < limit { usleep(1_000) }
                }
            }
        }
        for holder in holders { await holder.value }
        let (opened, seconds) = try #require(shared.opened.withLock { $0 })
        #expect(opened, "no hello within 10 s while the global executor's \(threads) threads were held")
        #expect(seconds < 10)
        shared.watcher.withLock { $0 }?.stop()
    }

    /// The channel's flags are checked like the others: one line, before anything is opened.
    @Test func pushFlagsAreChecked() throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        for (flag, value, message) in [
            ("--max-push-connections-per-user", "0", "--max-push-connections-per-user must be at least 1, not 0"),
            ("--max-push-connections", "-5", "--max-push-connections must be at least 1, not -5"),
            ("--push-heartbeat-seconds", "0", "--push-heartbeat-seconds must be 1 to 3600, not 0"),
        ] {
            let result = try ServerProcess.runServerCommand(["serve", "--db", database, "--port", "0", flag, value])
            #expect(result.status == 1)
            #expect(result.stderr == "error: \(message)\n", "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: database), "a refused flag created the database")
        let help = try ServerProcess.runServerCommand(["serve", "--help"])
        for flag in ["--max-push-connections-per-user", "--max-push-connections", "--push-heartbeat-seconds"] { #expect(help.stdout.contains(flag)) }
    }

    /// Revoking a token closes its channels (1008: the client reports `unauthorized`);
    /// a new token for the user opens one again.
    @Test func revokingATokenClosesItsChannels() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let bob = try ServerProcess.addUser("bob", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let phone = try device(cli, "phone")
        let watcher = try Watcher(server: server.url, token: alice, replica: phone)
        let bobs = try Watcher(server: server.url, token: bob, replica: phone)
        await watcher.opened()
        await bobs.opened()
        let revoked = try ServerProcess.runServerCommand(["user", "revoke", "alice", "--db", database])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(await watcher.wait { $0.hasEnded })
        #expect(refusal(watcher)?.code == .unauthorized)
        // Bob's channel stays open.
        try await Task.sleep(for: .milliseconds(200))
        #expect(bobs.isOpen)
        let renewed = try ServerProcess.runServerCommand(["user", "token", "alice", "--db", database])
        #expect(renewed.status == 0, "\(renewed.stderr)")
        let again = try Watcher(server: server.url, token: renewed.stdout.trimmingCharacters(in: .whitespacesAndNewlines), replica: phone)
        await again.opened()
        // Bob's new token closes Bob's old channel.
        _ = try ServerProcess.runServerCommand(["user", "token", "bob", "--db", database])
        #expect(await bobs.wait { $0.hasEnded })
        #expect(refusal(bobs)?.code == .unauthorized)
        #expect(again.isOpen)
        again.stop()
    }

    /// A peer that answers no ping (a phone gone from the network without a
    /// word) is closed within two heartbeats; a live one stays open.
    @Test func heartbeatsCloseSilentPeers() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database, arguments: ["--push-heartbeat-seconds", "1"])
        defer { server.stop() }
        let live = try Watcher(server: server.url, token: alice, replica: try #require(ReplicaID(String(repeating: "8", count: 32))))
        await live.opened()
        #expect(live.hello?.heartbeatSeconds == 1)
        // A raw socket that upgrades, then only reads: it never answers a ping.
        let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
        let (bytes, seconds) = try await Task.detached { try SilentPeer.run(port: port, token: alice) }.value
        #expect(bytes.hasPrefix("HTTP/1.1 101"), "\(bytes.prefix(200))")
        #expect(bytes.contains("Ping timeout"), "the server should close with a reason")
        #expect(seconds < 6, "closed after \(seconds) s")
        #expect(live.isOpen, "a peer that answers pings stays open")
        live.stop()
    }

    /// A server that dies without closing (SIGKILL) leaves the client an
    /// `unreachable` error (retryable: reconnect with a backoff), not a clean finish.
    @Test func aKilledServerIsReportedUnreachable() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        let watcher = try Watcher(server: server.url, token: alice, replica: try #require(ReplicaID(String(repeating: "c", count: 32))))
        await watcher.opened()
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        #expect(await watcher.wait { $0.hasEnded })
        guard case .unreachable? = watcher.error as? SyncTransportError else {
            Issue.record("expected unreachable, got \(String(describing: watcher.error))")
            return
        }
        #expect((watcher.error as? SyncTransportError)?.isRetryable == true)
        // And nothing answering at all is `unreachable` too.
        let refused = try Watcher(server: server.url, token: alice, replica: try #require(ReplicaID(String(repeating: "d", count: 32))))
        #expect(await refused.wait { $0.hasEnded })
        guard case .unreachable? = refused.error as? SyncTransportError else {
            Issue.record("expected unreachable, got \(String(describing: refused.error))")
            return
        }
    }

    /// SIGTERM closes every channel with 1001 (going away): the client's stream finishes without an error.
    @Test func shutdownClosesChannelsCleanly() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let alice = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        let phone = try device(cli, "phone")
        let watcher = try Watcher(server: server.url, token: alice, replica: phone)
        await watcher.opened()
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = [.authorization: "Bearer \(alice)"]
        let raw = Task { [configuration, url = server.url] () async throws -> WebSocketErrorCode? in
            let frame = try await WebSocketClient.connect(
                url: "ws" + url.dropFirst("http".count) + "/v1/events?replica=" + String(repeating: "5", count: 32),
                configuration: configuration, logger: Logger(label: "test")
            ) { inbound, _, _ in
                for try await _ in inbound {}
            }
            return frame?.closeCode
        }
        try await Task.sleep(for: .milliseconds(300))
        let (status, log) = server.stop()
        #expect(status == 0)
        #expect(await watcher.wait { $0.hasEnded })
        #expect(watcher.error == nil, "the stream should finish cleanly: \(String(describing: watcher.error))")
        #expect(try await raw.value == .goingAway)
        #expect(log.contains("closing push connections"))
    }
}

/// Two server processes on one PostgreSQL database: a sync through one wakes
/// the watchers connected to the other (LISTEN/NOTIFY), and a token revoked
/// through either closes channels on both.
@Suite("Push channel across server processes", .serialized,
       .enabled(if: postgresURL != nil || inCI, "no PostgreSQL server: run scripts/with-postgres swift test (CI always does)"))
struct PushChannelPostgresTests {
    @Test func anEditThroughOneServerWakesWatchersOfTheOther() async throws {
        let cli = try CLI()
        let database = try freshDatabase()
        let first = try ServerProcess(database: database)
        defer { first.stop() }
        let second = try ServerProcess(database: database)
        defer { second.stop() }
        let alice = try ServerProcess.addUser("alice", database: database)
        let bob = try ServerProcess.addUser("bob", database: database)
        _ = try device(cli, "phone")
        let laptop = try device(cli, "laptop")
        try cli.on("phone", "sync", "--server", first.url, "--token", alice)
        try cli.on("laptop", "sync", "--server", second.url, "--token", alice)
        // Watchers on both processes; Bob's too.
        let onSecond = try Watcher(server: second.url, token: alice, replica: laptop)
        let onFirst = try Watcher(server: first.url, token: alice, replica: try #require(ReplicaID(String(repeating: "6", count: 32))))
        let bobs = try Watcher(server: second.url, token: bob, replica: try #require(ReplicaID(String(repeating: "7", count: 32))))
        for watcher in [onSecond, onFirst, bobs] { await watcher.opened() }
        try cli.on("phone", "add", "https://example.com/through-first", "--title", "Through the first server")
        try cli.on("phone", "sync")
        #expect(await onSecond.wait { !$0.received.isEmpty }, "the watcher on the other process was not woken")
        #expect(await onFirst.wait { !$0.received.isEmpty })
        try await Task.sleep(for: .milliseconds(200))
        #expect(bobs.received.isEmpty)
        // Revoked through the command line (a third process): closed on both servers.
        let revoked = try ServerProcess.runServerCommand(["user", "revoke", "alice", "--postgres", database])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(await onSecond.wait { $0.hasEnded })
        #expect(await onFirst.wait { $0.hasEnded })
        #expect(refusal(onSecond)?.code == .unauthorized)
        #expect(bobs.isOpen)
        bobs.stop()
    }
}

/// A WebSocket client on a bare socket that upgrades and then never writes
/// (so never answers a ping): what it read until the server closed, and when.
enum SilentPeer {
    static func run(port: Int, token: String) throws -> (String, Double) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw PeerFailure(description: "socket() failed") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw PeerFailure(description: "connect() failed") }
        let request = "GET /v1/events?replica=\(String(repeating: "9", count: 32)) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "Authorization: Bearer \(token)\r\n\r\n"
        _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
        let started = ContinuousClock.now
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        let elapsed = ContinuousClock.now - started
        return (String(decoding: received, as: UTF8.self), Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

struct PeerFailure: Error, CustomStringConvertible {
    var description: String
}
