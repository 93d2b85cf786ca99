import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import Synchronization
import Testing

final class TestClock: Sendable {
    private let millis = Mutex<Int64>(1_780_000_000_000)
    var now: Int64 { millis.withLock { $0 } }
    func advance(hours: Int64) { millis.withLock { $0 += hours * 3_600_000 } }
    var source: @Sendable () -> Int64 { { [self] in self.now } }
}

/// Deleted articles are forgotten once every active replica acknowledged the
/// delete; a replica away longer than the retention rejoins instead of
/// resurrecting them.
@Suite("Tombstone collection and the horizon")
struct CollectionTests {
    let clock = TestClock()

    func fixture() async throws -> (ServerFixture, ClosureTransport) {
        let fixture = try await ServerFixture(retention: .seconds(24 * 3600), now: clock.source)
        return (fixture, fixture.transport(token: fixture.alice))
    }

    func sync(_ store: ReplicaStore, _ transport: ClosureTransport) async throws -> ServerSync.Report {
        try await ServerSync(retryPolicy: .none).run(store: store, transport: transport, partner: "server")
    }

    func entities(_ store: ReplicaStore) throws -> Set<String> { Set(try store.liveChanges().map(\.entity.id)) }

    @Test func aDeleteEveryReplicaAcknowledgedIsForgottenEverywhere() async throws {
        let (_, transport) = try await fixture()
        let a = try makeReplica(clock.source), b = try makeReplica(clock.source)
        try a.save(SaveRequest(url: "https://example.com/gone", title: "Gone", tags: ["x"]))
        try a.save(SaveRequest(url: "https://example.com/kept", title: "Kept"))
        try a.addHighlight("https://example.com/gone", quote: "q")
        _ = try await sync(a, transport)
        _ = try await sync(b, transport)
        let gone = ArticleID(url: try NormalizedURL("https://example.com/gone")).rawValue
        try a.delete("https://example.com/gone")
        _ = try await sync(a, transport)
        #expect(try entities(b).contains(gone))
        _ = try await sync(b, transport)  // b receives the delete...
        #expect(try entities(a).contains(gone), "b has not acknowledged it yet")
        _ = try await sync(b, transport)  // ...and acknowledges it on its next sync
        let last = try await sync(a, transport)  // a, fully pushed, learns the horizon covers it
        #expect(last.collected == 1)
        #expect(!(try entities(a)).contains { $0.hasPrefix(gone) })
        _ = try await sync(b, transport)
        #expect(!(try entities(b)).contains { $0.hasPrefix(gone) })
        // A new replica gets nothing of it, not even hidden.
        let c = try makeReplica(clock.source)
        _ = try await sync(c, transport)
        #expect(!(try entities(c)).contains { $0.hasPrefix(gone) })
        #expect(try c.articles().map(\.title) == ["Kept"])
        for store in [a, b, c] { #expect(try store.checkInvariants() == []) }
        // Saving it again is a fresh save everywhere.
        try c.save(SaveRequest(url: "https://example.com/gone", title: "Back"))
        for store in [c, a, b] { _ = try await sync(store, transport) }
        for store in [a, b, c] {
            let article = try store.article("https://example.com/gone")
            #expect(article.title == "Back" && article.tags.isEmpty && article.highlights.isEmpty)
        }
    }

    @Test func aReplicaThatHasNotAcknowledgedHoldsTheHorizonBack() async throws {
        let (_, transport) = try await fixture()
        let a = try makeReplica(clock.source), b = try makeReplica(clock.source)
        try a.save(SaveRequest(url: "https://example.com/x", title: "X"))
        _ = try await sync(a, transport)
        _ = try await sync(b, transport)
        try a.delete("https://example.com/x")
        try b.setTags("https://example.com/x", ["concurrent"], present: true)  // offline, not yet pushed
        _ = try await sync(a, transport)
        let again = try await sync(a, transport)
        #expect(again.collected == 0, "b has not acknowledged the delete")
        _ = try await sync(b, transport)  // the concurrent edit arrives: edit wins over delete
        _ = try await sync(a, transport)
        #expect(try a.article("https://example.com/x").tags == ["concurrent"])
        #expect(try b.article("https://example.com/x").title == "X")
    }

    @Test func aReplicaAwayLongerThanTheRetentionRejoinsWithoutResurrecting() async throws {
        let (_, transport) = try await fixture()
        let a = try makeReplica(clock.source), old = try makeReplica(clock.source)
        try a.save(SaveRequest(url: "https://example.com/deleted", title: "D"))
        try a.save(SaveRequest(url: "https://example.com/alive", title: "A"))
        _ = try await sync(a, transport)
        _ = try await sync(old, transport)
        let oldID = old.replicaID
        // The old device edits both offline, then disappears for two days.
        try old.edit("https://example.com/deleted", [Fields.note: "lost cause"])
        try old.edit("https://example.com/alive", [Fields.note: "keep me"])
        try a.delete("https://example.com/deleted")
        clock.advance(hours: 48)
        let collected = try await sync(a, transport)
        #expect(collected.collected == 1, "the old replica no longer holds the horizon back")
        let report = try await sync(old, transport)
        #expect(report.rejoined)
        #expect(old.replicaID != oldID)
        #expect(report.dropped.map(\.field) == [Fields.note])
        #expect(report.dropped.first?.value == "lost cause")
        #expect(try old.articles().map(\.title) == ["A"])
        #expect(try old.article("https://example.com/alive").note == "keep me")
        _ = try await sync(a, transport)
        #expect(try a.articles().map(\.title) == ["A"], "the deleted article did not come back")
        #expect(try a.article("https://example.com/alive").note == "keep me")
    }

    @Test func collectionIsSafeOnARealStore() throws {
        let a = try makeReplica(clock.source)
        try a.save(SaveRequest(url: "https://example.com/a", title: "A"))
        try a.save(SaveRequest(url: "https://example.com/b", title: "B"))
        try a.delete("https://example.com/a")
        let horizon = try a.knowledge()
        #expect(try a.collectGarbage(horizon: VersionVector()).isEmpty)
        #expect(try a.collectGarbage(horizon: horizon) == [ArticleID(url: try NormalizedURL("https://example.com/a"))])
        #expect(try a.collectGarbage(horizon: horizon).isEmpty)
        #expect(try a.checkInvariants() == [])
        let status = try a.status()
        #expect(status.liveWrites == 4)  // b's deleted, url, addedAt and title
        #expect(try a.articles().map(\.title) == ["B"])
    }
}
