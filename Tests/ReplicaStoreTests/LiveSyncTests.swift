import Foundation
import ReadingListModel
import ReplicaStore
@testable import SyncClient
import SyncCore
import SyncProtocol
import Synchronization
import Testing

/// The engine's decisions (when a round runs, what it serves, the backoff, the
/// states) with the network left out: a round is a script of outcomes, and
/// the waits are recorded (and, where a test needs it, held) instead of slept.
/// The real rounds against the real server: Tests/EndToEndTests/LiveSync*.swift.
@Suite("LiveSync: when rounds run")
struct LiveSyncTests {
    let clock = ManualClock()
    static let now = Date(timeIntervalSince1970: 1_780_000_000)

    /// What the fake rounds answer, in order (success once the script is spent), and how many ran.
    final class Script: Sendable {
        let outcomes: Mutex<[ServerSync.Failure?]>
        let ran = Mutex(0)
        init(_ outcomes: [ServerSync.Failure?] = []) { self.outcomes = Mutex(outcomes) }

        func round() throws(ServerSync.Failure) -> ServerSync.Report {
            ran.withLock { $0 += 1 }
            let failure = outcomes.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            if let failure { throw failure }
            return ServerSync.Report(pushed: 0, pulled: 0, roundTrips: 1, retries: 0, conflicts: 0)
        }
    }

    /// Waits the engine asks for: recorded, and either returned at once or held until released.
    final class Waits: Sendable {
        private struct Content {
            var asked: [Duration] = []
            var held: [CheckedContinuation<Void, Never>] = []
        }
        private let content = Mutex(Content())
        /// The waits that are held until ``release()`` (the others return at once).
        let holds: @Sendable (Duration) -> Bool

        init(holding holds: @escaping @Sendable (Duration) -> Bool = { _ in false }) { self.holds = holds }

        var asked: [Duration] { content.withLock { $0.asked } }
        var heldCount: Int { content.withLock { $0.held.count } }

        func sleep(_ duration: Duration) async throws {
            let hold = holds(duration)
            if !hold {
                content.withLock { $0.asked.append(duration) }
                try Task.checkCancellation()
                return
            }
            await withCheckedContinuation { continuation in
                content.withLock {
                    $0.asked.append(duration)
                    $0.held.append(continuation)
                }
            }
            try Task.checkCancellation()
        }

        func release() {
            let held = content.withLock { content in
                defer { content.held = [] }
                return content.held
            }
            for continuation in held { continuation.resume() }
        }
    }

    /// Follows an engine's rounds and states.
    final class Follower: Sendable {
        let tasks: [Task<Void, Never>]

        init(_ live: LiveSync) {
            let roundStream = live.rounds(), stateStream = live.states()
            var tasks: [Task<Void, Never>] = []
            let box = Box()
            tasks.append(Task { for await round in roundStream { box.rounds.withLock { $0.append(round.triggers) } } })
            tasks.append(Task { for await state in stateStream { box.states.withLock { $0.append(state) } } })
            self.box = box
            self.tasks = tasks
        }

        final class Box: Sendable {
            let rounds = Mutex<[Set<LiveSync.Trigger>]>([])
            let states = Mutex<[LiveSync.State]>([])
        }
        let box: Box

        deinit { for task in tasks { task.cancel() } }

        var roundTriggers: [Set<LiveSync.Trigger>] { box.rounds.withLock { $0 } }
        var stateList: [LiveSync.State] { box.states.withLock { $0 } }

        func waitForRounds(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await LiveSyncTests.waitUntil { self.roundTriggers.count >= count }
            #expect(roundTriggers.count >= count, "rounds: \(roundTriggers)", sourceLocation: sourceLocation)
        }
    }

    /// Polls `condition` (up to 60 s: a bound for a machine running every suite at once, not a speed check).
    static func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    func configuration(_ waits: Waits) -> LiveSync.Configuration {
        LiveSync.Configuration(
            pushDelay: .milliseconds(30), retryBase: .seconds(1), retryMax: .seconds(60),
            sleep: { try await waits.sleep($0) }, now: { Self.now }, jitter: { 0.5 })
    }

    static let unreachable = ServerSync.Failure.transport(.unreachable("connection refused"), attempts: 1)

    /// The channel connections an engine made, one continuation each, in order: the test drives them.
    final class Channels: Sendable {
        let connections = Mutex<[AsyncThrowingStream<LiveSync.ChannelEvent, any Error>.Continuation]>([])
    }

    /// An engine whose rounds are `script`'s and whose channel connections the test drives.
    func scriptedEngine(_ store: ReplicaStore, _ script: Script, _ waits: Waits) -> (live: LiveSync, channels: Channels) {
        let channels = Channels()
        let live = LiveSync(
            store: store, configuration: configuration(waits), round: { () throws(ServerSync.Failure) in try script.round() },
            connect: {
                let (stream, continuation) = AsyncThrowingStream.makeStream(of: LiveSync.ChannelEvent.self, throwing: (any Error).self)
                channels.connections.withLock { $0.append(continuation) }
                return stream
            })
        return (live, channels)
    }

    @Test func theRetryDelayDoublesUpToItsCeilingWithEqualJitter() {
        let delays = (1...8).map { LiveSync.retryDelay(afterFailures: $0, jitter: 1, base: .seconds(1), max: .seconds(60)) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        #expect(LiveSync.retryDelay(afterFailures: 3, jitter: 0, base: .seconds(1), max: .seconds(60)) == .seconds(2))
        #expect(LiveSync.retryDelay(afterFailures: 50, jitter: 0, base: .seconds(1), max: .seconds(60)) == .seconds(30))
        #expect(LiveSync.retryDelay(afterFailures: 1, jitter: 7, base: .seconds(1), max: .seconds(60)) == .seconds(1))
    }

    @Test func aBurstOfLocalEditsGoesInOneRound() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script()
        let waits = Waits(holding: { $0 == .milliseconds(30) })
        let live = LiveSync(store: store, configuration: configuration(waits), round: { () throws(ServerSync.Failure) in try script.round() }, connect: nil)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        #expect(follower.roundTriggers == [[.start]])

        // The first edit starts the push delay; nine more commit during it.
        try store.save(SaveRequest(url: "https://example.com/0"))
        try await Self.waitUntil { waits.heldCount == 1 }
        for n in 1..<10 { try store.save(SaveRequest(url: "https://example.com/\(n)")) }
        try await Task.sleep(for: .milliseconds(50))
        waits.release()
        try await follower.waitForRounds(2)
        #expect(follower.roundTriggers[1] == [.localChange])
        // Wake-ups for edits the round already pushed run nothing more.
        try await Task.sleep(for: .milliseconds(300))
        waits.release()
        try await Task.sleep(for: .milliseconds(100))
        #expect(follower.roundTriggers.count == 2)
        #expect(script.ran.withLock { $0 } == 2)
        #expect(live.state == .idle)
    }

    @Test func offlineBacksOffWithJitterThenRecovers() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script([Self.unreachable, Self.unreachable, Self.unreachable, Self.unreachable])
        let waits = Waits()
        let live = LiveSync(store: store, configuration: configuration(waits), round: { () throws(ServerSync.Failure) in try script.round() }, connect: nil)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(5)
        #expect(follower.roundTriggers == [[.start], [.retry], [.retry], [.retry], [.retry]])
        // base 1 s doubling, times 0.5 + 0.5 * jitter (0.5 here).
        #expect(waits.asked == [0.75, 1.5, 3, 6].map { Duration.milliseconds(Int($0 * 1000)) })
        try await Self.waitUntil { live.state == .idle }
        let offline = follower.stateList.compactMap { state -> Date? in
            if case let .offline(until, reason) = state, reason.contains("connection refused") { return until }
            return nil
        }
        #expect(offline == [0.75, 1.5, 3, 6].map { Self.now.addingTimeInterval($0) })
        #expect(follower.stateList.first == .starting && follower.stateList.last == .idle)
    }

    @Test func localEditsWhileOfflineWaitForTheRetry() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script([Self.unreachable])
        let waits = Waits(holding: { $0 > .milliseconds(30) })
        let live = LiveSync(store: store, configuration: configuration(waits), round: { () throws(ServerSync.Failure) in try script.round() }, connect: nil)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        try await Self.waitUntil { waits.heldCount == 1 }
        try store.save(SaveRequest(url: pageA))
        try await Task.sleep(for: .milliseconds(200))
        #expect(follower.roundTriggers.count == 1, "an edit while offline does not hammer the server")
        waits.release()
        // The retry pushes it (in the same round when its wake-up came in time, as it does unless the machine is swamped).
        try await Self.waitUntil { follower.roundTriggers.dropFirst().contains { $0.contains(.localChange) } }
        #expect(follower.roundTriggers[1].contains(.retry))
        #expect(follower.roundTriggers.dropFirst().contains { $0.contains(.localChange) })
        try await Self.waitUntil { live.state == .idle }
        #expect(live.state == .idle)
    }

    @Test func aRefusedTokenStopsUntilAskedAgain() async throws {
        let store = try makeReplica(1, clock: clock)
        let refused = ServerSync.Failure.transport(.rejected(status: 401, code: .unauthorized, message: "the token was revoked"), attempts: 1)
        let script = Script([refused])
        let waits = Waits()
        let live = LiveSync(store: store, configuration: configuration(waits), round: { () throws(ServerSync.Failure) in try script.round() }, connect: nil)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        try await Self.waitUntil { if case .mustRejoin = live.state { true } else { false } }
        #expect(live.state == .mustRejoin(reason: refused.description))
        try store.save(SaveRequest(url: pageA))
        try await Task.sleep(for: .milliseconds(200))
        #expect(follower.roundTriggers.count == 1)
        #expect(waits.asked.isEmpty, "no retry is scheduled")
        live.syncNow()
        try await follower.waitForRounds(2)
        #expect(follower.roundTriggers[1].contains(.request))
        try await Self.waitUntil { live.state == .idle }
    }

    @Test func noticesRunAtOnceAndAReconnectionCatchesUp() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script()
        let waits = Waits()
        let (live, channels) = scriptedEngine(store, script, waits)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        try await Self.waitUntil { channels.connections.withLock { $0.count } == 1 }
        channels.connections.withLock { $0[0] }.yield(.changed)
        try await follower.waitForRounds(2)
        #expect(follower.roundTriggers[1] == [.serverNotice])
        #expect(waits.asked.isEmpty, "a notice is not delayed")
        // The connection breaks: a round at once says whether the server is away (here it is not); after a
        // backoff the channel reconnects, and a round catches up once it is open.
        channels.connections.withLock { $0[0] }.finish(throwing: SyncTransportError.unreachable("connection reset"))
        try await follower.waitForRounds(3)
        #expect(follower.roundTriggers[2] == [.channelLost])
        try await Self.waitUntil { channels.connections.withLock { $0.count } == 2 }
        #expect(waits.asked == [.milliseconds(750)])
        try await Task.sleep(for: .milliseconds(100))
        #expect(follower.roundTriggers.count == 3, "no catch-up round before the channel is open")
        channels.connections.withLock { $0[1] }.yield(.connected)
        try await follower.waitForRounds(4)
        #expect(follower.roundTriggers[3] == [.reconnect])
    }

    /// A connection whose hello says the replica has all of the list runs no
    /// round, unless local changes wait to be pushed or the engine is offline.
    @Test func aReconnectionUpToDateRunsNoRoundUnlessSomethingWaits() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script()
        let waits = Waits(holding: { $0 > .milliseconds(30) })
        let (live, channels) = scriptedEngine(store, script, waits)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        try await Self.waitUntil { channels.connections.withLock { $0.count } == 1 }
        // Up to date, nothing to push (the start round pushed nothing: this replica has no edits yet): no round.
        #expect(try store.syncState().pendingChanges == 0)
        channels.connections.withLock { $0[0] }.yield(.connectedUpToDate)
        try await Task.sleep(for: .milliseconds(200))
        #expect(follower.roundTriggers == [[.start]], "a replica up to date with nothing to push ran a round")
        #expect(live.state == .idle)
        // A later notice still runs one.
        channels.connections.withLock { $0[0] }.yield(.changed)
        try await follower.waitForRounds(2)
        #expect(follower.roundTriggers[1] == [.serverNotice])
        // Not up to date: a round.
        channels.connections.withLock { $0[0] }.yield(.connected)
        try await follower.waitForRounds(3)
        #expect(follower.roundTriggers[2] == [.reconnect])
    }

    /// Up to date, but a local change waits to be pushed (the scripted rounds
    /// push nothing, so it stays pending): the reconnection runs a round.
    @Test func aReconnectionUpToDateStillPushesWhatWaits() async throws {
        let store = try makeReplica(1, clock: clock)
        let script = Script()
        let waits = Waits()
        try store.save(SaveRequest(url: pageA))
        let (live, channels) = scriptedEngine(store, script, waits)
        let follower = Follower(live)
        let engine = Task { await live.run() }
        defer { engine.cancel() }
        try await follower.waitForRounds(1)
        try await Self.waitUntil { channels.connections.withLock { $0.count } == 1 }
        #expect(try store.syncState().pendingChanges > 0)
        channels.connections.withLock { $0[0] }.yield(.connectedUpToDate)
        try await follower.waitForRounds(2)
        #expect(follower.roundTriggers[1] == [.reconnect])
    }
}
