import ReadingListModel
@testable import SyncCore
import SyncProtocol
import Testing

/// The decisions of a server sync, event by event, with no store and no transport.
@Suite("Server sync machine")
struct ServerSyncMachineTests {
    let me = r(1)
    let alice = SyncAccount(server: "5e4f", user: 1, name: "alice")
    let bob = SyncAccount(server: "5e4f", user: 2, name: "bob")

    func machine(
        pageSize: Int = 1000, retryPolicy: RetryPolicy = .none, pipelined: Bool = false, defers: Bool = true,
        confirmsAccountFirst: Bool = false
    ) -> ServerSyncMachine {
        ServerSyncMachine(
            ServerSyncMachine.Configuration(
                replica: me, pageSize: pageSize, retryPolicy: retryPolicy, pipelined: pipelined, defersMaterialization: defers,
                confirmsAccountFirst: confirmsAccountFirst))
    }

    func vv(_ counters: [Int: UInt64]) -> VersionVector {
        VersionVector(Dictionary(uniqueKeysWithValues: counters.map { (r($0.key), $0.value) }))
    }

    /// A change by replica `by` (another replica than `me` unless said).
    func entry(_ counter: UInt64, by: Int = 2, text: String = "t") -> LogEntry { .change(write(by, counter, value: .string(text))) }

    func answer(
        _ knowledge: VersionVector, pull: [LogEntry] = [], more: Bool = false, stored: Int = 0, account: SyncAccount? = nil,
        limits: SyncLimits? = nil, collected: [CollectedArticle]? = nil
    ) -> SyncResponse {
        var response = SyncResponse(knowledge: knowledge, heads: [], stored: stored, pull: pull, more: more, collected: collected)
        response.account = account
        response.limits = limits
        return response
    }

    func request(_ action: ServerSyncMachine.Action) -> SyncRequest? {
        guard case let .send(request) = action else { return nil }
        return request
    }

    func rejected(_ code: SyncErrorCode, _ message: String = "no") -> ServerSyncMachine.SendFailure {
        ServerSyncMachine.SendFailure(code: code, message: message, retryable: code.isRetryable)
    }

    /// Answers `action` (an answer being handled) until the machine asks for something else than bookkeeping.
    func settle(_ machine: inout ServerSyncMachine, _ action: ServerSyncMachine.Action) -> ServerSyncMachine.Action {
        var action = action
        while true {
            switch action {
            case .bind: action = machine.accountBound()
            case .rememberLimits: action = machine.limitsRemembered()
            case .verifyHeads: action = machine.headsVerified()
            case .progress: action = machine.progressReported()
            default: return action
            }
        }
    }

    @Test func aFirstSyncLearnsTheServerBindsAtTheFirstAnswerThenPushes() {
        var sync = machine()
        var action = sync.start(ServerSyncMachine.Remembered())
        // Nothing known: the first round trip pushes nothing.
        #expect(action == .prepare(pushingFor: nil, limit: 1000))
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 1]), heads: [], candidates: [entry(1, by: 1)]))
        let first = request(action)
        #expect(first?.push == [] && first?.account == nil && first?.replica == me && first?.pullLimit == 1000)
        action = sync.received(answer(vv([2: 3]), pull: [entry(1), entry(2), entry(3)], account: alice))
        #expect(action == .bind(alice))
        #expect(sync.account == alice)
        action = sync.accountBound()
        #expect(action == .verifyHeads([]))
        action = sync.headsVerified()
        guard case let .apply(entries, deferring, reportKnowledge) = action else { Issue.record("expected apply, got \(action)"); return }
        #expect(entries.count == 3 && deferring == .decided(false) && !reportKnowledge)
        action = sync.applied(changes: 3, deferring: false, knowledge: nil)
        guard case let .progress(tally, more) = action else { Issue.record("expected progress, got \(action)"); return }
        #expect(tally.roundTrips == 1 && tally.pulled == 3 && !more)
        // It could not push: another round trip, now pushing against the server's knowledge.
        action = sync.progressReported()
        #expect(action == .prepare(pushingFor: vv([2: 3]), limit: 1000))
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 1, 2: 3]), heads: [], candidates: [entry(1, by: 1)]))
        let second = request(action)
        #expect(second?.push == [entry(1, by: 1)] && second?.account == alice)
        action = settle(&sync, sync.received(answer(vv([1: 1, 2: 3]), stored: 1, account: alice)))
        guard case let .finish(finish) = action else { Issue.record("expected finish, got \(action)"); return }
        #expect(finish.serverKnowledge == vv([1: 1, 2: 3]) && finish.tally.pushed == 1 && finish.tally.roundTrips == 2 && finish.tooLarge == nil)
    }

    @Test func aKnownAccountPushesAtOnceUnlessItMustBeConfirmedFirst() {
        let known = ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([2: 1]))
        var trusting = machine()
        #expect(trusting.start(known) == .prepare(pushingFor: vv([2: 1]), limit: 1000))

        var careful = machine(confirmsAccountFirst: true)
        var action = careful.start(known)
        #expect(action == .prepare(pushingFor: nil, limit: 1000))
        action = careful.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 1]), heads: [], candidates: [entry(1, by: 1)]))
        #expect(request(action)?.push == [] && request(action)?.account == alice)
        // Once the server has answered for the account, the list is pushed.
        action = settle(&careful, careful.received(answer(vv([2: 1]), account: alice)))
        #expect(action == .prepare(pushingFor: vv([2: 1]), limit: 1000))
    }

    @Test func anotherListIsRefusedBeforeAnythingIsApplied() {
        var sync = machine()
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(sync.received(answer(vv([2: 5]), pull: [entry(1)], account: bob)) == .fail(.wrongAccount(belongsTo: alice, server: bob, reason: nil)))

        // The server's own refusal names the replica's list and keeps the server's words.
        for code in [SyncErrorCode.wrongServer, .wrongAccount] {
            var refused = machine()
            _ = refused.start(ServerSyncMachine.Remembered(account: alice))
            _ = refused.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
            #expect(refused.failed(rejected(code, "another list")) == .fail(.wrongAccount(belongsTo: alice, server: nil, reason: "another list")))
        }
        // A replica that belongs to no list yet: the refusal is the transport's.
        var unbound = machine()
        _ = unbound.start(ServerSyncMachine.Remembered())
        _ = unbound.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(unbound.failed(rejected(.wrongServer)) == .fail(.transport(attempts: 1)))
    }

    @Test func tooManyChangesHalvesThePageUntilOne() {
        var sync = machine(pageSize: 8)
        var action = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        var limits: [Int] = []
        while case let .prepare(_, limit) = action {
            limits.append(limit)
            _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
            action = sync.failed(rejected(.tooManyChanges))
        }
        #expect(limits == [8, 4, 2, 1])
        #expect(action == .fail(.transport(attempts: 1)))
    }

    @Test func bodyTooLargeHalvesThePushThenNamesTheSingleEntry() {
        var sync = machine()
        let known = vv([2: 1])
        var action = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: known))
        let big = [entry(1, by: 1), entry(2, by: 1), entry(3, by: 1)]
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 3, 2: 1]), heads: [], candidates: big))
        #expect(request(action)?.push.count == 3)
        action = sync.failed(rejected(.bodyTooLarge))
        #expect(action == .prepare(pushingFor: known, limit: 1))
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 3, 2: 1]), heads: [], candidates: [big[0]]))
        #expect(request(action)?.push == [big[0]])
        // A single entry the server will not take: it and what follows wait; everything is still pulled.
        action = sync.failed(rejected(.bodyTooLarge))
        #expect(action == .prepare(pushingFor: nil, limit: 1))
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 3, 2: 1]), heads: []))
        #expect(request(action)?.push == [])
        action = settle(&sync, sync.received(answer(known)))
        guard case let .finish(finish) = action else { Issue.record("expected finish, got \(action)"); return }
        #expect(finish.tooLarge?.entry == big[0] && finish.tooLarge?.bytes == WireJSON.byteCount(of: big[0]))
        #expect(finish.tooLarge?.limit == SyncLimits().maxBodyBytes)
    }

    @Test func anEntryLargerThanTheRememberedLimitIsNotSent() {
        var sync = machine()
        let limits = SyncLimits(maxBodyBytes: 2048, maxPushEntries: 10, maxPullEntries: 10)
        var action = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:]), limits: limits))
        #expect(action == .prepare(pushingFor: vv([:]), limit: 10))
        let huge = entry(1, by: 1, text: String(repeating: "x", count: 4096))
        action = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 1]), heads: [], candidates: [huge]))
        #expect(request(action)?.push == [])
        action = settle(&sync, sync.received(answer(vv([:]))))
        guard case let .finish(finish) = action else { Issue.record("expected finish, got \(action)"); return }
        #expect(finish.tooLarge?.entry == huge && finish.tooLarge?.bytes == WireJSON.byteCount(of: huge))
    }

    @Test func rejoinThenReplayOnceCaughtUp() {
        var sync = machine()
        let known = vv([2: 4])
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: known))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 2, 2: 4]), heads: []))
        var action = sync.failed(rejected(.rejoinRequired))
        #expect(action == .rejoin(acknowledged: known))
        let pending = [write(3, 1, value: .string("kept"))]
        action = sync.rejoined(as: r(3), pending: pending)
        #expect(sync.tally.rejoined)
        // Afresh, under the new identity: the server's knowledge is learnt again before anything is pushed.
        #expect(action == .prepare(pushingFor: nil, limit: 1000))
        #expect(request(sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 4]), heads: [])))?.replica == r(3))
        action = settle(&sync, sync.received(answer(vv([2: 6]), pull: [entry(5), entry(6)])))
        if case .apply = action { action = settle(&sync, sync.applied(changes: 2, deferring: false, knowledge: nil)) }
        #expect(action == .prepare(pushingFor: vv([2: 6]), limit: 1000))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 6]), heads: []))
        // Caught up: the pending edits are written again, then pushed.
        action = settle(&sync, sync.received(answer(vv([2: 6]))))
        #expect(action == .replay(pending))
        action = sync.replayed()
        #expect(action == .prepare(pushingFor: vv([2: 6]), limit: 1000))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 6, 3: 1]), heads: [], candidates: [.change(pending[0])]))
        action = settle(&sync, sync.received(answer(vv([2: 6, 3: 1]), stored: 1)))
        guard case let .finish(finish) = action else { Issue.record("expected finish, got \(action)"); return }
        #expect(finish.tally.rejoined && finish.tally.pushed == 1)
    }

    @Test func aSecondRejoinInOneSyncFails() {
        var sync = machine()
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(sync.failed(rejected(.rejoinRequired)) == .rejoin(acknowledged: vv([:])))
        #expect(sync.rejoined(as: r(3), pending: []) == .prepare(pushingFor: nil, limit: 1000))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(sync.failed(rejected(.rejoinRequired)) == .fail(.transport(attempts: 1)))
    }

    @Test func aGapLearnsTheServerAgainOnce() {
        var sync = machine()
        var action = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([1: 9])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 9]), heads: [], candidates: [entry(10, by: 1)]))
        action = sync.failed(rejected(.gap))
        #expect(action == .prepare(pushingFor: nil, limit: 1000))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 9]), heads: []))
        #expect(sync.failed(rejected(.gap)) == .fail(.transport(attempts: 1)))
    }

    @Test func announcedLimitsAreRememberedAndCutThePage() {
        var sync = machine()
        var action = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        let announced = SyncLimits(maxBodyBytes: 1 << 20, maxPushEntries: 100, maxPullEntries: 100)
        action = sync.received(answer(vv([:]), more: true, limits: announced))
        #expect(action == .rememberLimits(announced))
        #expect(sync.limits == announced && sync.pageSize == 100)
        action = settle(&sync, sync.limitsRemembered())
        #expect(action == .prepare(pushingFor: vv([:]), limit: 100))
        // The same limits again, or nonsense, are not remembered.
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(sync.received(answer(vv([:]), more: true, limits: announced)) == .verifyHeads([]))
        _ = settle(&sync, sync.headsVerified())
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(sync.received(answer(vv([:]), limits: SyncLimits(maxBodyBytes: 0, maxPushEntries: 0))) == .verifyHeads([]))
        #expect(sync.limits == announced)
    }

    @Test func retriesWaitAsThePolicySaysThenFail() {
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        var sync = machine(retryPolicy: policy)
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        let asked = request(sync.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: [])))
        let down = ServerSyncMachine.SendFailure(retryable: true)
        var action = sync.failed(down)
        guard case let .backoff(first) = action else { Issue.record("expected backoff, got \(action)"); return }
        #expect(first.attempt == 2 && first.of == 3)
        #expect(first.delay(jitter: 1) == .milliseconds(100) && first.delay(jitter: 0) == .zero && first.delay(jitter: 0.5) == .milliseconds(50))
        #expect(request(sync.backedOff()) == asked)
        action = sync.failed(down)
        guard case let .backoff(second) = action else { Issue.record("expected backoff, got \(action)"); return }
        #expect(second.attempt == 3 && second.delay(jitter: 1) == .milliseconds(200))
        #expect(request(sync.backedOff()) == asked)
        #expect(sync.failed(down) == .fail(.transport(attempts: 3)))
        #expect(sync.tally.retries == 2)

        // A refusal that will not change is not retried; an interrupted wait fails as it stands.
        var refused = machine(retryPolicy: policy)
        _ = refused.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = refused.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        #expect(refused.failed(rejected(.malformedRequest)) == .fail(.transport(attempts: 1)))
        var cancelled = machine(retryPolicy: policy)
        _ = cancelled.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = cancelled.prepared(ServerSyncMachine.Materials(knowledge: vv([:]), heads: []))
        _ = cancelled.failed(rejected(.unavailable))
        #expect(cancelled.backoffInterrupted() == .fail(.transport(attempts: 1)))
        // The same decision for the early request of a pipelined pull.
        #expect(ServerSyncMachine.retry(after: down, attempt: 3, policy: policy) == nil)
        #expect(ServerSyncMachine.retry(after: rejected(.gap), attempt: 1, policy: policy) == nil)
    }

    /// A pipelined sync whose server knowledge is known and that has nothing to push, at its first pull page.
    func pipelinedAtFirstPage(_ sync: inout ServerSyncMachine) -> (SyncRequest, ServerSyncMachine.Action) {
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([2: 1])))
        let asked = request(sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 1]), heads: [])))!
        let action = settle(&sync, sync.received(answer(vv([2: 9]), pull: [entry(2), entry(3)], more: true)))
        return (asked, action)
    }

    @Test func pipeliningAsksForTheNextPageWhileThisOneIsApplied() {
        var sync = machine(pipelined: true)
        var (asked, action) = pipelinedAtFirstPage(&sync)
        guard case var .prefetch(next) = action else { Issue.record("expected prefetch, got \(action)"); return }
        #expect(next.push == [] && next.pullFrom == vv([2: 3]) && next.account == asked.account)
        next.knowledge = vv([2: 1])
        action = sync.prefetchStarted(next)
        // A first sync that is far behind: whether to defer is the store's answer; the knowledge after the page is wanted.
        #expect(action == .apply([entry(2), entry(3)], deferring: .ifHoldingFewerArticles(than: 1000), reportKnowledge: true))
        action = sync.applied(changes: 2, deferring: true, knowledge: vv([2: 3]))
        #expect(action == .progress(sync.tally, more: true))
        #expect(sync.progressReported() == .awaitPrefetch)
        action = settle(&sync, sync.prefetchArrived(answer(vv([2: 9]), pull: [entry(4)], more: true), retries: 1))
        // The page after that one is asked for too, from what the early request had pulled.
        guard case let .prefetch(third) = action else { Issue.record("expected prefetch, got \(action)"); return }
        #expect(third.pullFrom == vv([2: 4]))
        action = sync.prefetchStarted(third)
        // Deferral was decided at the first page.
        #expect(action == .apply([entry(4)], deferring: .decided(true), reportKnowledge: true))
        _ = settle(&sync, sync.applied(changes: 1, deferring: true, knowledge: vv([2: 4])))
        #expect(sync.tally.retries == 1 && sync.tally.roundTrips == 2)
    }

    @Test func aReplicaChangedMeanwhileDropsTheEarlyRequest() {
        var sync = machine(pipelined: true)
        var (_, action) = pipelinedAtFirstPage(&sync)
        guard case let .prefetch(next) = action else { Issue.record("expected prefetch, got \(action)"); return }
        _ = sync.prefetchStarted(next)
        action = sync.applied(changes: 2, deferring: false, knowledge: vv([1: 1, 2: 3]))
        #expect(action == .cancelPrefetch)
        #expect(settle(&sync, sync.prefetchCancelled()) == .prepare(pushingFor: vv([2: 9]), limit: 1000))
    }

    @Test func aFailedEarlyRequestIsAskedAgainTheUsualWay() {
        var sync = machine(pipelined: true)
        let (_, action) = pipelinedAtFirstPage(&sync)
        guard case let .prefetch(next) = action else { Issue.record("expected prefetch, got \(action)"); return }
        _ = sync.prefetchStarted(next)
        #expect(settle(&sync, sync.applied(changes: 2, deferring: false, knowledge: vv([2: 3]))) == .awaitPrefetch)
        #expect(sync.prefetchFailed(retries: 2) == .prepare(pushingFor: vv([2: 9]), limit: 1000))
        #expect(sync.tally.retries == 2)
    }

    @Test func noEarlyRequestUnpipelinedOrWhilePushing() {
        var unpipelined = machine()
        let (_, action) = pipelinedAtFirstPage(&unpipelined)
        #expect(action == .apply([entry(2), entry(3)], deferring: .ifHoldingFewerArticles(than: 1000), reportKnowledge: false))

        var pushing = machine(pageSize: 1, pipelined: true, defers: false)
        _ = pushing.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([2: 1])))
        let asked = request(pushing.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 2, 2: 1]), heads: [], candidates: [entry(1, by: 1)])))
        #expect(asked?.push == [entry(1, by: 1)])
        // More waits to be pushed (a full page): the next request pushes, so it is not asked early.
        let next = settle(&pushing, pushing.received(answer(vv([1: 1, 2: 9]), pull: [entry(2)], more: true, stored: 1)))
        #expect(next == .apply([entry(2)], deferring: .decided(false), reportKnowledge: false))
        guard case let .progress(_, more) = pushing.applied(changes: 1, deferring: false, knowledge: nil) else { Issue.record("expected progress"); return }
        #expect(more)
    }

    @Test func collectionsAreForgottenOnlyWhenNeitherSideHasMore() {
        let gone = CollectedArticle(seq: 7, article: "a", horizon: vv([2: 2]))
        var sync = machine()
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([2: 1])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 1]), heads: []))
        var action = settle(&sync, sync.received(answer(vv([2: 3]), pull: [entry(2)], more: true, collected: [gone])))
        #expect(action == .apply([entry(2)], deferring: .ifHoldingFewerArticles(than: 1000), reportKnowledge: false))
        action = settle(&sync, sync.applied(changes: 1, deferring: false, knowledge: nil))
        // More waits: another round trip, nothing forgotten.
        #expect(action == .prepare(pushingFor: vv([2: 3]), limit: 1000))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([2: 2]), heads: []))
        action = settle(&sync, sync.received(answer(vv([2: 3]), pull: [entry(3)], collected: [gone])))
        // The page after the deferral was decided materialises as decided.
        #expect(action == .apply([entry(3)], deferring: .decided(false), reportKnowledge: false))
        action = settle(&sync, sync.applied(changes: 1, deferring: false, knowledge: nil))
        #expect(action == .forget([gone]))
        guard case let .finish(finish) = sync.forgot() else { Issue.record("expected finish"); return }
        #expect(finish.serverKnowledge == vv([2: 3]) && finish.tally.pulled == 2 && finish.tally.roundTrips == 2)
    }

    @Test func theServerHoldingThisReplicasDotsIsRefused() {
        var sync = machine()
        _ = sync.start(ServerSyncMachine.Remembered(account: alice, serverKnowledge: vv([:])))
        _ = sync.prepared(ServerSyncMachine.Materials(knowledge: vv([1: 2]), heads: []))
        #expect(sync.received(answer(vv([1: 5]))) == .fail(.sync(.replicaBehindItself(replica: me, itsOwnCounter: 2, seenElsewhere: 5))))
    }
}
