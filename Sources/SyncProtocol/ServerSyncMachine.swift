import SyncCore

/// The decisions of one sync between a replica and a server, as a state
/// machine in the manner of postgres-nio's `PoolStateMachine`: each event
/// (what the replica remembers, the request materials it read, an answer, a
/// failed round trip, an action done) returns the next ``Action``, and a
/// driver (`ServerSync` in `SyncClient`) performs it on the store and the
/// transport and reports back. Pure: no I/O, no clock, no randomness (the
/// jitter of a wait is the driver's input to ``Backoff/delay(jitter:)``).
///
/// Each round trip pushes one page of what the server lacks and pulls one
/// page of what the replica lacks, until neither side has more. The machine
/// decides: what a request carries (the push cut to the server's limits, by
/// entries and by bytes); which failures are retried and how long to wait;
/// what a refusal means (a smaller page, an entry too large to push, a rejoin
/// then a replay of the pending edits, the server's knowledge learnt again
/// once after a gap, the wrong list); when the replica binds itself to the
/// account the server answered for and when it may push at all; which
/// limits to remember; whether the next pull page is asked for while this one
/// is applied (pipelining) and whether a page defers materialisation; and
/// that collections are forgotten only once everything is pushed and pulled.
///
/// It lives in `SyncProtocol`, not `SyncCore`: its events and actions are the
/// wire's own types (``SyncRequest``, ``SyncResponse``, ``SyncAccount``,
/// ``SyncLimits``, ``SyncErrorCode``) and it sizes pushes with ``WireJSON``,
/// all declared here on top of `SyncCore`. `SyncProtocol` does no I/O either.
package struct ServerSyncMachine: Sendable {
    /// How the sync is run (`ServerSync`'s settings).
    package struct Configuration: Sendable, Hashable {
        /// The replica that syncs (its identity when the sync starts).
        package var replica: ReplicaID
        /// The most entries a request pushes or pulls (cut further to the server's limits).
        package var pageSize: Int
        package var retryPolicy: RetryPolicy
        /// Whether the next pull page is asked for while this one is applied.
        package var pipelined: Bool
        /// Whether a large pull into a replica that holds little materialises the articles once, at the end.
        package var defersMaterialization: Bool
        /// Push nothing until the server has answered for the replica's account in this sync.
        package var confirmsAccountFirst: Bool

        package init(
            replica: ReplicaID, pageSize: Int, retryPolicy: RetryPolicy = RetryPolicy(), pipelined: Bool = true,
            defersMaterialization: Bool = true, confirmsAccountFirst: Bool = false
        ) {
            precondition(pageSize > 0)
            self.replica = replica
            self.pageSize = pageSize
            self.retryPolicy = retryPolicy
            self.pipelined = pipelined
            self.defersMaterialization = defersMaterialization
            self.confirmsAccountFirst = confirmsAccountFirst
        }
    }

    /// What the replica remembers of the server when the sync starts (nothing, for a move).
    package struct Remembered: Sendable, Hashable {
        /// The list the replica belongs to; nil before its first sync.
        package var account: SyncAccount?
        /// What the server was last known to have; nil when never synced (the first round trip only learns it).
        package var serverKnowledge: VersionVector?
        /// The limits the server last announced; nil for the defaults.
        package var limits: SyncLimits?

        package init(account: SyncAccount? = nil, serverKnowledge: VersionVector? = nil, limits: SyncLimits? = nil) {
            self.account = account
            self.serverKnowledge = serverKnowledge
            self.limits = limits
        }
    }

    /// What the driver read for a request (``Action/prepare(pushingFor:limit:)``).
    package struct Materials: Sendable, Hashable {
        package var knowledge: VersionVector
        package var heads: [ForkCheck.Head]
        /// The last collection the replica applied.
        package var collectedThrough: Int64?
        /// The entries the server lacks, at most the asked limit (empty when not asked to push).
        package var candidates: [LogEntry]

        package init(knowledge: VersionVector, heads: [ForkCheck.Head], collectedThrough: Int64? = nil, candidates: [LogEntry] = []) {
            self.knowledge = knowledge
            self.heads = heads
            self.collectedThrough = collectedThrough
            self.candidates = candidates
        }
    }

    /// A round trip that failed: the server's refusal (its code and words), or no answer.
    package struct SendFailure: Sendable, Hashable {
        /// The protocol error code, when the server answered with one.
        package var code: SyncErrorCode?
        /// The server's message, when it answered.
        package var message: String?
        /// Whether the same request may succeed later (the server unavailable, a broken connection).
        package var retryable: Bool

        package init(code: SyncErrorCode? = nil, message: String? = nil, retryable: Bool) {
            self.code = code
            self.message = message
            self.retryable = retryable
        }
    }

    /// A wait before the same request is sent again.
    package struct Backoff: Sendable, Hashable {
        /// The attempt about to be made (2 and up), and the most there will be.
        package var attempt: Int
        package var of: Int
        package var policy: RetryPolicy

        /// How long to wait, given `jitter` (a fraction in 0...1 the driver draws).
        package func delay(jitter: Double) -> Duration { policy.delay(beforeRetry: attempt - 1, fraction: jitter) }
    }

    /// How an applied page materialises its articles.
    package enum Deferral: Sendable, Hashable {
        /// Decided: defer (true) or materialise with the page (false).
        case decided(Bool)
        /// Defer when the replica holds fewer articles than this (a first sync, or one resumed after a failure).
        case ifHoldingFewerArticles(than: Int)
    }

    /// What the sync moved so far.
    package struct Tally: Sendable, Hashable {
        package var pushed = 0
        package var pulled = 0
        package var roundTrips = 0
        package var retries = 0
        /// Whether the replica rejoined under a new identity.
        package var rejoined = false

        package init() {}
    }

    /// A change too large for the server's request limit: its size on the wire and the limit.
    package struct TooLarge: Sendable, Hashable {
        package var entry: LogEntry
        package var bytes: Int
        package var limit: Int
    }

    /// The end of a sync in which neither side has more.
    package struct Finish: Sendable, Hashable {
        /// What the server has: recorded as the replica's knowledge of it.
        package var serverKnowledge: VersionVector
        /// The server's limits (to remember, when they were not yet).
        package var limits: SyncLimits
        package var tally: Tally
        /// A change waiting to be pushed that the server would not take: everything else is done, and the sync reports it.
        package var tooLarge: TooLarge?
    }

    /// Why a sync stops before its end.
    package enum Stop: Sendable, Hashable {
        /// The last round trip failed after `attempts` attempts (the driver holds its error).
        case transport(attempts: Int)
        /// The server's list is not the replica's; nothing was sent or applied.
        case wrongAccount(belongsTo: SyncAccount, server: SyncAccount?, reason: String?)
        /// The server holds changes under this replica's dots that the replica does not have.
        case sync(SyncError)
    }

    /// What the driver does next; each names the event that reports it done.
    package enum Action: Sendable, Hashable {
        /// Read the replica's knowledge, heads and collection cursor, and (when
        /// `pushingFor` is the server's knowledge) at most `limit` entries the
        /// server lacks; report ``ServerSyncMachine/prepared(_:)``.
        case prepare(pushingFor: VersionVector?, limit: Int)
        /// Send the request once; report ``ServerSyncMachine/received(_:)`` or ``ServerSyncMachine/failed(_:)``.
        case send(SyncRequest)
        /// Wait, then report ``ServerSyncMachine/backedOff()`` (or ``ServerSyncMachine/backoffInterrupted()``).
        case backoff(Backoff)
        /// Bind the replica to the account (its records are kept under it from now on); report ``ServerSyncMachine/accountBound()``.
        case bind(SyncAccount)
        /// Remember the server's new limits; report ``ServerSyncMachine/limitsRemembered()``.
        case rememberLimits(SyncLimits)
        /// Compare the server's heads with the replica's digests (copies of one replica); report ``ServerSyncMachine/headsVerified()``.
        case verifyHeads([ForkCheck.Head])
        /// Start sending this request (with `knowledge` set to what the replica
        /// has now) while the page is applied; report ``ServerSyncMachine/prefetchStarted(_:)``.
        case prefetch(SyncRequest)
        /// Apply a pulled page; report ``ServerSyncMachine/applied(changes:deferring:knowledge:)``, with the
        /// replica's knowledge afterwards when `reportKnowledge`.
        case apply([LogEntry], deferring: Deferral, reportKnowledge: Bool)
        /// The replica changed while the next page was asked for: drop that request; report ``ServerSyncMachine/prefetchCancelled()``.
        case cancelPrefetch
        /// Tell the app; report ``ServerSyncMachine/progressReported()``.
        case progress(Tally, more: Bool)
        /// Wait for the started request; report ``ServerSyncMachine/prefetchArrived(_:retries:)`` or ``ServerSyncMachine/prefetchFailed(retries:)``.
        case awaitPrefetch
        /// Rejoin under a new identity, keeping the edits that still apply; report ``ServerSyncMachine/rejoined(as:pending:)``.
        case rejoin(acknowledged: VersionVector)
        /// Write the pending edits again; report ``ServerSyncMachine/replayed()``.
        case replay([Change])
        /// Forget the deleted articles the server forgot (and move the cursor); report ``ServerSyncMachine/forgot()``.
        case forget([CollectedArticle])
        /// Record the server's knowledge and end.
        case finish(Finish)
        /// End with this failure.
        case fail(Stop)
    }

    /// One request and what it carried, until its answer is handled.
    private struct Exchange: Sendable {
        var request: SyncRequest
        /// The replica's knowledge when the request was made.
        var local: VersionVector
        /// Whether entries wait to be pushed beyond this request's.
        var morePush: Bool
        /// Whether this request pushed what it could (the server's knowledge and the account were known).
        var couldPush: Bool
        var attempt = 1
    }

    /// Handling an answer: the step last done.
    private enum Step: Sendable {
        case answered, bound, limitsRemembered, verified, prefetchDecided, applied, reported
    }

    private struct Answer: Sendable {
        var exchange: Exchange
        var response: SyncResponse
        var step = Step.answered
        /// Whether the page being applied decides the deferral for the whole sync.
        var decidesDeferral = false
    }

    private enum State: Sendable {
        case initial
        case preparing(pushing: Bool, couldPush: Bool)
        case sending(Exchange)
        case backingOff(Exchange)
        case rejoining
        case answering(Answer)
        case awaitingPrefetch
        case replaying(Answer, resumes: Bool)
        case forgetting
        case done
    }

    package let configuration: Configuration
    private var state = State.initial
    /// The replica's identity: the configured one, a new one after a rejoin.
    package private(set) var replica: ReplicaID
    /// The list the replica belongs to (nil until the server has said, on a first sync).
    package private(set) var account: SyncAccount?
    /// Whether the server has answered for the account (or it was known and need not be confirmed): pushing waits for it.
    private var accountChecked = false
    private var serverKnowledge: VersionVector?
    /// What the server takes: remembered from its last answer, defaults before.
    package private(set) var limits = SyncLimits()
    /// The current page size (cut to the limits, halved when the server refuses a page).
    package private(set) var pageSize: Int
    /// A change too large to push: the rest is pulled, then the sync reports it.
    private var blocked: TooLarge?
    /// The edits kept at a rejoin, to write again once caught up (nil: no rejoin in this sync).
    private var pending: [Change]?
    private var hasReplayed = false
    /// Whether the server's knowledge was learnt again after a gap (once per sync).
    private var forgotOnce = false
    /// The pull asked for before its page's predecessor was applied.
    private var prefetch: SyncRequest?
    /// Decided at the first page that says more follows.
    private var deferring: Bool?
    package private(set) var tally = Tally()

    package init(_ configuration: Configuration) {
        self.configuration = configuration
        replica = configuration.replica
        pageSize = configuration.pageSize
    }

    // MARK: Events

    /// The sync starts with what the replica remembers.
    package mutating func start(_ remembered: Remembered) -> Action {
        guard case .initial = state else { preconditionFailure("a server sync starts once") }
        account = remembered.account
        serverKnowledge = remembered.serverKnowledge
        // Until the server has said whose list the token opens, nothing is pushed.
        accountChecked = account != nil && !configuration.confirmsAccountFirst
        limits = remembered.limits ?? SyncLimits()
        pageSize = min(configuration.pageSize, max(1, limits.maxPushEntries))
        return prepare()
    }

    /// The driver read the request's materials.
    package mutating func prepared(_ materials: Materials) -> Action {
        guard case let .preparing(pushing, couldPush) = state else { preconditionFailure("no request is being prepared") }
        var request = SyncRequest(
            replica: replica, knowledge: materials.knowledge, heads: materials.heads, push: [], pullLimit: pageSize)
        request.collectedThrough = materials.collectedThrough
        request.account = account
        var morePush = false
        if pushing {
            let candidates = materials.candidates
            (request.push, blocked) = Self.fit(candidates, budget: limits.maxBodyBytes - WireJSON.envelopeByteCount(of: request) - 256)
            morePush = blocked == nil && (candidates.count > request.push.count || candidates.count == pageSize)
        }
        let exchange = Exchange(request: request, local: materials.knowledge, morePush: morePush, couldPush: couldPush)
        state = .sending(exchange)
        return .send(request)
    }

    /// The server answered the request sent.
    package mutating func received(_ response: SyncResponse) -> Action {
        guard case let .sending(exchange) = state else { preconditionFailure("no request is in flight") }
        return answer(response, to: exchange)
    }

    /// The request sent failed.
    package mutating func failed(_ failure: SendFailure) -> Action {
        guard case let .sending(exchange) = state else { preconditionFailure("no request is in flight") }
        if let backoff = Self.retry(after: failure, attempt: exchange.attempt, policy: configuration.retryPolicy) {
            tally.retries += 1
            state = .backingOff(exchange)
            return .backoff(backoff)
        }
        return refused(failure, exchange)
    }

    /// The wait is over: the same request goes again.
    package mutating func backedOff() -> Action {
        guard case var .backingOff(exchange) = state else { preconditionFailure("not waiting") }
        exchange.attempt += 1
        state = .sending(exchange)
        return .send(exchange.request)
    }

    /// The wait was interrupted (the sync was cancelled): the round trip fails as it stands.
    package mutating func backoffInterrupted() -> Action {
        guard case let .backingOff(exchange) = state else { preconditionFailure("not waiting") }
        return stop(.transport(attempts: exchange.attempt))
    }

    package mutating func accountBound() -> Action { resume(after: .answered) }
    package mutating func limitsRemembered() -> Action { resume(after: .bound) }
    package mutating func headsVerified() -> Action { resume(after: .limitsRemembered) }

    /// The next page's request is on its way (`request` as sent).
    package mutating func prefetchStarted(_ request: SyncRequest) -> Action {
        prefetch = request
        return resume(after: .verified)
    }

    /// The page was applied: `changes` were new, with materialisation deferred
    /// or not; `knowledge` is the replica's afterwards when it was asked for.
    package mutating func applied(changes: Int, deferring: Bool, knowledge: VersionVector?) -> Action {
        guard case var .answering(answer) = state, answer.step == .prefetchDecided else { preconditionFailure("no page is being applied") }
        tally.pulled += changes
        if answer.decidesDeferral { self.deferring = deferring }
        answer.step = .applied
        if let prefetch {
            precondition(knowledge != nil, "the knowledge after the page is needed while the next page is asked for")
            if knowledge != prefetch.pullFrom {
                // Something else wrote meanwhile: ask again with what the replica really has.
                self.prefetch = nil
                state = .answering(answer)
                return .cancelPrefetch
            }
        }
        return advance(answer)
    }

    package mutating func prefetchCancelled() -> Action { resume(after: .applied) }
    package mutating func progressReported() -> Action { resume(after: .reported) }

    /// The early request's answer, after `retries` retries.
    package mutating func prefetchArrived(_ response: SyncResponse, retries: Int) -> Action {
        guard case .awaitingPrefetch = state, let request = prefetch else { preconditionFailure("no request was started early") }
        tally.retries += retries
        prefetch = nil
        return answer(response, to: Exchange(request: request, local: request.knowledge, morePush: false, couldPush: true))
    }

    /// The early request failed (after `retries` retries): it is asked again the usual way, which reports a failure as usual.
    package mutating func prefetchFailed(retries: Int) -> Action {
        guard case .awaitingPrefetch = state else { preconditionFailure("no request was started early") }
        tally.retries += retries
        prefetch = nil
        return prepare()
    }

    /// The replica rejoined under the identity `replica`; `pending` are the edits to write again once caught up.
    package mutating func rejoined(as replica: ReplicaID, pending: [Change]) -> Action {
        guard case .rejoining = state else { preconditionFailure("not rejoining") }
        self.replica = replica
        self.pending = pending
        tally.rejoined = true
        serverKnowledge = nil
        return prepare()
    }

    /// The pending edits were written again.
    package mutating func replayed() -> Action {
        guard case let .replaying(answer, resumes) = state else { preconditionFailure("not replaying") }
        return resumes ? nextRoundTrip() : forget(answer)
    }

    /// The collected articles were forgotten.
    package mutating func forgot() -> Action {
        guard case .forgetting = state else { preconditionFailure("not forgetting") }
        return finish()
    }

    // MARK: Decisions

    /// Whether a failed attempt `attempt` is tried again, and after which wait: a
    /// retryable failure, while the policy allows more attempts.
    package static func retry(after failure: SendFailure, attempt: Int, policy: RetryPolicy) -> Backoff? {
        guard failure.retryable, attempt < policy.maxAttempts else { return nil }
        return Backoff(attempt: attempt + 1, of: policy.maxAttempts, policy: policy)
    }

    private mutating func prepare() -> Action {
        // Without a known server knowledge, a round trip only learns it (and pulls);
        // nor is anything pushed before the server has said whose list this is.
        let couldPush = serverKnowledge != nil && accountChecked
        let pushing = couldPush && blocked == nil
        state = .preparing(pushing: pushing, couldPush: couldPush)
        return .prepare(pushingFor: pushing ? serverKnowledge : nil, limit: pageSize)
    }

    private mutating func nextRoundTrip() -> Action {
        guard prefetch != nil else { return prepare() }
        state = .awaitingPrefetch
        return .awaitPrefetch
    }

    /// A failure that is not retried (or no longer): what it means.
    private mutating func refused(_ failure: SendFailure, _ exchange: Exchange) -> Action {
        let code = failure.code
        if code == .wrongServer || code == .wrongAccount, let account {
            return stop(.wrongAccount(belongsTo: account, server: nil, reason: failure.message))
        }
        if code == .tooManyChanges, pageSize > 1 {
            // The server takes smaller pages than this client sends: halve and go on.
            pageSize = max(1, pageSize / 2)
            return prepare()
        }
        let push = exchange.request.push
        if code == .bodyTooLarge, !push.isEmpty {
            // The server takes less than it was thought to: halve the page; a single entry is too large.
            if push.count > 1 {
                pageSize = max(1, push.count / 2)
            } else {
                blocked = TooLarge(entry: push[0], bytes: WireJSON.byteCount(of: push[0]), limit: limits.maxBodyBytes)
            }
            return prepare()
        }
        if code == .rejoinRequired, pending == nil {
            // Away longer than the server keeps deleted articles: start afresh, keep what still applies.
            state = .rejoining
            return .rejoin(acknowledged: serverKnowledge ?? VersionVector())
        }
        // The server has less than remembered (restored from a backup): learn its knowledge again, once.
        if code == .gap, serverKnowledge != nil, !forgotOnce {
            forgotOnce = true
            serverKnowledge = nil
            return prepare()
        }
        return stop(.transport(attempts: exchange.attempt))
    }

    private mutating func answer(_ response: SyncResponse, to exchange: Exchange) -> Action {
        tally.roundTrips += 1
        let answer = Answer(exchange: exchange, response: response)
        // Whose list the server answered for: the replica's own, or (first sync) the one it now belongs to.
        if let answered = response.account {
            if let account {
                guard account.isSameList(as: answered) else { return stop(.wrongAccount(belongsTo: account, server: answered, reason: nil)) }
            } else {
                account = answered
                state = .answering(answer)
                return .bind(answered)
            }
        }
        return advance(answer)
    }

    private mutating func resume(after step: Step) -> Action {
        guard case let .answering(answer) = state, answer.step == step else { preconditionFailure("not expected now") }
        return advance(answer)
    }

    /// Handles an answer from the step last done on, up to the next action.
    private mutating func advance(_ answer: Answer) -> Action {
        var answer = answer
        let response = answer.response, exchange = answer.exchange
        while true {
            switch answer.step {
            case .answered:
                accountChecked = true
                answer.step = .bound
                if let announced = response.limits, announced != limits, announced.maxBodyBytes > 0, announced.maxPushEntries > 0 {
                    limits = announced
                    pageSize = min(configuration.pageSize, limits.maxPushEntries)
                    state = .answering(answer)
                    return .rememberLimits(announced)
                }
            case .bound:
                // A server (or another replica through it) holding different changes under our dots: refuse before applying.
                do {
                    try SyncSession.checkNotBehindItself(replica, knowledge: exchange.local, remoteKnowledge: response.knowledge)
                } catch {
                    return stop(.sync(error))
                }
                answer.step = .limitsRemembered
                state = .answering(answer)
                return .verifyHeads(response.heads)
            case .limitsRemembered:
                answer.step = .verified
                if configuration.pipelined, serverKnowledge != nil, accountChecked, !exchange.morePush, response.more,
                    !response.pull.isEmpty, pending == nil
                {
                    // Everything is pushed and more waits: ask for the page after this one
                    // (`pullFrom`) while this one is applied. The request says what the
                    // replica has then, so nothing unapplied is acknowledged.
                    var next = exchange.request
                    next.push = []
                    var after = next.pullFrom ?? exchange.request.knowledge
                    for entry in response.pull { after[entry.replica] = max(after[entry.replica], entry.lastCounter) }
                    next.pullFrom = after
                    state = .answering(answer)
                    return .prefetch(next)
                }
            case .verified:
                answer.step = .prefetchDecided
                if !response.pull.isEmpty {
                    let deferral: Deferral
                    if deferring == nil, response.more {
                        // Defer materialising when the replica holds fewer articles than there are
                        // changes to come (a first sync, or one resumed after a failure), or less than a page.
                        if configuration.defersMaterialization {
                            deferral = .ifHoldingFewerArticles(than: max(pageSize, Self.changesAhead(response.knowledge, of: exchange.local)))
                            answer.decidesDeferral = true
                        } else {
                            deferring = false
                            deferral = .decided(false)
                        }
                    } else {
                        deferral = .decided(deferring == true)
                    }
                    state = .answering(answer)
                    return .apply(response.pull, deferring: deferral, reportKnowledge: prefetch != nil)
                }
            case .prefetchDecided:
                // Reached only without a page to apply.
                answer.step = .applied
            case .applied:
                tally.pushed += response.stored
                serverKnowledge = response.knowledge
                answer.step = .reported
                state = .answering(answer)
                return .progress(tally, more: response.more || exchange.morePush)
            case .reported:
                guard exchange.couldPush, !exchange.morePush, !response.more else { return nextRoundTrip() }
                if let waiting = pending, !hasReplayed {
                    // Rejoined and caught up: write the pending edits again, then push them.
                    hasReplayed = true
                    state = .replaying(answer, resumes: !waiting.isEmpty)
                    return .replay(waiting)
                }
                return forget(answer)
            }
        }
    }

    /// Everything is pushed and pulled: forget exactly what the server forgot.
    private mutating func forget(_ answer: Answer) -> Action {
        guard let collected = answer.response.collected, !collected.isEmpty else { return finish() }
        state = .forgetting
        return .forget(collected)
    }

    private mutating func finish() -> Action {
        guard let serverKnowledge else { preconditionFailure("a sync ends after an answer") }
        state = .done
        return .finish(Finish(serverKnowledge: serverKnowledge, limits: limits, tally: tally, tooLarge: blocked))
    }

    private mutating func stop(_ reason: Stop) -> Action {
        state = .done
        return .fail(reason)
    }

    /// The longest prefix of `candidates` whose wire size fits `budget`
    /// bytes; when not even the first fits, none, and that entry as too large.
    static func fit(_ candidates: [LogEntry], budget: Int) -> (page: [LogEntry], tooLarge: TooLarge?) {
        var used = 0
        var count = 0
        for entry in candidates {
            let size = WireJSON.byteCount(of: entry) + 1
            if used + size > budget {
                if count == 0 { return ([], TooLarge(entry: entry, bytes: size - 1, limit: max(0, budget))) }
                break
            }
            used += size
            count += 1
        }
        return (Array(candidates.prefix(count)), nil)
    }

    /// How many changes `remote` holds beyond `local` (live or replaced: an
    /// upper bound on what is still to be pulled).
    static func changesAhead(_ remote: VersionVector, of local: VersionVector) -> Int {
        remote.counters.reduce(0) { sum, entry in
            let (total, overflow) = sum.addingReportingOverflow(Int(clamping: entry.value - min(entry.value, local[entry.key])))
            return overflow ? Int.max : total
        }
    }
}
