import Foundation
import ReplicaStore
import SyncCore
import SyncProtocol
import Synchronization

/// Keeps one replica in sync with a server for as long as an app runs.
///
/// Every round is one ``ServerSync`` run (the same session, pages, merge and
/// account checks as a one-off sync); `LiveSync` only decides when to run one:
///
/// - at start (which also resumes whatever an earlier run left: what is still
///   to push is what ``ServerSync`` knows the server lacks, kept in the replica);
/// - shortly after a local change commits (``Configuration/pushDelay``): a
///   burst of edits, in this process or another one writing the same file,
///   goes in one round;
/// - when the server says something new is there (a notice of the push
///   channel), at once; and after every (re)connection of the channel, since
///   notices missed while it was down are not replayed, unless the server
///   said the replica has everything (``ChannelEvent/connectedUpToDate``) and
///   nothing local waits to be pushed;
/// - when the channel is lost, at once: a server that went away is noticed
///   then (``State/offline(until:reason:)``), not at the next edit;
/// - while the server cannot be reached, after a backoff with jitter
///   (from ``Configuration/retryBase``, doubled per failure up to ``Configuration/retryMax``), or sooner when the channel
///   connects again;
/// - every ``Configuration/pullInterval``, when one is set (without a push channel).
///
/// Its ``State`` is published by ``states()``, each round by ``rounds()``.
/// Run it with ``run()`` in a task of its own; cancelling that task stops it.
public final class LiveSync: Sendable {
    /// What the engine is doing.
    public enum State: Sendable, Hashable, CustomStringConvertible {
        /// Not started yet.
        case starting
        /// Up to date with what it was last told; waiting for a change.
        case idle
        /// A round is running.
        case syncing
        /// The server could not be reached (`reason`); the next attempt is at `until`
        /// (sooner if the push channel connects again). Local edits wait in the replica.
        case offline(until: Date, reason: String)
        /// The server no longer accepts this replica under its credentials (a refused
        /// or revoked token, or a replica that belongs to another account): nothing
        /// more is tried until ``syncNow()`` (after the user signed in again or moved the list).
        case mustRejoin(reason: String)
        /// A round failed in a way waiting will not fix (the replica cannot be
        /// written, a change larger than the server takes, an address that is
        /// not a sync server): retried after the next local change or ``syncNow()``.
        case failed(reason: String)

        /// The state for a person (one line).
        public var description: String {
            switch self {
            case .starting: "starting"
            case .idle: "idle"
            case .syncing: "syncing"
            case let .offline(until, reason):
                "offline (\(reason)); retrying in \(String(format: "%.1f", max(0, until.timeIntervalSinceNow))) s"
            case let .mustRejoin(reason): "must rejoin: \(reason)"
            case let .failed(reason): "failed: \(reason)"
            }
        }
    }

    /// Why a round ran (a round may serve several).
    public enum Trigger: String, Sendable, Hashable, Comparable, CaseIterable {
        /// The engine started.
        case start
        /// A local change committed.
        case localChange = "local change"
        /// The server announced changes.
        case serverNotice = "server notice"
        /// The push channel connected (or reconnected).
        case reconnect = "channel connected"
        /// The push channel was lost (the server may be away).
        case channelLost = "channel lost"
        /// The backoff after a failure ended.
        case retry
        /// ``Configuration/pullInterval`` passed.
        case interval
        /// ``syncNow()``.
        case request

        /// Orders triggers as they are declared.
        public static func < (lhs: Trigger, rhs: Trigger) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// One finished round.
    public struct Round: Sendable {
        /// What the round served.
        public var triggers: Set<Trigger>
        /// When the round started.
        public var started: Date
        /// How long it took.
        public var duration: Duration
        /// What it moved, or why it failed.
        public var outcome: Result<ServerSync.Report, ServerSync.Failure>
    }

    /// How the engine schedules rounds; the clock and randomness are injectable for tests.
    public struct Configuration: Sendable {
        /// How long after a local commit the push starts: edits committed meanwhile go in the same round
        /// (and edits committed while a round runs, in the one after it). Short, because it
        /// adds to the time another device takes to see the edit (Docs/Performance.md, W8).
        public var pushDelay: Duration
        /// The first retry delay after a failure to reach the server; doubles per failure.
        public var retryBase: Duration
        /// The longest retry delay.
        public var retryMax: Duration
        /// A round every this long even without notices (nil: never; for a server without a push channel).
        public var pullInterval: Duration?
        /// Waits (injected by tests so that nothing sleeps).
        public var sleep: @Sendable (Duration) async throws -> Void
        /// The wall clock, for ``State/offline(until:reason:)``.
        public var now: @Sendable () -> Date
        /// The jitter fraction in 0...1 for each retry delay.
        public var jitter: @Sendable () -> Double

        /// The engine's timing; the defaults suit an app (see each property).
        public init(
            pushDelay: Duration = .milliseconds(2), retryBase: Duration = .seconds(1), retryMax: Duration = .seconds(60),
            pullInterval: Duration? = nil,
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() },
            jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
        ) {
            self.pushDelay = pushDelay
            self.retryBase = retryBase
            self.retryMax = retryMax
            self.pullInterval = pullInterval
            self.sleep = sleep
            self.now = now
            self.jitter = jitter
        }
    }

    let store: ReplicaStore
    let configuration: Configuration
    /// One sync round (``ServerSync/run(store:transport:partner:progress:)`` in the public initialiser).
    let round: @Sendable () async throws(ServerSync.Failure) -> ServerSync.Report
    /// Opens the push channel once; nil without one.
    let connect: (@Sendable () -> AsyncThrowingStream<ChannelEvent, any Error>)?
    private let inbox = Inbox()
    private let stateBroadcast = Broadcast<State>(initial: .starting, replaysCurrent: true)
    private let roundBroadcast = Broadcast<Round>(initial: nil, replaysCurrent: false)

    /// What the push channel tells the engine.
    public enum ChannelEvent: Sendable, Hashable {
        /// The channel is open: a round now catches up with what was missed while it was not.
        case connected
        /// The channel is open and the server said the replica already has
        /// everything on the list: a round runs only if local changes wait to be pushed
        /// (or the engine was offline).
        case connectedUpToDate
        /// The server's list moved: a round now pulls it.
        case changed
    }

    /// Keeps `store` in sync with the server `transport` reaches; `partner` names
    /// it in the replica's records (its URL, as ``ServerSync/run(store:transport:partner:progress:)`` takes it).
    ///
    /// `channel` opens the server's push channel once per call: a stream that
    /// yields ``ChannelEvent/connected`` once open, then ``ChannelEvent/changed``
    /// per announcement, and finishes or throws when the connection ends; it is
    /// called again (after a backoff) to reconnect. ``channel(reportsConnection:_:)`` builds one
    /// from any sequence of notices. Without a channel, the engine pulls only at
    /// start, after local changes, and every ``Configuration/pullInterval``.
    ///
    /// `sync` configures each round; its own retries are best left off (the
    /// default here): the engine retries with its own backoff and says it is offline meanwhile.
    public convenience init(
        store: ReplicaStore, transport: some SyncTransport, partner: String,
        sync: ServerSync = ServerSync(retryPolicy: RetryPolicy(maxAttempts: 1)),
        configuration: Configuration = Configuration(),
        channel: (@Sendable () -> AsyncThrowingStream<ChannelEvent, any Error>)?
    ) {
        self.init(
            store: store, configuration: configuration,
            round: { () async throws(ServerSync.Failure) -> ServerSync.Report in
                try await sync.run(store: store, transport: transport, partner: partner)
            },
            connect: channel)
    }

    /// A push channel for ``init(store:transport:partner:sync:configuration:channel:)``
    /// from any sequence of notices: `open` is given a function to call once
    /// the connection is open (when the sequence can tell; else the channel
    /// counts as open when `open` returns), and each element is a ``ChannelEvent/changed``.
    /// Every connection then counts as possibly behind (a round runs): the
    /// server's own channel is better opened with `LiveSync.channel(_:store:)`
    /// (SyncClientHTTP), whose hello says when the replica is up to date.
    ///
    /// ```swift
    /// let push = PushChannelClient(server: address, token: token, replica: store.replicaID)
    /// let live = LiveSync(store: store, transport: transport, partner: url,
    ///                     channel: LiveSync.channel { connected in push.notices(connected: { _ in connected() }) })
    /// ```
    public static func channel<Notices: AsyncSequence & Sendable>(
        reportsConnection: Bool = true, _ open: @escaping @Sendable (_ connected: @escaping @Sendable () -> Void) -> Notices
    ) -> @Sendable () -> AsyncThrowingStream<ChannelEvent, any Error> {
        {
            AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
                let notices = open { continuation.yield(.connected) }
                if !reportsConnection { continuation.yield(.connected) }
                let task = Task {
                    do {
                        for try await _ in notices { continuation.yield(.changed) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    /// As the other initialiser, without a push channel.
    public convenience init(
        store: ReplicaStore, transport: some SyncTransport, partner: String,
        sync: ServerSync = ServerSync(retryPolicy: RetryPolicy(maxAttempts: 1)),
        configuration: Configuration = Configuration()
    ) {
        self.init(
            store: store, configuration: configuration,
            round: { () async throws(ServerSync.Failure) -> ServerSync.Report in
                try await sync.run(store: store, transport: transport, partner: partner)
            },
            connect: nil)
    }

    /// The engine around any round (tests decide what a round does).
    package init(
        store: ReplicaStore, configuration: Configuration,
        round: @escaping @Sendable () async throws(ServerSync.Failure) -> ServerSync.Report,
        connect: (@Sendable () -> AsyncThrowingStream<ChannelEvent, any Error>)?
    ) {
        self.store = store
        self.configuration = configuration
        self.round = round
        self.connect = connect
    }

    private func setState(_ state: State) {
        if stateBroadcast.current != state { stateBroadcast.publish(state) }
    }

    /// The current state.
    public var state: State { stateBroadcast.current ?? .starting }

    /// The state now, then every change of it, until the engine's task ends or the iteration stops.
    public func states() -> AsyncStream<State> { stateBroadcast.subscribe() }

    /// Every round from now on, as it finishes.
    public func rounds() -> AsyncStream<Round> { roundBroadcast.subscribe() }

    /// Runs a round as soon as possible (also out of ``State/mustRejoin(reason:)`` and ``State/failed(reason:)``).
    public func syncNow() { inbox.post(.request) }

    /// The delay before retry `failures` (1 after the first failure): the
    /// ceiling `min(retryMax, retryBase * 2^(failures-1))`, times a fraction
    /// in 0.5...1 drawn from `jitter` ("equal jitter"): devices that lost one
    /// server together do not come back together, and none retries sooner
    /// than half the ceiling.
    package static func retryDelay(afterFailures failures: Int, jitter: Double, base: Duration, max: Duration) -> Duration {
        let ceiling = min(max, base * (1 << min(Swift.max(failures, 1) - 1, 30)))
        return ceiling * (0.5 + 0.5 * Swift.min(1, Swift.max(0, jitter)))
    }

    func retryDelay(afterFailures failures: Int) -> Duration {
        Self.retryDelay(afterFailures: failures, jitter: configuration.jitter(), base: configuration.retryBase, max: configuration.retryMax)
    }

    /// Keeps the replica in sync until the calling task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchLocalChanges() }
            if let connect { group.addTask { await self.keepChannel(connect) } }
            inbox.post(.start)
            await decide()
            group.cancelAll()
        }
        inbox.close()
        stateBroadcast.finish()
        roundBroadcast.finish()
    }

    // MARK: The decisions

    /// The one loop that runs rounds: waits for triggers, holds them while
    /// offline (until the backoff ends or the channel is back), coalesces
    /// local changes for ``Configuration/pushDelay``, and runs one round for all.
    private func decide() async {
        var failures = 0
        // The replica's own change counter when the last round started: a
        // local-change trigger with nothing newer (the round pushed it) runs nothing.
        // (Read before the round: an edit committed during it, maybe after the
        // round read what to push, moves the counter past it and gets a round.)
        var pushedThrough: UInt64?
        var timer: Task<Void, Never>?
        var halted: State?
        var offline = false
        defer { timer?.cancel() }
        while !Task.isCancelled {
            guard var triggers = await inbox.next(), !Task.isCancelled else { return }
            if case .mustRejoin = halted, !triggers.contains(.request) { continue }
            if case .failed = halted, triggers.isDisjoint(with: [.request, .localChange]) { continue }
            if offline, triggers.isDisjoint(with: [.retry, .reconnect, .request, .start]) {
                // The server is away: this waits for the retry (which pushes it) or the channel's return.
                inbox.hold(triggers)
                continue
            }
            if triggers == [.localChange], let pushedThrough, (try? store.syncState().localChanges) == pushedThrough { continue }
            if triggers == [.reconnect], inbox.reconnectedUpToDate, !offline, halted == nil, (try? store.syncState().pendingChanges) == 0 {
                // The server said this replica has all of the list, and it has nothing to push: nothing to do.
                continue
            }
            if triggers.contains(.localChange), triggers.isDisjoint(with: [.serverNotice, .reconnect, .request, .start, .retry]) {
                // Let the rest of a burst of edits commit: they go in this round.
                do { try await configuration.sleep(configuration.pushDelay) } catch { return }
                triggers.formUnion(inbox.drain())
            }
            timer?.cancel()
            timer = nil
            halted = nil
            setState(.syncing)
            let counterBefore = try? store.syncState().localChanges
            let started = configuration.now()
            let clock = ContinuousClock.now
            let outcome: Result<ServerSync.Report, ServerSync.Failure>
            do throws(ServerSync.Failure) { outcome = .success(try await round()) } catch { outcome = .failure(error) }
            if Task.isCancelled { return }
            pushedThrough = counterBefore
            roundBroadcast.publish(Round(triggers: triggers, started: started, duration: ContinuousClock.now - clock, outcome: outcome))
            var next: (delay: Duration, trigger: Trigger)?
            switch outcome {
            case .success:
                failures = 0
                offline = false
                setState(.idle)
                if let interval = configuration.pullInterval { next = (interval, .interval) }
            case let .failure(failure):
                switch Self.classify(failure) {
                case .retry:
                    failures += 1
                    offline = true
                    let delay = retryDelay(afterFailures: failures)
                    setState(.offline(until: configuration.now().addingTimeInterval(delay.seconds), reason: failure.description))
                    next = (delay, .retry)
                case .rejoin:
                    offline = false
                    let state = State.mustRejoin(reason: failure.description)
                    halted = state
                    setState(state)
                case .fail:
                    offline = false
                    let state = State.failed(reason: failure.description)
                    halted = state
                    setState(state)
                }
            }
            if let next {
                let sleep = configuration.sleep
                let inbox = inbox
                timer = Task {
                    do { try await sleep(next.delay) } catch { return }
                    inbox.post(next.trigger)
                }
            }
        }
    }

    /// What a failed round calls for: a retry after a backoff, the user, or a local change.
    enum Kind { case retry, rejoin, fail }

    /// What a failed round calls for.
    static func classify(_ failure: ServerSync.Failure) -> Kind {
        switch failure {
        case let .transport(error, _):
            if error.isRetryable { return .retry }
            if case let .rejected(_, code, _) = error {
                switch code {
                case .unauthorized, .wrongAccount, .wrongServer: return .rejoin
                case .tooManyConnections: return .retry
                default: return .fail
                }
            }
            return .fail
        case .wrongAccount: return .rejoin
        case .store, .entryTooLarge: return .fail
        }
    }

    // MARK: The inputs

    /// Posts a local-change trigger whenever the replica's own change counter moves.
    private func watchLocalChanges() async {
        var last: UInt64?
        while !Task.isCancelled {
            do {
                for try await state in store.observeSyncState() {
                    if let last, state.localChanges != last { inbox.post(.localChange) }
                    last = state.localChanges
                }
                return
            } catch {
                // The replica could not be read: a round says why (failed), and the observation starts again.
                inbox.post(.localChange)
                do { try await configuration.sleep(configuration.retryBase) } catch { return }
            }
        }
    }

    /// Keeps the push channel open: a round after every (re)connection (notices
    /// missed meanwhile are not replayed), one per notice, reconnecting with backoff.
    private func keepChannel(_ connect: @Sendable () -> AsyncThrowingStream<ChannelEvent, any Error>) async {
        var failures = 0
        while !Task.isCancelled {
            var refused = false
            let opened = ContinuousClock.now
            do {
                for try await event in connect() {
                    failures = 0
                    switch event {
                    case .connected: inbox.post(.reconnect)
                    case .connectedUpToDate: inbox.post(.reconnect, upToDate: true)
                    case .changed: inbox.post(.serverNotice)
                    }
                }
                // Closed cleanly (the server is shutting down): see whether it is still there.
                inbox.post(.channelLost)
            } catch let error as SyncTransportError {
                // A refused token also refuses the sync, which says so (mustRejoin): retry rarely.
                if case let .rejected(_, code, _) = error, code == .unauthorized {
                    refused = true
                    // (A revoked token closes the channel, and the reconnection is refused: a
                    // round now hits the same refusal and says so, instead of waiting for an edit.)
                    inbox.post(.serverNotice)
                } else if case .unreachable = error {
                    // The connection was lost or nothing answers: a round now says whether the server is away.
                    inbox.post(.channelLost)
                }
            } catch {}
            if Task.isCancelled { return }
            // A connection that lasted was a working one: the backoff starts over.
            if ContinuousClock.now - opened > .seconds(10) { failures = 0 }
            failures += 1
            let delay = refused ? configuration.retryMax : retryDelay(afterFailures: failures)
            do { try await configuration.sleep(delay) } catch { return }
        }
    }
}

/// The triggers waiting for the decision loop, and the loop's wake-up.
final class Inbox: Sendable {
    private struct Content {
        var pending: Set<LiveSync.Trigger> = []
        var held: Set<LiveSync.Trigger> = []
        /// Whether every reconnection pending now said the replica was up to date.
        var pendingUpToDate = false
        /// The same, for the triggers last taken (by ``next()`` or ``drain()``).
        var takenUpToDate = false
        var waiter: CheckedContinuation<Set<LiveSync.Trigger>?, Never>?
        var closed = false
    }

    private let content = Mutex(Content())

    /// `upToDate`, with ``LiveSync/Trigger/reconnect``: the server said the replica has everything.
    func post(_ trigger: LiveSync.Trigger, upToDate: Bool = false) {
        let resumed = content.withLock { content -> (CheckedContinuation<Set<LiveSync.Trigger>?, Never>, Set<LiveSync.Trigger>)? in
            guard !content.closed else { return nil }
            if trigger == .reconnect {
                content.pendingUpToDate = upToDate && (content.pendingUpToDate || !content.pending.contains(.reconnect))
            }
            content.pending.insert(trigger)
            guard let waiter = content.waiter else { return nil }
            content.waiter = nil
            return (waiter, Self.take(&content))
        }
        if let (waiter, all) = resumed { waiter.resume(returning: all) }
    }

    /// Keeps triggers for the next round without waking the loop for them.
    func hold(_ triggers: Set<LiveSync.Trigger>) {
        content.withLock { $0.held.formUnion(triggers) }
    }

    /// What is pending now (held triggers included), without waiting.
    func drain() -> Set<LiveSync.Trigger> {
        content.withLock { Self.take(&$0) }
    }

    /// Whether the reconnection among the triggers last taken said the replica was up to date.
    var reconnectedUpToDate: Bool { content.withLock { $0.takenUpToDate } }

    private static func take(_ content: inout Content) -> Set<LiveSync.Trigger> {
        let all = content.pending.union(content.held)
        content.takenUpToDate = content.pending.contains(.reconnect) && content.pendingUpToDate
        content.pending = []
        content.held = []
        content.pendingUpToDate = false
        return all
    }

    /// The triggers posted (and held) since the last call, waiting for at least one
    /// posted one; nil once closed or when the calling task is cancelled.
    func next() async -> Set<LiveSync.Trigger>? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Set<LiveSync.Trigger>?, Never>) in
                let ready = content.withLock { content -> Set<LiveSync.Trigger>?? in
                    if content.closed || Task.isCancelled { return .some(nil) }
                    if !content.pending.isEmpty { return Self.take(&content) }
                    content.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            close()
        }
    }

    func close() {
        let waiter = content.withLock { content in
            content.closed = true
            defer { content.waiter = nil }
            return content.waiter
        }
        waiter?.resume(returning: nil)
    }
}

/// A value many subscribers follow: each gets the current one (if any), then every new one.
/// (Hand-written: the standard library has no multi-consumer async sequence, and
/// swift-async-algorithms' `AsyncChannel` is single-consumer with back-pressure.)
final class Broadcast<Element: Sendable>: Sendable {
    private struct Content {
        var current: Element?
        var subscribers: [UUID: AsyncStream<Element>.Continuation] = [:]
        var finished = false
    }

    private let content: Mutex<Content>
    /// Whether a new subscriber gets the current value first (a state), or only what comes after (events).
    private let replaysCurrent: Bool

    init(initial: Element?, replaysCurrent: Bool) {
        content = Mutex(Content(current: initial))
        self.replaysCurrent = replaysCurrent
    }

    var current: Element? { content.withLock { $0.current } }

    func publish(_ value: Element) {
        let subscribers = content.withLock { content in
            content.current = value
            return Array(content.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(value) }
    }

    func subscribe() -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .unbounded)
        let id = UUID()
        let (current, finished) = content.withLock { content in
            if !content.finished { content.subscribers[id] = continuation }
            return (content.current, content.finished)
        }
        continuation.onTermination = { [weak self] _ in _ = self?.content.withLock { $0.subscribers.removeValue(forKey: id) } }
        if replaysCurrent, let current { continuation.yield(current) }
        if finished { continuation.finish() }
        return stream
    }

    func finish() {
        let subscribers = content.withLock { content in
            content.finished = true
            defer { content.subscribers = [:] }
            return Array(content.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
