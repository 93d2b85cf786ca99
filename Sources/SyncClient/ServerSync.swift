import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol

/// Syncs a replica with a server through any ``SyncTransport``: each round
/// trip pushes one page of what the server lacks and pulls one page of what
/// the replica lacks, until neither side has more. Pages are applied
/// atomically; a retried round trip is harmless (the server skips what it
/// has), and an interrupted sync resumes where it stopped.
///
/// The decisions (retries, page sizes, rejoin, gap recovery, pipelining,
/// the account, the limits) are made by `ServerSyncMachine` (in `SyncProtocol`); this is its
/// driver, which performs them on the store and the transport.
public struct ServerSync: Sendable {
    /// Progress after each round trip.
    public struct Progress: Sendable, Hashable {
        /// Round trips made so far.
        public var roundTrips: Int
        /// Changes pushed so far.
        public var pushed: Int
        /// Changes pulled so far.
        public var pulled: Int
        /// Whether the server has more to pull.
        public var more: Bool
    }

    /// What a sync moved.
    public struct Report: Sendable, Hashable {
        /// Changes pushed to the server.
        public var pushed: Int
        /// Changes pulled from the server.
        public var pulled: Int
        /// Round trips made.
        public var roundTrips: Int
        /// Round trips retried after a failure.
        public var retries: Int
        /// Articles with conflicts on this replica afterwards.
        public var conflicts: Int
        /// Deleted articles forgotten at the server's horizon.
        public var collected = 0
        /// True when the replica had been away too long and rejoined under a new identity.
        public var rejoined = false
        /// Edits made before a rejoin that could not be kept: their articles were deleted and forgotten meanwhile.
        package var dropped: [Change] = []
        /// Articles materialised at the end, in one pass (an initial sync; see ``ServerSync/defersMaterialization``).
        public var materializedAtEnd = 0
    }

    /// How many entries a round trip pulls at most (the server may give fewer).
    public var pageSize: Int
    /// How failed round trips are retried.
    public var retryPolicy: RetryPolicy
    /// Waits between retries (injected so tests and simulations do not sleep).
    public var sleep: @Sendable (Duration) async throws -> Void
    /// Draws the jitter fraction for a retry (injected for reproducibility).
    public var jitter: @Sendable () -> Double
    /// Whether, while pulling, the next page is asked for while this one is
    /// applied (the server reads and encodes it meanwhile). Off makes the
    /// round trips strictly one after another (the simulator, for reproducibility).
    public var pipelined: Bool
    /// Whether a large pull into a replica that holds little (an initial
    /// sync) writes the log first and materialises the articles once at the
    /// end, in id order (`ReplicaStore.applyDeferringMaterialization(_:)`).
    public var defersMaterialization = true
    /// A deliberate move of this replica's list into the account the
    /// transport's token opens (another user, or another server): the list
    /// it belonged to is not checked, what it knew of `partner` is learnt
    /// again, its whole list is pushed, and it belongs to the new account
    /// from the first answer on. Off, a replica that belongs to another list
    /// is refused (``Failure/wrongAccount(belongsTo:server:reason:)``).
    public var moving = false
    /// Push nothing until the server has answered for the replica's account in
    /// this sync: for a server address or a token the replica has not synced
    /// with before, so that a replica that belongs elsewhere sends none of its
    /// list (the server would refuse it anyway, but it would have been sent).
    public var confirmsAccountFirst = false
    /// The identity a replica takes when it must rejoin, given its old one
    /// (nil: a random one). The simulator's, for runs that replay exactly.
    package var rejoinIdentity: (@Sendable (ReplicaID) -> ReplicaID)?
    /// Told before each retry of a round trip: the attempt about to be made
    /// (2 and up), the most there will be, and why the last one failed. A
    /// server that is down otherwise means a silent wait of many seconds.
    public var retrying: (@Sendable (_ attempt: Int, _ of: Int, _ error: SyncTransportError) -> Void)?

    /// A sync with these settings; the defaults suit an app (``LiveSync`` turns retries off, as it retries itself).
    public init(
        pageSize: Int = SyncLimits.defaultPullLimit, retryPolicy: RetryPolicy = RetryPolicy(),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        pipelined: Bool = true
    ) {
        precondition(pageSize > 0)
        self.pipelined = pipelined
        self.pageSize = pageSize
        self.retryPolicy = retryPolicy
        self.sleep = sleep
        self.jitter = jitter
    }

    /// Why a server sync stopped.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Reading or writing the replica failed.
        case store(StoreError)
        /// The round trip failed `attempts` times (the last error).
        case transport(SyncTransportError, attempts: Int)
        /// The server's list is not the one this replica belongs to (another
        /// user's token, or another server): nothing was sent or applied.
        /// `server` is the list the server answered for, when it said;
        /// `reason`, the server's own words when it refused the request.
        case wrongAccount(belongsTo: SyncAccount, server: SyncAccount?, reason: String?)
        /// A change waiting to be pushed is larger than the server takes in
        /// one request. What came before it was pushed and everything was
        /// pulled; it and this replica's later changes wait (nothing is lost)
        /// until a new write of its field replaces it.
        case entryTooLarge(EntryTooLarge)

        /// One line saying why the sync stopped, for a person.
        public var description: String {
            switch self {
            case let .store(error): error.description
            case let .transport(error, attempts): attempts > 1 ? "\(error) (after \(attempts) attempts)" : error.description
            case let .wrongAccount(belongsTo, server, reason):
                "this replica belongs to \(belongsTo), not to \(server.map(\.description) ?? "the list this server and token open")\(reason.map { " (the server says: \($0))" } ?? ""); nothing was applied"
            case let .entryTooLarge(entry): entry.description
            }
        }
    }

    /// A change too large for the server's request limit.
    public struct EntryTooLarge: Sendable, Hashable, CustomStringConvertible {
        /// The entity the change writes (an article or a highlight).
        public var entity: EntityRef
        /// The fields of the entry (a save's run writes several), largest first.
        public var fields: [String]
        /// The entry's size on the wire, and the most the server takes for all of a request's entries.
        public var bytes: Int
        /// The most bytes the server takes in one request.
        public var limit: Int

        /// One line naming the entity, its largest fields, its size and the limit.
        public var description: String {
            let what = entity.articleID.map { "article \($0.rawValue.prefix(8))" } ?? "\(entity.type) \(entity.id)"
            return "\(what) has a change of \(Self.size(bytes)) (\(fields.joined(separator: ", "))), more than the server takes in one request (\(Self.size(limit)))"
        }

        static func size(_ bytes: Int) -> String {
            bytes >= 1 << 20 ? String(format: "%.1f MB", Double(bytes) / Double(1 << 20)) : "\((bytes + 1023) / 1024) KB"
        }

        init(_ entry: LogEntry, bytes: Int, limit: Int) {
            switch entry {
            case let .change(change): (entity, fields) = (change.entity, [change.field])
            case let .run(run):
                entity = run.entity
                fields = run.writes.sorted { $0.value.canonicalText.utf8.count > $1.value.canonicalText.utf8.count }.map(\.field)
            case let .replaced(range): (entity, fields) = (EntityRef(type: "replaced", id: "\(range.replica.short)"), [])
            }
            self.bytes = bytes
            self.limit = limit
        }
    }

    /// Runs the sync. `partner` names the server in the replica's records (its URL).
    public func run(
        store: ReplicaStore, transport: some SyncTransport, partner: String,
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws(Failure) -> Report {
        do {
            do {
                var report = try await runUnmapped(store: store, transport: transport, partner: partner, progress: progress)
                // Articles saved under a URL variant's id (an older release) merge into
                // their canonical article; the merges leave with this sync.
                guard try store.mergeURLVariants() > 0 else { return report }
                let again = try await runUnmapped(store: store, transport: transport, partner: partner, progress: progress)
                report.pushed += again.pushed
                report.pulled += again.pulled
                report.roundTrips += again.roundTrips
                report.retries += again.retries
                report.collected += again.collected
                report.materializedAtEnd += again.materializedAtEnd
                report.conflicts = again.conflicts
                return report
            } catch {
                // What was pulled before the failure is kept: show it.
                _ = try? store.materializePending()
                throw error
            }
        } catch let error as Failure {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch let error as SyncError {
            throw .store(.sync(error))
        } catch {
            throw .store(.database(Cause(error)))
        }
    }

    /// The driver of a ``ServerSyncMachine``: it reads what the replica
    /// remembers, then performs each action the machine returns on the store
    /// and the transport and reports back, until the machine finishes or fails.
    /// The early request of a pipelined pull runs as a task of its own while
    /// the page is applied.
    private func runUnmapped(
        store: ReplicaStore, transport: some SyncTransport, partner: String, progress: @Sendable (Progress) -> Void
    ) async throws -> Report {
        if moving { try store.setSetting(Self.cursorKey(partner), nil) }
        // What the replica knows of the server is kept under the account once it
        // has one (so that two spellings of one server's address are one partner),
        // and under `partner` before: a first sync, a replica made from a snapshot.
        let accountBefore = moving ? nil : try store.account()
        var records = accountBefore.map(Self.recordName) ?? partner
        func remembered<T>(_ read: (String) throws(StoreError) -> T?) throws(StoreError) -> T? {
            if let value = try read(records) { return value }
            return records == partner ? nil : try read(partner)
        }
        var machine = ServerSyncMachine(
            ServerSyncMachine.Configuration(
                replica: store.replicaID, pageSize: pageSize, retryPolicy: retryPolicy, pipelined: pipelined,
                defersMaterialization: defersMaterialization, confirmsAccountFirst: confirmsAccountFirst))
        let serverKnowledge = moving ? nil : try remembered { name throws(StoreError) in try store.partnerKnowledge(name) }
        let limits = try remembered { name throws(StoreError) in try store.serverLimits(name) }
        var action = machine.start(ServerSyncMachine.Remembered(account: accountBefore, serverKnowledge: serverKnowledge, limits: limits))
        var collected = 0
        var dropped: [Change] = []
        // The error of the last failed round trip (the machine asks to wait or gives up only after one).
        var lastError = SyncTransportError.unreachable("no round trip was made")
        // The next pull, asked for while this page is applied.
        var prefetching: Task<(response: SyncResponse?, retries: Int), Never>?
        defer { prefetching?.cancel() }
        while true {
            switch action {
            case let .prepare(pushingFor, limit):
                let knowledge = try store.knowledge()
                let heads = try store.heads()
                let cursor = try remembered { name throws(StoreError) in try store.setting(Self.cursorKey(name)) }.flatMap { Int64($0) }
                var candidates: [LogEntry] = []
                if let known = pushingFor { candidates = try store.outgoing(for: known, limit: limit) }
                action = machine.prepared(
                    ServerSyncMachine.Materials(knowledge: knowledge, heads: heads, collectedThrough: cursor, candidates: candidates))
            case let .send(request):
                do {
                    let response = try await transport.send(request)
                    action = machine.received(response)
                } catch {
                    lastError = error
                    action = machine.failed(ServerSyncMachine.SendFailure(error))
                }
            case let .backoff(backoff):
                if await wait(backoff, after: lastError) {
                    action = machine.backedOff()
                } else {
                    lastError = .unreachable("cancelled")
                    action = machine.backoffInterrupted()
                }
            case let .bind(account):
                try store.bind(to: account)
                records = Self.recordName(account)
                action = machine.accountBound()
            case let .rememberLimits(limits):
                try store.setServerLimits(limits, records)
                action = machine.limitsRemembered()
            case let .verifyHeads(heads):
                try ForkCheck.check(remoteHeads: heads, localDigest: store.digest(at:))
                action = machine.headsVerified()
            case var .prefetch(ask):
                ask.knowledge = try store.knowledge()
                let request = ask
                prefetching = Task { [self] in await sendRetrying(request, over: transport) }
                action = machine.prefetchStarted(request)
            case let .apply(entries, deferral, reportKnowledge):
                let deferring: Bool
                switch deferral {
                case let .decided(decided): deferring = decided
                case let .ifHoldingFewerArticles(than: count): deferring = try store.holdsFewerArticles(than: count)
                }
                let changes = try (deferring ? store.applyDeferringMaterialization(entries) : store.apply(entries)).appliedChanges
                action = machine.applied(changes: changes, deferring: deferring, knowledge: reportKnowledge ? try store.knowledge() : nil)
            case .cancelPrefetch:
                prefetching?.cancel()
                prefetching = nil
                action = machine.prefetchCancelled()
            case let .progress(tally, more):
                progress(Progress(roundTrips: tally.roundTrips, pushed: tally.pushed, pulled: tally.pulled, more: more))
                action = machine.progressReported()
            case .awaitPrefetch:
                guard let task = prefetching else { preconditionFailure("the machine awaits a request that was not started") }
                prefetching = nil
                // (The early request is a task of its own: cancelling this sync cancels it too.)
                let outcome = await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
                if let response = outcome.response {
                    action = machine.prefetchArrived(response, retries: outcome.retries)
                } else {
                    action = machine.prefetchFailed(retries: outcome.retries)
                }
            case let .rejoin(acknowledged):
                let pending = try store.rejoin(acknowledged: acknowledged, as: rejoinIdentity?(store.replicaID))
                action = machine.rejoined(as: store.replicaID, pending: pending)
            case let .replay(pending):
                dropped = try store.replay(pending)
                action = machine.replayed()
            case let .forget(collections):
                for collection in collections {
                    guard let article = try? ArticleID(validating: collection.article) else { continue }
                    if try store.forget(article: article, within: collection.horizon) > 0 { collected += 1 }
                    try store.setSetting(Self.cursorKey(records), String(collection.seq))
                }
                action = machine.forgot()
            case let .finish(finish):
                try store.recordSync(partner: records, replica: nil, knowledge: finish.serverKnowledge)
                if records != partner {
                    // Kept under the account from now on: what was kept under the address goes.
                    if try store.setting(Self.cursorKey(records)) == nil, let cursor = try store.setting(Self.cursorKey(partner)) {
                        try store.setSetting(Self.cursorKey(records), cursor)
                    }
                    if try store.serverLimits(records) == nil { try store.setServerLimits(finish.limits, records) }
                    try store.forgetPartner(partner)
                    try store.setSetting(Self.cursorKey(partner), nil)
                    try store.setSetting(Self.limitsKey(partner), nil)
                }
                var report = Report(
                    pushed: finish.tally.pushed, pulled: finish.tally.pulled, roundTrips: finish.tally.roundTrips,
                    retries: finish.tally.retries, conflicts: 0)
                report.collected = collected
                report.rejoined = finish.tally.rejoined
                report.dropped = dropped
                // (Also when this sync did not defer: a pass an earlier sync could not finish.)
                report.materializedAtEnd = try store.materializePending()
                report.conflicts = try store.conflictCount()
                if let tooLarge = finish.tooLarge {
                    throw Failure.entryTooLarge(EntryTooLarge(tooLarge.entry, bytes: tooLarge.bytes, limit: tooLarge.limit))
                }
                return report
            case let .fail(stop):
                switch stop {
                case let .transport(attempts): throw Failure.transport(lastError, attempts: attempts)
                case let .wrongAccount(belongsTo, server, reason): throw Failure.wrongAccount(belongsTo: belongsTo, server: server, reason: reason)
                case let .sync(error): throw error
                }
            }
        }
    }

    /// The name a replica keeps a server's records under once it belongs to an account there.
    package static func recordName(_ account: SyncAccount) -> String { "account:\(account.server):\(account.user)" }

    static func cursorKey(_ partner: String) -> String { "collected-through:" + partner }
    static func limitsKey(_ partner: String) -> String { "limits:" + partner }

    /// Sends the early request of a pipelined pull, retrying as the machine
    /// decides for any round trip; nil when it failed (it is then asked again
    /// the usual way, which reports a failure as usual).
    private func sendRetrying(_ request: SyncRequest, over transport: some SyncTransport) async -> (response: SyncResponse?, retries: Int) {
        var attempt = 1
        var retries = 0
        while true {
            do {
                return (try await transport.send(request), retries)
            } catch {
                guard let backoff = ServerSyncMachine.retry(after: ServerSyncMachine.SendFailure(error), attempt: attempt, policy: retryPolicy)
                else { return (nil, retries) }
                retries += 1
                guard await wait(backoff, after: error) else { return (nil, retries) }
                attempt += 1
            }
        }
    }

    /// Tells ``retrying`` and waits the backoff's delay (the jitter drawn now);
    /// false when the wait was interrupted.
    private func wait(_ backoff: ServerSyncMachine.Backoff, after error: SyncTransportError) async -> Bool {
        retrying?(backoff.attempt, backoff.of, error)
        do {
            try await sleep(backoff.delay(jitter: jitter()))
            return true
        } catch {
            return false
        }
    }
}

extension ServerSyncMachine.SendFailure {
    /// The machine's view of a failed round trip: the server's code and words, and whether it is retried.
    init(_ error: SyncTransportError) {
        if case let .rejected(_, code, message) = error {
            self.init(code: code, message: message, retryable: error.isRetryable)
        } else {
            self.init(retryable: error.isRetryable)
        }
    }
}
