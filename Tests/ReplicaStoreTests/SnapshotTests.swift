import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncClient
import SyncCore
import Testing

/// A new replica may start from a snapshot of a server's copy of the list
/// instead of applying it change by change: it must come out exactly as a
/// page-by-page pull makes it, under its own identity, and then sync as any
/// replica does. A snapshot that is not one is refused and leaves nothing.
@Suite("Snapshots")
struct SnapshotTests {
    let clock = ManualClock()
    let folder: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-snapshot-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { folder + "/" + name }

    /// A server's copy (no materialisation on write) holding two replicas'
    /// history: saves with tags, a conflict, a delete, a highlight, progress.
    /// Returns it and the first replica (which has everything too).
    func serverWithHistory() throws -> (server: ReplicaStore, a: ReplicaStore, b: ReplicaStore) {
        let server = try ReplicaStore.open(path: path("server.sqlite"), now: clock.source(), materializes: false, replicaID: replicaID(9))
        let a = try makeReplica(1, clock: clock)
        let b = try makeReplica(2, clock: clock)
        try a.save((0..<30).map { SaveRequest(url: "https://example.com/a/\($0)", title: "A \($0)", tags: $0 % 3 == 0 ? ["x", "y"] : ["z"]) })
        try sync(a, server)
        try sync(b, server)
        clock.advance(1_000)
        _ = try a.edit("https://example.com/a/1", [Fields.title: "from a"])
        _ = try b.edit("https://example.com/a/1", [Fields.title: "from b"])
        _ = try b.setProgress("https://example.com/a/5", 0.5)
        try b.delete("https://example.com/a/6")
        _ = try a.addHighlight("https://example.com/a/7", quote: "a quote", note: "n")
        try sync(a, server)
        try sync(b, server)
        try sync(a, server)
        #expect(try a.conflicted().count == 1)
        return (server, a, b)
    }

    @Test func aReplicaMadeFromASnapshotIsTheListAPageByPagePullMakes() throws {
        let (server, a, _) = try serverWithHistory()
        let snapshot = try server.writeSnapshot(to: path("snapshot.sqlite"))
        #expect(snapshot.knowledge == (try server.knowledge()))
        #expect(snapshot.bytes > 0)
        let made = try ReplicaStore.createFromSnapshot(snapshot.path, at: path("new.sqlite"), partner: "https://server")
        #expect(!FileManager.default.fileExists(atPath: snapshot.path), "the download became the replica")
        #expect(made.replicaID != server.replicaID && made.replicaID != a.replicaID)
        #expect(try made.knowledge() == server.knowledge())
        #expect(try made.partnerKnowledge("https://server") == server.knowledge())
        try expectSound(made)
        #expect(try visibleState(made) == visibleState(a))
        #expect(try made.conflicted().count == 1)
        #expect(try made.status().liveWrites == server.status().liveWrites)

        // It writes under its own identity, and everyone converges.
        _ = try made.edit("https://example.com/a/2", [Fields.title: "from the new replica"])
        try sync(made, server)
        try sync(a, server)
        #expect(try visibleState(a) == visibleState(made))
        #expect(try a.articles().contains { $0.title == "from the new replica" })
    }

    @Test func anEmptyReplicaAdoptsASnapshotAndKeepsItsIdentity() throws {
        let (server, a, _) = try serverWithHistory()
        let snapshot = try server.writeSnapshot(to: path("snapshot.sqlite"))
        let empty = try ReplicaStore.open(path: path("empty.sqlite"), now: clock.source())
        let id = empty.replicaID
        #expect(try empty.isEmpty())
        #expect(try empty.adoptSnapshot(snapshot.path, partner: "https://server"))
        #expect(empty.replicaID == id)
        try expectSound(empty)
        #expect(try visibleState(empty) == visibleState(a))
        #expect(try empty.knowledge() == server.knowledge())

        // An empty copy of a replica that has written since (a restored backup) may not take
        // its own changes as given: it would write its next ones under dots in use.
        let original = try ReplicaStore.open(path: path("original.sqlite"), now: clock.source())
        try original.close()
        try FileManager.default.copyItem(atPath: path("original.sqlite"), toPath: path("restored.sqlite"))
        let reopened = try ReplicaStore.open(path: path("original.sqlite"), now: clock.source())
        try reopened.save(SaveRequest(url: "https://example.com/original", title: "Written before the restore"))
        try sync(reopened, server)
        let restored = try ReplicaStore.open(path: path("restored.sqlite"), now: clock.source())
        #expect(restored.replicaID == reopened.replicaID)
        #expect(try restored.isEmpty())
        let later = try server.writeSnapshot(to: path("later.sqlite"))
        #expect(throws: StoreError.self) { try restored.adoptSnapshot(later.path, partner: "https://server") }
        #expect(try restored.isEmpty())

        // A replica that holds anything is left exactly as it was.
        let busy = try ReplicaStore.open(path: path("busy.sqlite"), now: clock.source())
        try busy.save(SaveRequest(url: "https://example.com/mine", title: "Mine"))
        let before = try fingerprint(busy)
        #expect(try !busy.isEmpty())
        #expect(try !busy.adoptSnapshot(snapshot.path, partner: "https://server"))
        #expect(try fingerprint(busy) == before)
    }

    @Test func theServersArticlesCatchUpOnDemandAndForgottenOnesGo() throws {
        let (server, a, b) = try serverWithHistory()
        // The first snapshot goes through every article; the next only through those written since.
        #expect(try server.catchUpMaterialization() == 30)
        #expect(try server.catchUpMaterialization() == 0)
        _ = try a.edit("https://example.com/a/3", [Fields.title: "later"])
        try sync(a, server)
        #expect(try server.catchUpMaterialization() == 1)
        // A deleted article every replica has seen is forgotten: the server's row goes with it.
        try sync(b, server)
        let horizon = try a.knowledge()
        #expect(try server.collectGarbage(horizon: horizon).count == 1)
        let made = try ReplicaStore.createFromSnapshot(
            try server.writeSnapshot(to: path("snapshot.sqlite")).path, at: path("new.sqlite"), partner: "https://server")
        try expectSound(made)
        #expect(try made.articles().count == a.articles().count)
        #expect(try made.articles().contains { $0.title == "later" })
        #expect(try made.status().visibleArticles == 29)
    }

    /// The server stops its background catch-up when it closes: between two
    /// chunks (transactions), and the next catch-up goes on from the mark.
    @Test func aCatchUpStopsBetweenChunksAndGoesOnLater() throws {
        let (server, a, _) = try serverWithHistory()
        #expect(try server.catchUpMaterialization(while: { false }) == 0)
        #expect(try server.catchUpMaterialization() == 30)
        // A pass over the 30 articles again (as after a bulk push), 10 per chunk, stopped after the first.
        try server.writer.write { db in try Meta.set(PendingMaterialization.key, "", db) }
        var chunks = 0
        #expect(try server.materializePending(chunk: 10, while: { chunks += 1; return chunks <= 1 }) == 10)
        #expect(try server.needsLongCatchUp())
        #expect(try server.catchUpMaterialization() == 20)
        #expect(try !server.needsLongCatchUp())
        let made = try ReplicaStore.createFromSnapshot(
            try server.writeSnapshot(to: path("snapshot.sqlite")).path, at: path("new.sqlite"), partner: "https://server")
        try expectSound(made)
        #expect(try made.articles().map(\.id) == a.articles().map(\.id))
    }

    @Test func aLongCatchUpIsToldApartFromAShortOne() throws {
        let (server, a, _) = try serverWithHistory()
        // A small list never materialised: caught up while a snapshot waits.
        #expect(try !server.needsLongCatchUp())
        try server.catchUpMaterialization()
        // A pass under way (or interrupted): long.
        try server.writer.write { db in try Meta.set(PendingMaterialization.key, "", db) }
        #expect(try server.needsLongCatchUp())
        try server.catchUpMaterialization()
        #expect(try !server.needsLongCatchUp())
        // A snapshot whose knowledge is not what its sender announced is refused.
        let snapshot = try server.writeSnapshot(to: path("snapshot.sqlite"))
        var announced = snapshot.knowledge
        announced[a.replicaID] += 1
        #expect(throws: StoreError.self) {
            try ReplicaStore.createFromSnapshot(snapshot.path, at: path("new.sqlite"), partner: "p", expecting: announced)
        }
        #expect(!FileManager.default.fileExists(atPath: path("new.sqlite")))
        let made = try ReplicaStore.createFromSnapshot(snapshot.path, at: path("new.sqlite"), partner: "p", expecting: snapshot.knowledge)
        #expect(try made.knowledge() == snapshot.knowledge)
    }

    @Test func aCopyTakenWhileTheSourceLaggedCatchesUpOnItsOwn() throws {
        let (server, a, _) = try serverWithHistory()
        try server.catchUpMaterialization()
        _ = try a.edit("https://example.com/a/4", [Fields.title: "just before the copy"])
        try sync(a, server)
        // A write landed between the source's catch-up and the copy (as `writeSnapshot` may see it).
        let raw = try DatabaseQueue(path: path("raw.sqlite"))
        try DatabaseQueue(path: path("server.sqlite")).backup(to: raw)
        try raw.close()
        let copy = try ReplicaStore.open(path: path("raw.sqlite"), now: clock.source(), materializes: false)
        #expect(try copy.catchUpMaterialization() == 1)
        try copy.close()
        let made = try ReplicaStore.createFromSnapshot(path("raw.sqlite"), at: path("new.sqlite"), partner: "https://server")
        try expectSound(made)
        #expect(try visibleState(made) == visibleState(a))
    }

    @Test func aFileThatIsNotASnapshotIsRefusedAndLeavesNothing() throws {
        let (server, _, _) = try serverWithHistory()
        let target = path("new.sqlite")
        // Not SQLite at all.
        _ = FileManager.default.createFile(atPath: path("junk"), contents: Data("not a database".utf8))
        #expect(throws: StoreError.self) { try ReplicaStore.createFromSnapshot(path("junk"), at: target, partner: "p") }
        #expect(!FileManager.default.fileExists(atPath: target))
        // Cut short in transfer.
        let snapshot = try server.writeSnapshot(to: path("snapshot.sqlite"))
        let bytes = try #require(FileManager.default.contents(atPath: snapshot.path))
        _ = FileManager.default.createFile(atPath: path("short.sqlite"), contents: bytes.prefix(bytes.count / 2))
        #expect(throws: StoreError.self) { try ReplicaStore.createFromSnapshot(path("short.sqlite"), at: target, partner: "p") }
        #expect(!FileManager.default.fileExists(atPath: target))
        // A replica that wrote changes of its own is no server's copy: adopting it would reuse its dots.
        let writer = try ReplicaStore.open(path: path("writer.sqlite"), now: clock.source())
        try writer.save(SaveRequest(url: "https://example.com/w", title: "W"))
        try writer.close()
        #expect(throws: StoreError.self) { try ReplicaStore.createFromSnapshot(path("writer.sqlite"), at: target, partner: "p") }
        #expect(!FileManager.default.fileExists(atPath: target))
        // An existing replica is never replaced.
        let existing = try ReplicaStore.open(path: path("existing.sqlite"), now: clock.source())
        try existing.close()
        let again = try server.writeSnapshot(to: path("snapshot2.sqlite"))
        #expect(throws: StoreError.self) { try ReplicaStore.createFromSnapshot(again.path, at: path("existing.sqlite"), partner: "p") }
        #expect(try ReplicaStore.open(path: path("existing.sqlite")).isEmpty())
    }
}
