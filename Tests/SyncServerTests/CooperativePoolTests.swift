import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import SyncProtocol
@testable import SyncServer
@testable import SyncServerCore
import Synchronization
import Testing

/// A user's list is one SQLite connection, held by each write until it is
/// on disk (a push and its `fsync`, a chunk of a catch-up). Requests for
/// that list wait for it off the cooperative pool, so that everybody else
/// is still served; and they wait holding no thread of the blocking pool
/// either, so that many of them cannot take every thread the other users'
/// pushes need.
///
/// Each test holds Alice's list in a write until the test opens the gate,
/// which it does only once Bob's work and `/health` were answered: when
/// the server cannot answer them meanwhile, nothing but a watchdog thread
/// ever opens it, and the test fails (rather than hangs) on who opened it.
@Suite("Waiting for a list, off the cooperative pool")
struct CooperativePoolTests {
    /// More requests for Alice than the cooperative pool has threads.
    @Test(.timeLimit(.minutes(1)))
    func othersAreServedWhileRequestsWaitForAListHeldByALongWrite() async throws {
        try await serveOthers(whileWaitingForAlice: ProcessInfo.processInfo.activeProcessorCount + 2)
    }

    /// More requests for Alice than the blocking pool has threads.
    @Test(.timeLimit(.minutes(1)))
    func requestsWaitingForAHeldListTakeNoThreadOfTheBlockingPool() async throws {
        try await serveOthers(whileWaitingForAlice: BlockingPool.shared.threads + 8)
    }

    /// A lane runs its jobs one at a time, in the order they came, on a pool with threads to spare.
    @Test func aLaneRunsItsJobsOneAtATimeInOrder() async throws {
        let pool = BlockingPool(threads: 4)
        defer { pool.stop() }
        let lane = BlockingPool.Lane(on: pool)
        let record = Mutex((running: 0, most: 0, order: [Int]()))
        let done = Countdown(500)
        for index in 0..<500 {
            lane.submit {
                record.withLock { $0.running += 1; $0.most = max($0.most, $0.running); $0.order.append(index) }
                if index % 50 == 0 { Thread.sleep(forTimeInterval: 0.001) }
                record.withLock { $0.running -= 1 }
                done.arrive()
            }
        }
        await done.all()
        let (most, order) = record.withLock { ($0.most, $0.order) }
        #expect(most == 1)
        #expect(order == Array(0..<500))
    }

    func serveOthers(whileWaitingForAlice crowd: Int) async throws {
        let fixture = try await ServerFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let alice = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice)))
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/alice", title: "Alice's"))
        _ = try await fixture.service.handle(
            SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(),
                        push: try phone.outgoing(for: VersionVector(), limit: 100)),
            for: alice)
        let space = try #require(try await fixture.storage.space(for: alice) as? SQLiteSpace)

        // A long write on Alice's list, on the blocking pool as the server's writes are.
        let gate = Gate(watchdog: .seconds(20))
        let write = Task { () async throws in
            do {
                try await offload { try space.store.writer.write { _ in gate.holdUntilOpened() } }
            } catch {
                throw error as any Error
            }
        }
        await gate.held()

        // Requests for Alice, each a cooperative task that (before the server
        // waited for a list off that pool) blocked its thread at once.
        let started = Countdown(crowd)
        let answered = Tally()
        var generator = SplitMix64(seed: 7)
        let replicas = (0..<crowd).map { _ in ReplicaID.random(using: &generator) }
        let service = fixture.service
        let crowdDone = Task {
            try await withThrowingTaskGroup(of: SyncResponse.self) { group in
                for replica in replicas {
                    group.addTask {
                        started.arrive()
                        let response = try await service.handle(
                            SyncRequest(replica: replica, knowledge: VersionVector(), heads: [], push: []), for: alice)
                        answered.add()
                        return response
                    }
                }
                return try await group.reduce(into: [SyncResponse]()) { $0.append($1) }
            }
        }
        await started.all()

        // Meanwhile Bob pushes and pulls, and the server says it is healthy.
        let laptop = try makeReplica()
        try laptop.save(SaveRequest(url: "https://example.com/bob", title: "Bob's"))
        let push = try laptop.outgoing(for: VersionVector(), limit: 100)
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
            let request = SyncRequest(replica: laptop.replicaID, knowledge: try laptop.knowledge(), heads: try laptop.heads(), push: push)
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.bob), body: try body(request)) { response in
                #expect(response.status == .ok)
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                #expect(decoded.stored == push.flatMap(\.expanded).count)
                #expect(decoded.knowledge == (try laptop.knowledge()))
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }

        // Only now is Alice's list let go: Bob was served while it was held.
        #expect(answered.count == 0, "no request for Alice could read her list while it was held")
        #expect(gate.open(by: "the test") == "the test", "Bob and /health were answered while Alice's list was held")
        try await write.value
        let responses = try await crowdDone.value
        #expect(responses.count == crowd)
        for response in responses {
            #expect(response.knowledge == (try phone.knowledge()))
            #expect(response.pull.flatMap(\.expanded).count == (try phone.outgoing(for: VersionVector(), limit: 100)).flatMap(\.expanded).count)
        }
        await fixture.storage.close()
    }

    /// Where the long write waits: opened once, by the test, or by a watchdog
    /// thread (not one of the cooperative pool's) once `watchdog` passed, so
    /// that a server that cannot go on while the write waits fails the test.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var openedBy: String?
        private var isHeld = false
        private var waiter: CheckedContinuation<Void, Never>?

        init(watchdog: Duration) {
            let deadline = Date(timeIntervalSinceNow: Double(watchdog.components.seconds))
            Thread.detachNewThread { [self] in
                condition.lock()
                while openedBy == nil && condition.wait(until: deadline) {}
                condition.unlock()
                open(by: "the watchdog")
            }
        }

        /// In the write: says it holds the list, and waits until the gate opens.
        func holdUntilOpened() {
            condition.lock()
            isHeld = true
            let waiter = waiter
            self.waiter = nil
            condition.unlock()
            waiter?.resume()
            condition.lock()
            while openedBy == nil { condition.wait() }
            condition.unlock()
        }

        /// Returns once the write holds the list.
        func held() async {
            await withCheckedContinuation { continuation in
                condition.lock()
                if isHeld {
                    condition.unlock()
                    continuation.resume()
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        }

        /// Opens the gate (if still closed); returns who opened it.
        @discardableResult
        func open(by who: String) -> String {
            condition.lock()
            defer { condition.unlock() }
            if openedBy == nil {
                openedBy = who
                condition.broadcast()
            }
            return openedBy!
        }
    }

    final class Tally: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// Resumes its waiter once `count` tasks arrived.
    final class Countdown: Sendable {
        private struct State {
            var left: Int
            var waiter: CheckedContinuation<Void, Never>?
        }

        private let state: Mutex<State>

        init(_ count: Int) { state = Mutex(State(left: count)) }

        func arrive() {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.left -= 1
                guard state.left == 0 else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        func all() async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.left <= 0 { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }
}
