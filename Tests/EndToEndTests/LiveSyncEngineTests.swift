import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import Synchronization
import Testing

/// `LiveSync` as an app runs it, in this process, against the real server
/// process: it resumes after the app restarts, a burst goes in few rounds, and
/// a revoked token makes it say the user must rejoin.
@Suite("LiveSync in an app, against the real server", .serialized)
struct LiveSyncEngineTests {
    /// A running engine and what it published.
    final class App: Sendable {
        let live: LiveSync
        let task: Task<Void, Never>
        let followers: [Task<Void, Never>]

        init(store: ReplicaStore, server: String, token: String) throws {
            let address = try ServerAddress(validating: server)
            let transport = HTTPSyncTransport(address: address, token: token)
            // (The engine and its channel run on an executor of their own: see ``DedicatedExecutor``.)
            let push = PushChannelClient(server: address, token: token, replica: store.replicaID, executor: DedicatedExecutor.shared)
            live = LiveSync(store: store, transport: transport, partner: server, channel: LiveSync.channel(push, store: store))
            let stateStream = live.states(), roundStream = live.rounds()
            let box = Box()
            followers = [
                Task { for await state in stateStream { box.states.withLock { $0.append(state) } } },
                Task { for await round in roundStream { box.rounds.withLock { $0.append(round) } } },
            ]
            self.box = box
            let live = live
            task = Task(executorPreference: DedicatedExecutor.shared) {
                await live.run()
                await transport.shutdown()
            }
        }

        final class Box: Sendable {
            let states = Mutex<[LiveSync.State]>([])
            let rounds = Mutex<[LiveSync.Round]>([])
        }
        let box: Box

        var roundCount: Int { box.rounds.withLock { $0.count } }

        func stop() async {
            task.cancel()
            await task.value
            for follower in followers { await follower.value }
        }
    }

    @Test func anAppsEngineResumesAfterARestartAndStopsOnARevokedToken() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let token = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let path = cli.path("app.sqlite")
        try cli.on("app.sqlite", "add", "https://example.com/a", "--title", "A")
        try cli.on("app.sqlite", "sync", "--server", server.url, "--token", token)

        let url = server.url
        // The app runs: a burst of ten saves is pushed in a round or two, not ten.
        let first = try ReplicaStore.open(path: path)
        let running = try App(store: first, server: url, token: token)
        try await eventually("the engine's first round") { running.live.state == .idle }
        let roundsBefore = running.roundCount
        for index in 0..<10 { try first.save(SaveRequest(url: "https://example.com/burst/\(index)")) }
        try await eventually("the burst pushed") { try first.syncState().pendingChanges == 0 && running.live.state == .idle }
        #expect(running.roundCount - roundsBefore <= 4, "a burst of 10 saves took \(running.roundCount - roundsBefore) rounds")

        // The app closes, edits offline (no engine), and opens again: its first round pushes them.
        await running.stop()
        _ = try first.edit("https://example.com/a", [Fields.title: "Edited while closed"])
        try first.close()
        let store = try ReplicaStore.open(path: path)
        let app = try App(store: store, server: url, token: token)
        try await eventually("the edit made while closed on the server") {
            try cli.on("phone.sqlite", "sync", "--server", url, "--token", token).contains("pulled")
                && (try cli.on("phone.sqlite", "show", "https://example.com/a").contains("Edited while closed"))
        }

        // The token is revoked: the next round is refused, and the engine says the user must rejoin.
        let revoked = try ServerProcess.runServerCommand(["user", "revoke", "alice", "--db", database])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        try store.save(SaveRequest(url: "https://example.com/after-revoke"))
        try await eventually("the engine to stop on the revoked token") {
            if case .mustRejoin = app.live.state { return true }
            return false
        }
        await app.stop()
        try store.close()
    }
}
