import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol
import Synchronization

/// The faults a simulation can inject.
package enum SimulationFault: String, Sendable, CaseIterable, Hashable {
    /// Requests lost before the server applied them, or responses lost after.
    case drop
    /// A request delivered twice.
    case duplicate
    /// An old request delivered again late, after newer ones.
    case reorder
    /// A replica crashing part-way through applying a batch, restarting from its file.
    case crash
    /// Replicas cut off from the server for a while, then healed.
    case partition
    /// Replica clocks hours to a year off.
    case skew
    /// A replica's file copied: the copy and the original write under the same dots
    /// (the copy as many or more), the original syncs, another replica may replace the
    /// original's write on the server, and the copy's sync must be refused.
    case clone
}

/// A seeded run: replicas, user operations and syncs through a faulty
/// network to the real server code, with a deterministic scheduler.
package struct Simulation: Sendable {
    package var seed: UInt64
    package var replicas: Int
    package var operations: Int
    package var faults: Set<SimulationFault>
    /// Whether every quiescent point and the end are checked against the
    /// ``Oracle`` (an independent model of the merge contract).
    package var oracle: Bool

    package init(
        seed: UInt64, replicas: Int = 3, operations: Int = 100, faults: Set<SimulationFault> = Set(SimulationFault.allCases), oracle: Bool = true
    ) {
        self.seed = seed
        self.replicas = replicas
        self.operations = operations
        self.faults = faults
        self.oracle = oracle
    }

    /// One scheduled event. A trace of events is generated from the seed, then
    /// executed; shrinking removes events and executes again.
    package enum Event: Sendable, Hashable, CustomStringConvertible {
        case operation(replica: Int, UserOperation)
        case sync(replica: Int, SyncPlan)
        case partition(replica: Int)
        case heal(replica: Int)
        case advance(millis: Int64)
        /// Copy the replica's file; the copy writes `copyWrites` changes (every other time its
        /// second replaces its first), the original one; the original syncs; with `replace`, another
        /// replica replaces the original's write on the server; then the copy must be refused.
        case clone(replica: Int, copyWrites: Int, replace: Bool)

        package var description: String {
            switch self {
            case let .operation(replica, operation): "r\(replica): \(operation)"
            case let .sync(replica, plan): "r\(replica): sync \(plan)"
            case let .partition(replica): "partition r\(replica)"
            case let .heal(replica): "heal r\(replica)"
            case let .advance(millis): "advance \(millis) ms"
            case let .clone(replica, copyWrites, replace):
                "copy r\(replica)'s file; the copy writes \(copyWrites) change(s), r\(replica) one; r\(replica) syncs"
                    + (replace ? ", another replica replaces its write" : "") + ", then the copy"
            }
        }
    }

    /// What goes wrong during one sync, decided when the trace is generated.
    package struct SyncPlan: Sendable, Hashable, CustomStringConvertible {
        package var pageSize: Int
        /// Round trips (0-based) whose request is lost before reaching the server.
        package var dropBefore: Set<Int> = []
        /// Round trips whose response is lost after the server applied the request.
        package var dropAfter: Set<Int> = []
        /// Round trips delivered twice.
        package var duplicate: Set<Int> = []
        /// Deliver a stale earlier request of this replica again before round trip 0.
        package var replayStale = false
        /// Crash while applying the pulled page of round trip `.0`, before entry `.1`.
        package var crash: (Int, Int)?
        /// Round trips whose push arrives in two parts, the later part first (reordered
        /// pages: its first entry is missing, a gap the server must refuse), then whole.
        package var tailFirst: Set<Int> = []

        /// With either reorder fault (from round trip 0 with a stale request, else from the first
        /// push tail first), every pulled page arrives reordered at the replica before it arrives
        /// whole; the replica must refuse whatever needs an entry held back (a gap, or a change
        /// whose context names it).
        package var pullsReorderedFrom: Int? { replayStale ? 0 : tailFirst.min() }

        package static func == (a: SyncPlan, b: SyncPlan) -> Bool {
            a.pageSize == b.pageSize && a.dropBefore == b.dropBefore && a.dropAfter == b.dropAfter && a.duplicate == b.duplicate
                && a.replayStale == b.replayStale && a.crash?.0 == b.crash?.0 && a.crash?.1 == b.crash?.1 && a.tailFirst == b.tailFirst
        }

        package func hash(into hasher: inout Hasher) {
            hasher.combine(pageSize)
            hasher.combine(dropBefore)
            hasher.combine(dropAfter)
            hasher.combine(duplicate)
            hasher.combine(tailFirst)
        }

        package var description: String {
            var parts = ["page \(pageSize)"]
            if !dropBefore.isEmpty { parts.append("lose requests \(dropBefore.sorted())") }
            if !dropAfter.isEmpty { parts.append("lose responses \(dropAfter.sorted())") }
            if !duplicate.isEmpty { parts.append("duplicate \(duplicate.sorted())") }
            if replayStale { parts.append("deliver an earlier request again late (reorder)") }
            if let from = pullsReorderedFrom { parts.append("pulled pages reordered from round trip \(from)") }
            if let crash { parts.append("crash in round trip \(crash.0) at entry \(crash.1)") }
            if !tailFirst.isEmpty { parts.append("push arrives tail first \(tailFirst.sorted())") }
            return parts.joined(separator: ", ")
        }
    }

    /// A user action, concrete but tolerant: it names pages, not articles, and
    /// does nothing when the page is not in the replica's list.
    package struct UserOperation: Sendable, Hashable, CustomStringConvertible {
        package var kind: Int
        package var page: Int
        package var variant: Int
        package var word: Int
        package var tag: Int
        package var fraction: Int

        static let pages = ["https://example.com/a", "https://example.com/b", "https://news.example.org/story", "http://blog.example.net/post/1", "https://example.com/c"]
        static let variants = ["", "?utm_source=phone", "#top", "/", "?fbclid=xyz&utm_medium=mail"]
        static let words = ["Alpha", "Beta", "Gamma"]
        static let tags = ["swift", "news", "later"]
        static let kinds = [
            "save", "save with title", "edit title", "edit note", "tag", "untag", "read", "unread", "progress", "archive", "favorite", "delete", "highlight",
            "resolve", "delete highlight", "save without options", "import a batch with",
        ]

        var url: String {
            let base = Self.pages[page]
            let suffix = Self.variants[variant]
            return suffix == "/" ? base + "/" : base + suffix
        }

        package var description: String {
            "\(Self.kinds[kind]) \(url) [\(Self.words[word]), #\(Self.tags[tag]), \(fraction * 10)%]"
        }

        /// Applies the operation; false when it did not apply to the list as it is.
        func apply(to store: ReplicaStore) throws -> Bool {
            let id = ArticleID(url: try NormalizedURL(url)).rawValue
            let article = try? store.article(id)
            do {
                switch kind {
                case 0: try store.save(SaveRequest(url: url, tags: [Self.tags[tag]]))
                case 1: try store.save(SaveRequest(url: url, title: Self.words[word]))
                case 15: try store.save(SaveRequest(url: url))
                case 16:
                    // An import batch (one transaction): this page with a tag, a state, progress and a
                    // highlight (its id derived from the article and the quote, so two replicas importing
                    // it write the same highlight), and the next page with a title and an earlier added time.
                    let next = Self.pages[(page + 1) % Self.pages.count] + Self.variants[(variant + 1) % Self.variants.count].replacingOccurrences(of: "/", with: "")
                    let outcomes = try store.importArticles([
                        ImportedArticle(
                            request: SaveRequest(url: url, tags: [Self.tags[tag]]), isRead: fraction >= 8, isFavorite: word == 1,
                            progress: fraction < 8 ? Double(fraction) / 10 : nil,
                            highlights: [ImportedHighlight(quote: "imported \(Self.words[word])", note: fraction % 2 == 0 ? "from a file" : nil, position: 0.5)]),
                        ImportedArticle(
                            request: SaveRequest(url: next, title: "Imported \(Self.words[word])"),
                            addedAt: fraction % 3 == 0 ? 1_770_000_000_000 + Int64(page) * 60_000 : nil, isArchived: tag == 2),
                    ])
                    return outcomes.contains { if case .unchanged = $0 { false } else { true } }
                default:
                    guard let article else { return false }
                    switch kind {
                    case 2: try store.edit(id, [Fields.title: .string(Self.words[word])])
                    case 3: try store.edit(id, [Fields.note: .string("note \(Self.words[word])")])
                    case 4: try store.setTags(id, [Self.tags[tag]], present: true)
                    case 5:
                        guard article.tags.contains(Self.tags[tag]) else { return false }
                        try store.setTags(id, [Self.tags[tag]], present: false)
                    case 6: try store.setRead(id, true)
                    case 7: try store.setRead(id, false)
                    case 8: try store.setProgress(id, Double(fraction) / 10)
                    case 9: try store.edit(id, [Fields.isArchived: .bool(!article.isArchived)])
                    case 10: try store.edit(id, [Fields.isFavorite: .bool(!article.isFavorite)])
                    case 11: try store.delete(id)
                    case 12: try store.addHighlight(id, quote: "quote \(Self.words[word])", position: Double(fraction) / 10)
                    case 13:
                        guard let conflict = article.conflicts.first else { return false }
                        try store.resolveConflict(id, field: conflict.field, keep: 1 + fraction % conflict.values.count)
                    default:
                        guard !article.highlights.isEmpty else { return false }
                        try store.deleteHighlight(article.highlights[word % article.highlights.count].id)
                    }
                }
            } catch {
                // (Not `catch StoreError.invalidOperation`: that pattern crashes the 6.3 optimizer.)
                if case .invalidOperation = error { return false }
                throw error
            }
            return true
        }
    }

    /// The trace this seed generates.
    package func trace() -> [Event] {
        var generator = SplitMix64(seed: seed)
        var events: [Event] = []
        var partitioned: Set<Int> = []
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }
        var remaining = operations
        while remaining > 0 {
            let replica = Int.random(in: 0..<replicas, using: &generator)
            let roll = Int.random(in: 0..<100, using: &generator)
            if roll < 65, replicas > 1, remaining > 1, chance(30) {
                // A race: a delete on one replica against a save, a highlight or an edit of the same
                // page on another that has not seen it; marking unread (a new read-through) against
                // progress; or a save again after a delete, on one replica.
                // Some first sync both cleanly, so that both hold the page when they race.
                let deleter = replica
                var other = Int.random(in: 0..<(replicas - 1), using: &generator)
                if other >= deleter { other += 1 }
                let page = Int.random(in: 0..<UserOperation.pages.count, using: &generator)
                func operation(_ kind: Int) -> UserOperation {
                    UserOperation(
                        kind: kind, page: page, variant: Int.random(in: 0..<UserOperation.variants.count, using: &generator),
                        word: Int.random(in: 0..<3, using: &generator), tag: Int.random(in: 0..<3, using: &generator),
                        fraction: Int.random(in: 0...10, using: &generator))
                }
                let race = Int.random(in: 0..<100, using: &generator)
                // (Most often before a save or a highlight: their race shows only when both hold the page.)
                if chance(race < 60 ? 60 : 10) {
                    events.append(.sync(replica: deleter, SyncPlan(pageSize: 1000)))
                    events.append(.sync(replica: other, SyncPlan(pageSize: 1000)))
                }
                let opening = Event.operation(replica: deleter, operation(race < 75 || race >= 85 ? 11 : 7))
                let rival: Event
                switch race {
                case ..<30: rival = .operation(replica: other, operation([0, 1, 15][Int.random(in: 0..<3, using: &generator)]))  // save
                case ..<60: rival = .operation(replica: other, operation(12))  // highlight
                case ..<75: rival = .operation(replica: other, operation([3, 4, 8][Int.random(in: 0..<3, using: &generator)]))  // edit
                case ..<85: rival = .operation(replica: other, operation(8))  // progress against "unread"
                default: rival = .operation(replica: deleter, operation(Int.random(in: 0..<2, using: &generator)))  // save again
                }
                events += race < 85 && chance(50) ? [rival, opening] : [opening, rival]
                remaining -= 2
            } else if roll < 65 {
                // A quarter of the operations save a page, the rest act on what is there.
                let kind = chance(25) ? Int.random(in: 0..<2, using: &generator) : Int.random(in: 2..<UserOperation.kinds.count, using: &generator)
                let operation = UserOperation(
                    kind: kind, page: Int.random(in: 0..<UserOperation.pages.count, using: &generator),
                    variant: Int.random(in: 0..<UserOperation.variants.count, using: &generator), word: Int.random(in: 0..<3, using: &generator),
                    tag: Int.random(in: 0..<3, using: &generator), fraction: Int.random(in: 0...10, using: &generator))
                events.append(.operation(replica: replica, operation))
                remaining -= 1
            } else if roll < 92, faults.contains(.clone), chance(3) {
                events.append(.clone(replica: replica, copyWrites: Int.random(in: 1...3, using: &generator), replace: chance(50)))
            } else if roll < 92 {
                var plan = SyncPlan(pageSize: [2, 5, 20, 1000][Int.random(in: 0..<4, using: &generator)])
                for roundTrip in 0..<4 {
                    if faults.contains(.drop) && chance(8) { plan.dropBefore.insert(roundTrip) }
                    if faults.contains(.drop) && chance(8) { plan.dropAfter.insert(roundTrip) }
                    if faults.contains(.duplicate) && chance(8) { plan.duplicate.insert(roundTrip) }
                }
                if faults.contains(.reorder) && chance(15) { plan.replayStale = true }
                if faults.contains(.reorder) && chance(10) { plan.tailFirst.insert(Int.random(in: 0..<2, using: &generator)) }
                if faults.contains(.crash) && chance(10) { plan.crash = (Int.random(in: 0..<3, using: &generator), Int.random(in: 0..<2, using: &generator)) }
                events.append(.sync(replica: replica, plan))
            } else if roll < 96, faults.contains(.partition) {
                if partitioned.contains(replica) {
                    partitioned.remove(replica)
                    events.append(.heal(replica: replica))
                } else {
                    partitioned.insert(replica)
                    events.append(.partition(replica: replica))
                }
            } else {
                events.append(.advance(millis: Int64.random(in: 1...3_600_000, using: &generator)))
            }
        }
        return events
    }

    /// Clock offsets per replica (with the `skew` fault).
    func offsets() -> [Int64] {
        var generator = SplitMix64(seed: seed ^ 0x5EED)
        let choices: [Int64] = [0, 31_536_000_000, -3_600_000, 300_000, -86_400_000]
        return (0..<replicas).map { index in
            faults.contains(.skew) && index > 0 ? choices[Int.random(in: 0..<choices.count, using: &generator)] : 0
        }
    }
}

/// What a simulation exercised, and whether the invariants held.
package struct SimulationReport: Sendable, CustomStringConvertible {
    package var seed: UInt64
    package var operations = 0
    package var skippedOperations = 0
    package var syncs = 0
    package var failedSyncs = 0
    package var lostRequests = 0
    package var lostResponses = 0
    package var duplicates = 0
    package var staleReplays = 0
    /// Pushes whose later entries arrived before their first, and pulled pages delivered reordered.
    package var tailsFirst = 0
    package var crashes = 0
    package var partitions = 0
    package var skewedReplicas = 0
    /// Copied replica files whose sync was refused.
    package var clones = 0
    package var conflictsSeen = 0
    package var collected = 0
    /// Replicas that joined from a snapshot of the server part-way through.
    package var joinedFromSnapshot = 0
    /// Replicas that came back after the retention period and rejoined under a new identity.
    package var rejoined = 0
    /// Checks against the oracle: quiescent points (every replica with the same knowledge), the end,
    /// and each replica right after a completed sync.
    package var oracleChecks = 0
    /// Invariant violations after the final sync (empty: the run passed).
    package var violations: [String] = []

    package var passed: Bool { violations.isEmpty }

    package init(seed: UInt64) { self.seed = seed }

    package var description: String {
        "seed \(seed): \(passed ? "ok" : "FAILED"): \(operations) operations (\(skippedOperations) found nothing to act on), \(syncs) syncs (\(failedSyncs) cut short by faults), "
            + "faults: \(lostRequests) lost requests, \(lostResponses) lost responses, \(duplicates) duplicates, \(staleReplays) reordered (stale) requests, \(tailsFirst) pushes arriving tail first or pulled pages reordered, "
            + "\(crashes) crashes, \(partitions) partitions, \(skewedReplicas) skewed clocks, \(clones) copied files refused; \(conflictsSeen) conflicts seen, \(collected) tombstones collected, "
            + "\(joinedFromSnapshot) replica(s) joined from a snapshot, \(rejoined) rejoined after the retention period"
    }
}

/// Runs simulations, checks the invariants, and shrinks failing traces.
package enum Simulator {
    struct SimulatedCrash: Error, CustomStringConvertible {
        var description: String { "simulated crash" }
    }

    /// Runs the seed's trace.
    package static func run(_ simulation: Simulation) async throws -> SimulationReport {
        try await execute(simulation, trace: simulation.trace())
    }

    /// Finds a shorter trace that still fails (removing chunks of events, then single events).
    package static func shrink(_ simulation: Simulation, budget: Int = 150) async throws -> [Simulation.Event] {
        var trace = simulation.trace()
        var attempts = 0
        var chunk = max(1, trace.count / 2)
        while chunk >= 1 && attempts < budget {
            var index = 0
            var removedAny = false
            while index < trace.count && attempts < budget {
                var candidate = trace
                candidate.removeSubrange(index..<min(trace.count, index + chunk))
                attempts += 1
                if !(try await execute(simulation, trace: candidate).passed) {
                    trace = candidate
                    removedAny = true
                } else {
                    index += chunk
                }
            }
            if !removedAny || chunk == 1 { chunk /= 2 }
        }
        return trace
    }

    /// Executes a trace and checks the invariants of the merge contract.
    package static func execute(_ simulation: Simulation, trace: [Simulation.Event]) async throws -> SimulationReport {
        var report = SimulationReport(seed: simulation.seed)
        let world = try await World()
        do {
            try await execute(simulation, trace: trace, world: world, report: &report)
        } catch {
            report.violations.append("the run stopped: \(error)")
        }
        await world.tearDown()
        return report
    }

    private static func execute(_ simulation: Simulation, trace: [Simulation.Event], world: World, report: inout SimulationReport) async throws {
        let names = (0..<simulation.replicas).map { "r\($0)" }
        let crashPlan = Mutex<Int?>(nil)
        let offsets = simulation.offsets()
        report.skewedReplicas = offsets.filter { $0 != 0 }.count
        for (index, name) in names.enumerated() {
            world.clock.setOffset(offsets[index], for: name)
            let faults = ReplicaFaults { entry in
                let armed = crashPlan.withLock { plan -> Bool in
                    guard plan == entry else { return false }
                    plan = nil
                    return true
                }
                if armed { throw SimulatedCrash() }
            }
            var generator = SplitMix64(seed: simulation.seed &+ UInt64(index) &* 0x9E37_79B9)
            try world.openNew(name, faults: faults, id: ReplicaID.random(using: &generator))
        }
        var written: [Dot: Change] = [:]
        var lastCounter: [ReplicaID: UInt64] = [:]
        var stale: [Int: SyncRequest] = [:]

        // Every local write, read right after the operation (or sync: merging URL variants
        // writes) that made it. A write replaced within the same operation is not seen, and
        // need not be: its replacer's context (the writer's whole VV) covers all it covered.
        func record(_ name: String) throws {
            let store = world.store(name)
            let me = store.replicaID
            let last = lastCounter[me] ?? 0
            let now = try store.knowledge()[me]
            guard now > last else { return }
            for change in try store.liveChanges() where change.dot.replica == me && change.dot.counter > last {
                written[change.dot] = change
            }
            lastCounter[me] = now
        }

        // Half-way through, a new device joins from the server's snapshot of the list as it
        // is then (conflicts, crashed syncs and collections included), and must converge too.
        var everyone = names
        for (position, event) in trace.enumerated() {
            if position == trace.count / 2 {
                try await world.joinFromSnapshot(Self.joiner)
                everyone.append(Self.joiner)
                report.joinedFromSnapshot += 1
            }
            world.clock.advance(1000)
            switch event {
            case let .operation(replica, operation):
                report.operations += 1
                if try !operation.apply(to: world.store(names[replica])) { report.skippedOperations += 1 }
                try record(names[replica])
            case let .sync(replica, plan):
                report.syncs += 1
                let name = names[replica]
                let counters = Mutex(0)
                let service = world.service
                let user = world.user
                let cut = world.partitioned.contains(name)
                let pending = plan.replayStale ? stale[replica] : nil
                let captured = Mutex<SyncRequest?>(nil)
                let tally = Mutex((lostRequests: 0, lostResponses: 0, duplicates: 0, replays: 0, tailsFirst: 0))
                let store = world.store(name)
                let refusals = Mutex<[String]>([])
                let transport = ClosureTransport { request throws(SyncTransportError) in
                    let roundTrip = counters.withLock { value in defer { value += 1 }; return value }
                    if cut { throw .unreachable("partitioned") }
                    if roundTrip == 0, let pending {
                        _ = try? await World.call(service, pending, user)
                        tally.withLock { $0.replays += 1 }
                    }
                    captured.withLock { if $0 == nil { $0 = request } }
                    if plan.tailFirst.contains(roundTrip), request.push.count > 1 {
                        // The later part of the push overtakes its first entry: a gap the server must refuse.
                        var tail = request
                        tail.push.removeFirst()
                        _ = try? await World.call(service, tail, user)
                        tally.withLock { $0.tailsFirst += 1 }
                    }
                    if plan.dropBefore.contains(roundTrip) {
                        tally.withLock { $0.lostRequests += 1 }
                        throw .unreachable("request lost")
                    }
                    var response = try await World.call(service, request, user)
                    if plan.duplicate.contains(roundTrip) {
                        tally.withLock { $0.duplicates += 1 }
                        response = try await World.call(service, request, user)
                    }
                    if let from = plan.pullsReorderedFrom, roundTrip >= from, response.pull.count > 1 {
                        // Each pulled page from then on arrives reordered before it arrives whole (or, with a
                        // lost response below, alone): its later part before its first entry, then, for each
                        // replica in it, the other replicas' entries before all of that one's. Whatever needs
                        // the entries held back must be refused.
                        let pull = response.pull
                        var parts = [Array(pull.dropFirst())]
                        var replicas: [ReplicaID] = []
                        for entry in pull where !replicas.contains(entry.replica) { replicas.append(entry.replica) }
                        if replicas.count > 1 { parts += replicas.map { held in pull.filter { $0.replica != held } } }
                        for part in parts {
                            if (try? store.apply(part)) != nil, let problem = Simulator.causalHole(in: store) {
                                refusals.withLock { $0.append(problem) }
                                break
                            }
                        }
                        tally.withLock { $0.tailsFirst += 1 }
                    }
                    if plan.dropAfter.contains(roundTrip) {
                        tally.withLock { $0.lostResponses += 1 }
                        throw .unreachable("response lost")
                    }
                    if let crash = plan.crash, crash.0 == roundTrip { crashPlan.withLock { $0 = crash.1 } }
                    return response
                }
                let sync = ServerSync(pageSize: plan.pageSize, retryPolicy: RetryPolicy(maxAttempts: 4), sleep: { _ in }, jitter: { 0 }, pipelined: false)
                var completed = false
                do {
                    let result = try await sync.run(store: world.store(name), transport: transport, partner: "server")
                    report.collected += result.collected
                    completed = result.pulled > 0 || result.collected > 0
                } catch {
                    report.failedSyncs += 1
                    // (The crash is thrown inside the store's transaction: it comes back as the database's cause.)
                    if case let .store(.database(cause)) = error, cause.underlying is SimulatedCrash {
                        report.crashes += 1
                        try world.restart(name)  // restart from the database file
                    }
                }
                crashPlan.withLock { $0 = nil }
                let counts = tally.withLock { $0 }
                report.lostRequests += counts.lostRequests
                report.lostResponses += counts.lostResponses
                report.duplicates += counts.duplicates
                report.staleReplays += counts.replays
                report.tailsFirst += counts.tailsFirst
                report.violations += refusals.withLock { $0 }
                if let request = captured.withLock({ $0 }) { stale[replica] = request }
                report.conflictsSeen += try world.store(name).status().articlesWithConflicts
                try record(name)
                // A replica that has just completed a sync that brought it anything must display what
                // the oracle makes of the writes its knowledge covers (see OracleCheck.check(world:replica:written:)).
                if simulation.oracle, completed, report.violations.isEmpty,
                   let violations = try OracleCheck.check(world: world, replica: name, written: written.values) {
                    report.oracleChecks += 1
                    report.violations += violations.map { "after event \(position + 1) of \(trace.count), \($0)" }
                }
                // A quiescent point (checked until the first disagreement, which names where it was seen).
                if simulation.oracle, report.violations.isEmpty, try OracleCheck.quiescent(world: world, replicas: everyone) {
                    report.oracleChecks += 1
                    report.violations += try OracleCheck.check(world: world, replicas: everyone, written: written.values)
                        .map { "after event \(position + 1) of \(trace.count), \($0)" }
                }
            case let .partition(replica):
                world.partitioned.insert(names[replica])
                report.partitions += 1
            case let .heal(replica):
                world.partitioned.remove(names[replica])
            case let .advance(millis):
                world.clock.advance(millis)
            case let .clone(replica, copyWrites, replace):
                // A copied file (a restored backup, a cloned disk): both write under the same next dots.
                let name = names[replica]
                guard !world.partitioned.contains(name) else { break }
                let url = Simulation.UserOperation.pages[position % Simulation.UserOperation.pages.count]
                let id = ArticleID(url: try NormalizedURL(url)).rawValue
                if (try? world.store(name).article(id)) == nil {
                    try world.store(name).save(SaveRequest(url: url))
                    try record(name)
                }
                let copy = "copy\(position)"
                try world.copy(name, to: copy)
                // The copy writes as many changes as the original or more: with more, its latest dot is new
                // to the server and passes the heads check, so only the comparison of each reused dot's
                // content refuses it. Every other time its second write replaces its first (the note again):
                // then the reused dot goes out as a replaced range, compared by the digest of its top.
                let copyStore = world.store(copy)
                for write in 0..<copyWrites {
                    switch write {
                    case 0: try copyStore.edit(id, [Fields.note: .string("written by a copy of \(name) at event \(position + 1)")])
                    case 1 where position % 2 == 0: try copyStore.edit(id, [Fields.note: .string("written again by a copy of \(name) at event \(position + 1)")])
                    case 1: try copyStore.edit(id, [Fields.title: .string("Copy \(position + 1)")])
                    default: try copyStore.setTags(id, ["copied"], present: true)
                    }
                }
                world.clock.advance(1)
                try world.store(name).edit(id, [Fields.note: .string("written by \(name) at event \(position + 1)")])
                try record(name)
                // Only once the server holds the original's write can the copy be told apart.
                guard (try? await world.syncWithServer(name)) != nil else { break }
                try record(name)
                if replace, let other = names.indices.map({ names[(replica + 1 + $0) % names.count] })
                    .first(where: { $0 != name && !world.partitioned.contains($0) }),
                    (try? await world.syncWithServer(other)) != nil {
                    // Another replica replaces the original's write: on the server the dot the copy reuses is
                    // no longer a live change, only the top of a replaced range.
                    try record(other)
                    if (try? world.store(other).article(id)) != nil {
                        try world.store(other).edit(id, [Fields.note: .string("written by \(other) over \(name)'s at event \(position + 1)")])
                        try record(other)
                        _ = try? await world.syncWithServer(other)
                        try record(other)
                    }
                }
                do {
                    try await world.syncWithServer(copy)
                    report.violations.append("copied file: a copy of \(name) wrote \(copyWrites) change(s) under its dots, and the server accepted its sync")
                } catch {
                    if Self.isCopyRefusal(error) {
                        report.clones += 1
                    } else {
                        report.violations.append("copied file: a copy of \(name) was refused for another reason: \(error)")
                    }
                }
            }
        }
        // Heal everything and sync until quiescent, then check the invariants.
        world.partitioned.removeAll()
        for _ in 0..<3 {
            for name in everyone {
                try await world.syncWithServer(name)
                try record(name)
            }
        }
        if simulation.oracle {
            report.oracleChecks += 1
            report.violations += try OracleCheck.check(world: world, replicas: everyone, written: written.values)
        }
        // url-v1, checked apart from NormalizedURL: every variant the run saved of a page
        // (tracking parameters, a fragment, a trailing slash) is that one page.
        let pages = Set(Simulation.UserOperation.pages)
        for name in everyone {
            for article in try world.store(name).articles() where !pages.contains(article.normalizedURL) {
                report.violations.append("url-v1: \(name) shows \(article.url) under \(article.normalizedURL), not under the page it is a variant of")
            }
        }
        report.violations += try await InvariantChecker.check(world: world, replicas: everyone, written: written)
        // Every fourth seed: everyone comes back after the retention period. Each replica's next sync
        // is refused (`rejoin_required`) and it rejoins under a new identity (seeded: the run replays
        // exactly), pulling the list again; all its writes were acknowledged above, so none is
        // replayed and the oracle's writes stay the same. Deletes every replica acknowledged are
        // collected meanwhile.
        if simulation.seed % 4 == 0, report.violations.isEmpty {
            let before = everyone.map { world.store($0).replicaID }
            world.clock.advance(Int64(world.service.retention.components.seconds) * 1000 + 86_400_000)
            for _ in 0..<3 {
                for name in everyone {
                    try await world.syncWithServer(name)
                    try record(name)
                }
            }
            for (name, old) in zip(everyone, before) {
                if world.store(name).replicaID == old {
                    report.violations.append("rejoin: \(name) synced after the retention period under its old identity \(old.short)")
                } else {
                    report.rejoined += 1
                }
            }
            if simulation.oracle {
                report.oracleChecks += 1
                report.violations += try OracleCheck.check(world: world, replicas: everyone, written: written.values)
            }
            report.violations += try await InvariantChecker.check(world: world, replicas: everyone, written: written)
        }
    }

    /// The replica that joins from a snapshot half-way through a run.
    static let joiner = "joined"

    /// What a replica that applied part of a reordered pulled page holds that it should not: a
    /// change whose context names a write it lacks, or knowledge beyond the dots it holds (a gap
    /// taken). Checked here, not by asking ``CausalGate``: a change is deliverable only after
    /// everything its context names.
    static func causalHole(in store: ReplicaStore) -> String? {
        do {
            let knowledge = try store.knowledge()
            for change in try store.liveChanges() where !knowledge.includes(change.context) {
                return "causal delivery: \(store.replicaID.short) applied a reordered pulled page and holds \(change.dot), whose context \(change.context) it does not know"
            }
            // (Only the dots against the knowledge: in the middle of a sync, materialisation may be deferred.)
            if let problem = try store.checkInvariants().first(where: { $0.hasPrefix("replica ") }) {
                return "causal delivery: \(store.replicaID.short) applied a reordered pulled page: \(problem)"
            }
            return nil
        } catch {
            return "causal delivery: cannot read the replica after a reordered pulled page: \(error)"
        }
    }
}

extension World {
    /// Makes a new replica from the server's snapshot of the list (as
    /// `readinglist sync` does for a new device), registered under `replica`.
    package func joinFromSnapshot(_ replica: String) async throws {
        guard let snapshot = try await storage.snapshot(for: user) else { throw StoreError.invalidOperation("the server made no snapshot") }
        let download = path(of: replica) + ".snapshot"
        try snapshot.copy(to: download)
        clock.setOffset(0, for: replica)
        register(replica, try ReplicaStore.createFromSnapshot(
            download, at: path(of: replica), partner: "server", expecting: snapshot.knowledge, now: clock.source(for: replica)))
    }
}

extension World {
    /// Opens a new replica file with a given identity (reproducible simulations).
    func openNew(_ replica: String, faults: ReplicaFaults, id: ReplicaID) throws(StoreError) {
        self.faults[replica] = faults
        let store = try ReplicaStore.open(path: path(of: replica), now: clock.source(for: replica), faults: faults, replicaID: id)
        register(replica, store)
    }
}

/// The five invariants of the merge contract, checked on a world after a full sync.
package enum InvariantChecker {
    package static func check(world: World, replicas: [String], written: [Dot: Change]) async throws -> [String] {
        var violations: [String] = []
        // 1. Convergence.
        let states = try replicas.map { try world.visibleState($0) }
        let first = try world.store(replicas[0]).articles(includeContent: true)
        for (name, state) in zip(replicas, states) where state != states[0] {
            let other = try world.store(name).articles(includeContent: true)
            let mine = Set(first.map { $0.jsonValue(includeContent: true).canonicalText })
            let theirs = Set(other.map { $0.jsonValue(includeContent: true).canonicalText })
            let detail = "\(replicas[0]) only: \(mine.subtracting(theirs).sorted().joined(separator: " ")); \(name) only: \(theirs.subtracting(mine).sorted().joined(separator: " "))"
            violations.append("convergence: \(name) shows a different list than \(replicas[0]): \(detail)")
        }
        // 2. No lost write: live, or replaced by a write that causally followed it, or
        //    forgotten with a deleted article every replica acknowledged.
        let store = world.store(replicas[0])
        let live = Dictionary(uniqueKeysWithValues: try store.liveChanges().map { ($0.dot, $0) })
        
        for change in written.values {
            if let stored = live[change.dot] {
                if !stored.sameContent(as: change) { violations.append("write \(change) changed content") }
                continue
            }
            let replaced = written.values.contains { other in
                other.entity == change.entity && other.field == change.field && other.dot != change.dot && other.context.covers(change.dot)
            }
            if replaced { continue }
            let article = change.entity.articleID
            // Collected at the horizon: a delete of its article that is (or causally follows) the
            // write was forgotten, with the article, once every known replica acknowledged it.
            let collected = article.map { id in
                written.values.contains {
                    $0.entity == .article(id) && $0.field == Fields.deleted && $0.value == true && live[$0.dot] == nil
                        && ($0.dot == change.dot || $0.context.covers(change.dot))
                }
            } ?? false
            if !collected { violations.append("lost write: \(change)") }
        }
        // 3. Idempotence.
        for name in replicas {
            let report = try await world.syncWithServer(name)
            if report.pushed != 0 || report.pulled != 0 {
                violations.append("idempotence: a second sync of \(name) moved \(report.pushed) up and \(report.pulled) down")
            }
        }
        if try replicas.map({ try world.visibleState($0) }) != states { violations.append("idempotence: a second sync changed what replicas show") }
        // 4. One article per normalised URL.
        let list = try store.articles()
        if Set(list.map(\.normalizedURL)).count != list.count { violations.append("two articles share a normalised URL") }
        // 5. The stores' own invariants (gap-free dots, no live sibling replacing another, fresh materialisation).
        for name in replicas {
            for problem in try world.store(name).checkInvariants() { violations.append("\(name): \(problem)") }
        }
        return violations
    }
}

/// Compares every replica's display with the ``Oracle`` at a quiescent point.
package enum OracleCheck {
    /// Every replica has the same knowledge: each has applied every write made so far.
    package static func quiescent(world: World, replicas: [String]) throws -> Bool {
        let first = try world.store(replicas[0]).knowledge()
        return try replicas.dropFirst().allSatisfy { try world.store($0).knowledge() == first }
    }

    /// The violations of one replica that has just completed a sync, against the oracle of the
    /// writes its knowledge covers; nil when that set is not closed: a covered write it does not
    /// hold came as a replaced dot only, its replacer not yet here (a push cut between the two
    /// leaves the server so), and the replica cannot show what the writes it holds would.
    /// (The end of the run checks everything.)
    package static func check(world: World, replica name: String, written: some Sequence<Change>) throws -> [String]? {
        let store = world.store(name)
        let knowledge = try store.knowledge()
        let held = Set(try store.liveChanges().map(\.dot))
        var byField: [String: [Change]] = [:]
        for write in written { byField["\(write.entity.type)/\(write.entity.id)/\(write.field)", default: []].append(write) }
        var seen: [Change] = []
        for writes in byField.values {
            for write in writes where knowledge.covers(write.dot) {
                seen.append(write)
                guard !held.contains(write.dot) else { continue }
                let replacers = writes.filter { $0.dot != write.dot && $0.context.covers(write.dot) }
                if !replacers.isEmpty, !replacers.contains(where: { knowledge.covers($0.dot) }) { return nil }
            }
        }
        let oracle = Oracle(writes: seen)
        let forgotten = oracle.forgotten(held: held)
        return Oracle.compare(replica: name, shows: try store.articles(includeContent: true), expected: oracle.expected(forgetting: forgotten)).map(\.description)
    }

    /// The violations (named article, field, expected and seen value) of every replica.
    package static func check(world: World, replicas: [String], written: some Sequence<Change>) throws -> [String] {
        let oracle = Oracle(writes: written)
        var violations: [String] = []
        var cache: [Set<Dot>: [String: Oracle.Display]] = [:]
        for name in replicas {
            let store = world.store(name)
            let forgotten = oracle.forgotten(held: Set(try store.liveChanges().map(\.dot)))
            let expected = cache[forgotten] ?? oracle.expected(forgetting: forgotten)
            cache[forgotten] = expected
            violations += Oracle.compare(replica: name, shows: try store.articles(includeContent: true), expected: expected).map(\.description)
        }
        return violations
    }
}

extension Simulator {
    /// Whether a sync failed because the replica is a copy (the server's refusal, or the
    /// client's own check of the server's heads), told by the error's kind, not its text.
    static func isCopyRefusal(_ error: ServerSync.Failure) -> Bool {
        switch error {
        case let .transport(.rejected(_, code, _), _): code == .copiedReplica
        case .store(.sync(.conflictingDuplicate)): true
        default: false
        }
    }
}
