import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol

/// Syncs a replica with a server through any ``SyncTransport``: each round
/// trip pushes one page of what the server lacks and pulls one page of what
/// the replica lacks, until neither side has more. Pages are applied
/// atomically; a retried round trip is harmless (the server skips what it
/// has), and an interrupted sync resumes where it stopped.
public struct ServerSync: Sendable {
    /// Progress after each round trip.
    public struct Progress: Sendable, Hashable {
        public var roundTrips: Int
        public var pushed: Int
        public var pulled: Int
        public var more: Bool
    }

    /// What a sync moved.
    public struct Report: Sendable, Hashable {
        public var pushed: Int
        public var pulled: Int
        public var roundTrips: Int
        public var retries: Int
        /// Articles with conflicts on this replica afterwards.
        public var conflicts: Int
        /// Deleted articles forgotten at the server's horizon.
        public var collected = 0
        /// True when the replica had been away too long and rejoined under a new identity.
        public var rejoined = false
        /// Edits made before a rejoin that could not be kept: their articles were deleted and forgotten meanwhile.
        public var dropped: [Change] = []
        /// Articles materialised at the end, in one pass (an initial sync; see ``ServerSync/defersMaterialization``).
        public var materializedAtEnd = 0
    }

    public var pageSize: Int
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
    /// end, in id order (``ReplicaStore/applyDeferringMaterialization(_:)``).
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
    /// Told before each retry of a round trip: the attempt about to be made
    /// (2 and up), the most there will be, and why the last one failed. A
    /// server that is down otherwise means a silent wait of many seconds.
    public var retrying: (@Sendable (_ attempt: Int, _ of: Int, _ error: SyncTransportError) -> Void)?

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
        case store(StoreError)
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
        public var limit: Int

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
            throw .store(.database("\(error)"))
        }
    }

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
        var serverKnowledge = moving ? nil : try remembered { name throws(StoreError) in try store.partnerKnowledge(name) }
        var report = Report(pushed: 0, pulled: 0, roundTrips: 0, retries: 0, conflicts: 0)
        var forgotOnce = false
        var pending: [Change]?
        var replayed = false
        // The list this replica belongs to. Until the server has said whose list
        // the token opens, nothing is pushed (a replica's first sync, or one
        // synced before replicas were bound).
        var bound = accountBefore
        var accountChecked = bound != nil && !confirmsAccountFirst
        // What the server takes: remembered from its last answer, defaults before.
        var limits = try remembered { name throws(StoreError) in try store.serverLimits(name) } ?? SyncLimits()
        var pageSize = min(pageSize, max(1, limits.maxPushEntries))
        // A change too large to push: the rest is pulled, then the sync reports it.
        var blocked: EntryTooLarge?
        // The next pull, asked for before this page is applied.
        var prefetched: (request: SyncRequest, task: Task<(Result<SyncResponse, Failure>, retries: Int), Never>)?
        // Decided at the first page that says more follows: defer materialising
        // when the replica holds fewer articles than there are changes to come
        // (a first sync, or one resumed after a failure), or less than a page.
        var deferring: Bool?
        defer { prefetched?.task.cancel() }
        while true {
            let local: VersionVector
            let push: [LogEntry]
            // Whether entries wait to be pushed beyond this request's.
            var morePush = false
            // Whether this request pushed what it could (it knew the server's knowledge and whose list it is).
            var couldPush = true
            let request: SyncRequest
            let response: SyncResponse
            if let next = prefetched {
                prefetched = nil
                // (The early request is a task of its own: cancelling this sync cancels it too.)
                let (outcome, retries) = await withTaskCancellationHandler { await next.task.value } onCancel: { next.task.cancel() }
                report.retries += retries
                guard case let .success(answer) = outcome else {
                    continue  // asked again the usual way, which reports a failure as usual
                }
                (local, push, request, response) = (next.request.knowledge, [], next.request, answer)
            } else {
                local = try store.knowledge()
                var asked = SyncRequest(replica: store.replicaID, knowledge: local, heads: try store.heads(), push: [], pullLimit: pageSize)
                asked.collectedThrough = try remembered { name throws(StoreError) in try store.setting(Self.cursorKey(name)) }.flatMap { Int64($0) }
                asked.account = bound
                // Without a remembered server knowledge, the first round trip only learns it (and pulls);
                // nor is anything pushed before the server has said whose list this is.
                couldPush = serverKnowledge != nil && accountChecked
                if let serverKnowledge, accountChecked, blocked == nil {
                    let candidates = try store.outgoing(for: serverKnowledge, limit: pageSize)
                    (asked.push, blocked) = Self.fit(candidates, budget: limits.maxBodyBytes - WireJSON.envelopeByteCount(of: asked) - 256)
                    morePush = blocked == nil && (candidates.count > asked.push.count || candidates.count == pageSize)
                }
                push = asked.push
                request = asked
                do {
                    response = try await send(request, over: transport, report: &report)
                } catch {
                    if isCode(error, .wrongServer) || isCode(error, .wrongAccount), let bound {
                        var reason: String?
                        if case let .transport(.rejected(_, _, message), _) = error { reason = message }
                        throw Failure.wrongAccount(belongsTo: bound, server: nil, reason: reason)
                    }
                    if isCode(error, .tooManyChanges), pageSize > 1 {
                        // The server takes smaller pages than this client sends: halve and go on.
                        pageSize = max(1, pageSize / 2)
                        continue
                    }
                    if isCode(error, .bodyTooLarge), !push.isEmpty {
                        // The server takes less than it was thought to: halve the page; a single entry is too large.
                        if push.count > 1 {
                            pageSize = max(1, push.count / 2)
                        } else {
                            blocked = EntryTooLarge(push[0], bytes: WireJSON.byteCount(of: push[0]), limit: limits.maxBodyBytes)
                        }
                        continue
                    }
                    if isCode(error, .rejoinRequired), pending == nil {
                        // Away longer than the server keeps deleted articles: start afresh, keep what still applies.
                        pending = try store.rejoin(acknowledged: serverKnowledge ?? VersionVector())
                        report.rejoined = true
                        serverKnowledge = nil
                        continue
                    }
                    // The server has less than remembered (restored from a backup): learn its knowledge again.
                    guard isCode(error, .gap), serverKnowledge != nil, !forgotOnce else { throw error }
                    forgotOnce = true
                    serverKnowledge = nil
                    continue
                }
            }
            report.roundTrips += 1
            // Whose list the server answered for: the replica's own, or (first sync) the one it now belongs to.
            if let account = response.account {
                if let bound {
                    guard bound.isSameList(as: account) else { throw Failure.wrongAccount(belongsTo: bound, server: account, reason: nil) }
                } else {
                    try store.bind(to: account)
                    bound = account
                    records = Self.recordName(account)
                }
            }
            accountChecked = true
            if let announced = response.limits, announced != limits, announced.maxBodyBytes > 0, announced.maxPushEntries > 0 {
                limits = announced
                pageSize = min(self.pageSize, limits.maxPushEntries)
                try store.setServerLimits(limits, records)
            }
            // A server (or another replica through it) holding different changes under our dots: refuse before applying.
            if response.knowledge[store.replicaID] > local[store.replicaID] {
                throw SyncError.replicaBehindItself(
                    replica: store.replicaID, itsOwnCounter: local[store.replicaID], seenElsewhere: response.knowledge[store.replicaID])
            }
            try ForkCheck.check(remoteHeads: response.heads, localDigest: store.digest(at:))
            if pipelined, serverKnowledge != nil, accountChecked, !morePush, response.more, !response.pull.isEmpty, pending == nil {
                // Everything is pushed and more waits: ask for the page after this one
                // (`pullFrom`) while this one is applied. The request says what the
                // replica has now, so nothing unapplied is acknowledged.
                var next = request
                next.push = []
                next.knowledge = try store.knowledge()
                var after = next.pullFrom ?? request.knowledge
                for entry in response.pull { after[entry.replica] = max(after[entry.replica], entry.lastCounter) }
                next.pullFrom = after
                let ask = next
                prefetched = (ask, Task { [self] in
                    var tally = Report(pushed: 0, pulled: 0, roundTrips: 0, retries: 0, conflicts: 0)
                    do throws(Failure) {
                        return (.success(try await send(ask, over: transport, report: &tally)), tally.retries)
                    } catch {
                        return (.failure(error), tally.retries)
                    }
                })
            }
            if !response.pull.isEmpty {
                if deferring == nil, response.more {
                    deferring = try defersMaterialization && store.holdsFewerArticles(than: max(pageSize, Self.changesAhead(response.knowledge, of: local)))
                }
                report.pulled += try (deferring == true
                    ? store.applyDeferringMaterialization(response.pull) : store.apply(response.pull)).appliedChanges
            }
            if let next = prefetched, try store.knowledge() != next.request.pullFrom {
                // Something else wrote meanwhile: ask again with what the replica really has.
                next.task.cancel()
                prefetched = nil
            }
            report.pushed += response.stored
            let knewServer = couldPush
            serverKnowledge = response.knowledge
            progress(Progress(roundTrips: report.roundTrips, pushed: report.pushed, pulled: report.pulled, more: response.more || morePush))
            if knewServer && !morePush && !response.more {
                if let waiting = pending, !replayed {
                    // Rejoined and caught up: write the pending edits again, then push them.
                    replayed = true
                    report.dropped = try store.replay(waiting)
                    if !waiting.isEmpty { continue }
                }
                // Everything is pushed and pulled: forget exactly what the server forgot.
                for collection in response.collected ?? [] {
                    guard let article = try? ArticleID(validating: collection.article) else { continue }
                    if try store.forget(article: article, within: collection.horizon) > 0 { report.collected += 1 }
                    try store.setSetting(Self.cursorKey(records), String(collection.seq))
                }
                break
            }
        }
        if let serverKnowledge {
            try store.recordSync(partner: records, replica: nil, knowledge: serverKnowledge)
            if records != partner {
                // Kept under the account from now on: what was kept under the address goes.
                if try store.setting(Self.cursorKey(records)) == nil, let cursor = try store.setting(Self.cursorKey(partner)) {
                    try store.setSetting(Self.cursorKey(records), cursor)
                }
                if try store.serverLimits(records) == nil { try store.setServerLimits(limits, records) }
                try store.forgetPartner(partner)
                try store.setSetting(Self.cursorKey(partner), nil)
                try store.setSetting(Self.limitsKey(partner), nil)
            }
        }
        // (Also when this sync did not defer: a pass an earlier sync could not finish.)
        report.materializedAtEnd = try store.materializePending()
        report.conflicts = try store.conflictCount()
        if let blocked { throw Failure.entryTooLarge(blocked) }
        return report
    }

    /// The name a replica keeps a server's records under once it belongs to an account there.
    public static func recordName(_ account: SyncAccount) -> String { "account:\(account.server):\(account.user)" }

    static func cursorKey(_ partner: String) -> String { "collected-through:" + partner }
    static func limitsKey(_ partner: String) -> String { "limits:" + partner }

    /// The longest prefix of `candidates` whose wire size fits `budget`
    /// bytes; when not even the first fits, none, and that entry as too large.
    static func fit(_ candidates: [LogEntry], budget: Int) -> (page: [LogEntry], tooLarge: EntryTooLarge?) {
        var used = 0
        var count = 0
        for entry in candidates {
            let size = WireJSON.byteCount(of: entry) + 1
            if used + size > budget {
                if count == 0 { return ([], EntryTooLarge(entry, bytes: size - 1, limit: max(0, budget))) }
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

    private func isCode(_ error: Failure, _ expected: SyncErrorCode) -> Bool {
        guard case let .transport(transportError, _) = error, case let .rejected(_, code, _) = transportError else { return false }
        return code == expected
    }

    private func send(_ request: SyncRequest, over transport: some SyncTransport, report: inout Report) async throws(Failure) -> SyncResponse {
        var attempt = 1
        while true {
            do {
                return try await transport.send(request)
            } catch {
                guard error.isRetryable, attempt < retryPolicy.maxAttempts else { throw .transport(error, attempts: attempt) }
                report.retries += 1
                retrying?(attempt + 1, retryPolicy.maxAttempts, error)
                do { try await sleep(retryPolicy.delay(beforeRetry: attempt, fraction: jitter())) } catch { throw .transport(.unreachable("cancelled"), attempts: attempt) }
                attempt += 1
            }
        }
    }
}
