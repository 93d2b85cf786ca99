import ReadingListModel
import Testing
@testable import SyncCore

@Suite("Version vectors and clocks")
struct ClockTests {
    @Test func versionVectorCoversMergesAndIncludes() {
        var a = VersionVector([r(1): 3, r(2): 0])
        #expect(a.counters.count == 1)
        #expect(a.covers(Dot(r(1), 3)))
        #expect(!a.covers(Dot(r(1), 4)))
        #expect(!a.covers(Dot(r(2), 1)))
        let b = VersionVector([r(1): 1, r(2): 5])
        a.merge(b)
        #expect(a == VersionVector([r(1): 3, r(2): 5]))
        #expect(a.includes(b))
        #expect(!b.includes(a))
        #expect(a.total == 8)
        a.checkInvariants()
    }

    @Test func compactTextRoundTripsAndRefusesWhatItNeverWrites() {
        var random = SplitMix64(seed: 11)
        for size in [0, 1, 2, 7] {
            var counters: [ReplicaID: UInt64] = [:]
            for _ in 0..<size { counters[ReplicaID.random(using: &random)] = random.next() % 3 == 0 ? UInt64.max : random.next() % 1_000_000 + 1 }
            let vector = VersionVector(counters)
            #expect(VersionVector(compactText: vector.compactText) == vector, "\(vector.compactText)")
        }
        #expect(VersionVector(compactText: "") == VersionVector())
        let id = r(1).rawValue
        for bad in [
            "x", "\(id)", "\(id):", "\(id):x", "\(id):1,", ",\(id):1", "\(id):1,,\(id):2", "\(id.dropLast()):1",
            "ABCDEF\(id.dropFirst(6)):1", "\(id):-1", "\(id):18446744073709551616", "\(id):1 ", "\(id);1",
        ] {
            #expect(VersionVector(compactText: bad) == nil, "\(bad)")
        }
        #expect(VersionVector(compactText: "\(id):0") == VersionVector())
        #expect(VersionVector(compactText: "\(id):18446744073709551615") == VersionVector([r(1): .max]))
    }

    @Test func hybridClockIsMonotonicAndBoundsSkew() {
        var clock = HybridClock()
        let t1 = clock.tick(now: 1000)
        let t2 = clock.tick(now: 1000)
        let t3 = clock.tick(now: 900)  // the wall clock went backwards
        #expect(t1 < t2 && t2 < t3)
        #expect(t3.millis == 1000)
        // A remote clock a year ahead pulls this one at most a minute ahead.
        clock.observe(HLC(millis: 1000 + 31_536_000_000, logical: 0), now: 2000)
        #expect(clock.last.millis == 2000 + HybridClock.maximumPull)
        let t4 = clock.tick(now: 2000)
        #expect(t4 > t3)
    }
}

@Suite("Multi-value register")
struct RegisterTests {
    @Test func causallyLaterWriteReplacesWhateverTheClocks() {
        var register = FieldRegister()
        let first = write(1, 1, value: "a", hlc: 9_000_000)  // a clock far ahead
        let second = write(2, 1, value: "b", seen: [1: 1], hlc: 1)  // saw `first`, clock far behind
        register.apply(first)
        let outcome = register.apply(second)
        #expect(outcome.added)
        #expect(outcome.replaced == [first])
        #expect(register.resolved(by: .register(surfacesConflicts: true)) == "b")
        #expect(register.conflictValues(by: .register(surfacesConflicts: true)).isEmpty)
        register.checkInvariants()
    }

    @Test func concurrentWritesAreSiblingsAndTheHighestHLCWins() {
        var register = FieldRegister()
        register.apply(write(1, 1, value: "phone", hlc: 100))
        register.apply(write(2, 1, value: "laptop", hlc: 200))
        #expect(register.siblings.count == 2)
        #expect(register.resolved(by: .register(surfacesConflicts: true)) == "laptop")
        #expect(register.conflictValues(by: .register(surfacesConflicts: true)) == ["laptop", "phone"])
        // A later write that saw both resolves the conflict.
        register.apply(write(3, 1, value: "merged", seen: [1: 1, 2: 1]))
        #expect(register.siblings.count == 1)
        #expect(register.conflictValues(by: .register(surfacesConflicts: true)).isEmpty)
    }

    @Test func equalHLCsBreakTiesByReplicaID() {
        var register = FieldRegister()
        register.apply(write(2, 1, value: "from 2", hlc: 50))
        register.apply(write(1, 1, value: "from 1", hlc: 50))
        #expect(register.resolved(by: .register(surfacesConflicts: true)) == "from 2")
    }

    @Test func applyingIsIdempotentAndOrderIndependent() {
        let writes = [
            write(1, 1, value: "a"), write(2, 1, value: "b", seen: [1: 1]), write(3, 1, value: "c"),
            write(1, 2, value: "d", seen: [3: 1]), write(2, 2, value: "e", seen: [1: 2, 3: 1]),
        ]
        var generator = SplitMix64(seed: 7)
        var reference: Set<Dot>?
        for _ in 0..<50 {
            var register = FieldRegister()
            for change in writes.shuffled(using: &generator) + writes.shuffled(using: &generator) { register.apply(change) }
            register.checkInvariants()
            let live = Set(register.siblings.map(\.dot))
            if let reference { #expect(live == reference) } else { reference = live }
        }
        #expect(reference == [Dot(r(2), 2)])
    }

    @Test func equalValuesAndEquivalentURLsAreNoConflict() {
        var titles = FieldRegister()
        titles.apply(write(1, 1, value: "Same"))
        titles.apply(write(2, 1, value: "Same"))
        #expect(titles.siblings.count == 2)
        #expect(titles.conflictValues(by: .register(surfacesConflicts: true)).isEmpty)
        var urls = FieldRegister()
        urls.apply(write(1, 1, Fields.url, "https://example.com/a?utm_source=phone"))
        urls.apply(write(2, 1, Fields.url, "https://EXAMPLE.com/a#top"))
        #expect(urls.conflictValues(by: .url).isEmpty)
    }

    @Test func policiesResolveConcurrentSiblings() {
        func resolved(_ field: String, _ values: [JSONValue]) -> JSONValue? {
            var register = FieldRegister()
            for (index, value) in values.enumerated() { register.apply(write(index + 1, 1, field, value, hlc: UInt64(100 - index))) }
            return register.resolved(by: FieldPolicy.of(entityType: EntityRef.articleType, field: field))
        }
        #expect(resolved(Fields.addedAt, [300, 100, 200]) == 100)
        let progress = [ReadingProgress(epoch: 0, position: 0.9), ReadingProgress(epoch: 1, position: 0.1), ReadingProgress(epoch: 1, position: 0.4)]
        #expect(resolved(Fields.progress, progress.map(\.jsonValue)) == ReadingProgress(epoch: 1, position: 0.4).jsonValue)
        #expect(resolved(Fields.tag("swift"), [false, true, false]) == true)
        #expect(FieldPolicy.of(entityType: EntityRef.articleType, field: Fields.isRead) == .register(surfacesConflicts: false))
        #expect(FieldPolicy.of(entityType: EntityRef.articleType, field: Fields.isArchived) == .register(surfacesConflicts: true))
        #expect(FieldPolicy.of(entityType: "future-type", field: "anything") == .register(surfacesConflicts: false))
    }
}

@Suite("Deletes and resurrection")
struct VisibilityTests {
    @Test func deleteHidesWhatTheDeleterHadSeen() {
        let state = EntityState(entity: article, changes: [
            write(1, 1, Fields.deleted, false), write(1, 2, value: "t"), write(2, 1, Fields.deleted, true, seen: [1: 2]),
        ])
        #expect(!state.isVisible())
    }

    @Test func concurrentEditWinsOverDelete() {
        let state = EntityState(entity: article, changes: [
            write(1, 1, Fields.deleted, false), write(2, 1, Fields.deleted, true, seen: [1: 1]),
            write(1, 2, Fields.tag("new"), true),  // made without seeing the delete
        ])
        #expect(state.isVisible())
        #expect(state.resolved(Fields.tag("new")) == true)
    }

    @Test func concurrentSaveWinsOverDelete() {
        let state = EntityState(entity: article, changes: [
            write(1, 1, Fields.deleted, false), write(2, 1, Fields.deleted, true, seen: [1: 1]), write(3, 1, Fields.deleted, false, seen: [1: 1]),
        ])
        #expect(state.isVisible())
    }

    @Test func aHighlightAddedConcurrentlyBringsTheArticleBack() {
        let state = EntityState(entity: article, changes: [write(1, 1, Fields.deleted, false), write(2, 1, Fields.deleted, true, seen: [1: 1])])
        #expect(!state.isVisible())
        let highlight = write(1, 2, Fields.quote, "a passage", entity: .highlight(article.id + "/0001"))
        #expect(state.isVisible(dependents: [highlight]))
    }

    @Test func saveAfterDeleteIsCausallyLater() {
        let state = EntityState(entity: article, changes: [
            write(1, 1, Fields.deleted, false), write(2, 1, Fields.deleted, true, seen: [1: 1]), write(1, 2, Fields.deleted, false, seen: [2: 1]),
        ])
        #expect(state.register(Fields.deleted).siblings.count == 1)
        #expect(state.isVisible())
    }
}

@Suite("Causal delivery")
struct CausalGateTests {
    @Test func admitsInOrderAndSkipsDuplicates() throws {
        var gate = CausalGate(knowledge: VersionVector())
        #expect(try gate.admit(.change(write(1, 1, value: "a"))) == .apply(.change(write(1, 1, value: "a"))))
        #expect(try gate.admit(.change(write(1, 1, value: "a"))) == .duplicate(.change(write(1, 1, value: "a"))))
        #expect(try gate.admit(.replaced(ReplacedRange(replica: r(1), from: 1, to: 3, digest: 9))) == .apply(.replaced(ReplacedRange(replica: r(1), from: 2, to: 3, digest: 9))))
        #expect(try gate.admit(.change(write(2, 1, value: "b", seen: [1: 3]))) == .apply(.change(write(2, 1, value: "b", seen: [1: 3]))))
        #expect(gate.knowledge == VersionVector([r(1): 3, r(2): 1]))
    }

    @Test func refusesGapsMissingDependenciesAndBadContexts() {
        var gate = CausalGate(knowledge: VersionVector([r(1): 3]))
        #expect(throws: SyncError.gap(replica: r(1), expected: 4, got: 5)) { try gate.admit(.change(write(1, 5, value: "x"))) }
        #expect(throws: SyncError.gap(replica: r(2), expected: 1, got: 2)) {
            try gate.admit(.replaced(ReplacedRange(replica: r(2), from: 2, to: 4, digest: 9)))
        }
        #expect(throws: SyncError.missingDependency(change: Dot(r(2), 1), needs: Dot(r(3), 1))) {
            try gate.admit(.change(write(2, 1, value: "x", seen: [3: 1])))
        }
        var bad = write(1, 4, value: "x")
        bad.context[r(1)] = 1
        #expect(throws: SyncError.self) { try gate.admit(.change(bad)) }
        #expect(gate.knowledge == VersionVector([r(1): 3]))
    }
}

@Suite("Sync session")
struct SyncSessionTests {
    @Test func pushesThenPullsUntilNothingIsLeft() throws {
        var session = SyncSession(local: r(1), localKnowledge: VersionVector([r(1): 2]), pageSize: 10)
        #expect(session.start() == .fetchRemoteKnowledge)
        let remote = VersionVector([r(2): 4])
        #expect(try session.receivedRemoteKnowledge(remote, remoteReplica: r(2)) == .push(remoteKnowledge: remote, limit: 10))
        let after = VersionVector([r(1): 2, r(2): 4])
        #expect(session.pushed(changes: 2, entries: 2, remoteKnowledge: after) == .push(remoteKnowledge: after, limit: 10))
        #expect(session.pushed(changes: 0, entries: 0, remoteKnowledge: after) == .pull(localKnowledge: VersionVector([r(1): 2]), limit: 10))
        #expect(session.pulled(changes: 4, entries: 4, localKnowledge: after) == .pull(localKnowledge: after, limit: 10))
        guard case let .finish(summary) = session.pulled(changes: 0, entries: 0, localKnowledge: after) else {
            Issue.record("expected the session to finish")
            return
        }
        #expect(summary.pushedChanges == 2 && summary.pulledChanges == 4 && summary.pushedPages == 1 && summary.pulledPages == 1)
    }

    @Test func detectsCopiesAndSelfSync() {
        var copy = SyncSession(local: r(1), localKnowledge: VersionVector([r(1): 2]))
        _ = copy.start()
        // The other side has seen 5 of r1's changes; r1 itself has made only 2: r1 is a stale copy.
        #expect(throws: SyncError.replicaBehindItself(replica: r(1), itsOwnCounter: 2, seenElsewhere: 5)) {
            try copy.receivedRemoteKnowledge(VersionVector([r(1): 5]), remoteReplica: r(2))
        }
        var same = SyncSession(local: r(1), localKnowledge: VersionVector())
        _ = same.start()
        #expect(throws: SyncError.sameReplica(r(1))) { try same.receivedRemoteKnowledge(VersionVector(), remoteReplica: r(1)) }
    }
}
