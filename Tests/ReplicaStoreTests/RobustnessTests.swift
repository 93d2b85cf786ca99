import Foundation
import GRDB
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Testing

@Suite("Bad input, copies and interrupted syncs")
struct RobustnessTests {
    let clock = ManualClock()

    @Test func badInputChangesNothing() throws {
        let store = try makeReplica(1, clock: clock)
        try store.save(SaveRequest(url: pageA, title: "T", tags: ["x"]))
        let before = try fingerprint(store)
        #expect(throws: StoreError.self) { try store.save(SaveRequest(url: "not a url")) }
        #expect(throws: StoreError.self) { try store.save(SaveRequest(url: "https://example.com/b", tags: ["  "])) }
        #expect(throws: StoreError.self) { try store.edit("https://example.com/unknown", [Fields.title: "x"]) }
        #expect(throws: StoreError.self) { try store.edit("deadbeef", [Fields.title: "x"]) }
        #expect(throws: StoreError.self) { try store.edit(pageA, ["url": "x"]) }
        #expect(throws: StoreError.self) { try store.setProgress(pageA, 1.5) }
        #expect(throws: StoreError.self) { try store.setProgress(pageA, -0.1) }
        #expect(throws: StoreError.self) { try store.setTags(pageA, ["absent"], present: false) }
        #expect(throws: StoreError.self) { try store.resolveConflict(pageA, field: Fields.title, value: "x") }
        #expect(throws: StoreError.self) { try store.deleteHighlight("nope") }
        #expect(try fingerprint(store) == before)
    }

    @Test func aBulkSaveIsAllOrNothingAndSavesInOrder() throws {
        let store = try makeReplica(1, clock: clock)
        try store.save(SaveRequest(url: pageA, title: "Kept"))
        let before = try fingerprint(store)
        #expect(throws: StoreError.self) {
            try store.save([SaveRequest(url: "https://example.com/new"), SaveRequest(url: "not a url")])
        }
        #expect(try fingerprint(store) == before)
        let saved = try store.save([
            SaveRequest(url: "https://example.com/b", title: "First", tags: ["x", "X"]),
            SaveRequest(url: pageA, tags: ["later"]),
            SaveRequest(url: "https://example.com/b/", title: "Second"),
        ])
        #expect(saved.map(\.outcome) == [.created, .updated(written: ["tag:later"]), .updated(written: ["title"])])
        #expect(saved[0].id == saved[2].id)
        let b = try store.article("https://example.com/b")
        #expect(b.title == "Second" && b.tags == ["x"])
        let a = try store.article(pageA)
        #expect(a.title == "Kept" && a.tags == ["later"])
        #expect(try store.checkInvariants() == [])
    }

    @Test func aBatchWithABadEntryAppliesNothing() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T"))
        try a.save(SaveRequest(url: "https://example.com/b", title: "B"))
        let runs = try a.outgoing(for: VersionVector(), limit: 100)
        #expect(runs.count == 2)  // one run per save
        var entries = runs.flatMap(\.expanded)
        let before = try fingerprint(b)
        // Drop an entry in the middle: a gap.
        entries.remove(at: 3)
        #expect(throws: StoreError.self) { try b.apply(entries) }
        #expect(try fingerprint(b) == before)
        // Or a whole save.
        #expect(throws: StoreError.self) { try b.apply([runs[1]]) }
        #expect(try fingerprint(b) == before)
    }

    @Test func reSentAndSplitBatchesChangeNothingTheSecondTime() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        for index in 0..<10 { try a.save(SaveRequest(url: "https://example.com/\(index)", title: "t\(index)", tags: ["x"])) }
        try a.edit("https://example.com/3", [Fields.title: "edited"])
        var knowledge = VersionVector()
        while true {
            let page = try a.outgoing(for: knowledge, limit: 7)
            if page.isEmpty { break }
            let first = try b.apply(page)
            let again = try b.apply(page)  // a lost response, retried
            #expect(again.appliedChanges == 0)
            #expect(again.knowledge == first.knowledge)
            knowledge = first.knowledge
            try expectSound(b)
        }
        #expect(try visibleState(a) == visibleState(b))
    }

    @Test func anInterruptedSyncResumesWithoutLossOrDuplication() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        for index in 0..<30 { try a.save(SaveRequest(url: "https://example.com/\(index)", title: "t\(index)")) }
        // Only the first two pages arrive.
        var knowledge = VersionVector()
        for _ in 0..<2 { knowledge = try b.apply(a.outgoing(for: knowledge, limit: 10)).knowledge }
        try expectSound(b)
        #expect(try b.articles().count < 30)
        try b.edit("https://example.com/0", [Fields.note: "made mid-sync"])
        try sync(b, a, pageSize: 10)
        #expect(try a.articles().count == 30 && b.articles().count == 30)
        #expect(try visibleState(a) == visibleState(b))
        let again = try sync(a, b)
        #expect(again.summary.pushedChanges == 0 && again.summary.pulledChanges == 0)
    }

    @Test func aCopiedReplicaFileIsRefusedAndResetIdentityRecoversIt() throws {
        let folder = try temporaryFolder()
        let original = try ReplicaStore.open(path: folder + "/a.sqlite", now: clock.source())
        let other = try ReplicaStore.open(path: folder + "/b.sqlite", now: clock.source())
        try original.save(SaveRequest(url: pageA, title: "T"))
        try PeerSync.run(local: original, remote: other)
        try original.close()
        try FileManager.default.copyItem(atPath: folder + "/a.sqlite", toPath: folder + "/copy.sqlite")
        let a = try ReplicaStore.open(path: folder + "/a.sqlite", now: clock.source())
        let copy = try ReplicaStore.open(path: folder + "/copy.sqlite", now: clock.source())
        #expect(a.replicaID == copy.replicaID)
        #expect(throws: StoreError.self) { try PeerSync.run(local: a, remote: copy) }
        // Both write under the same dots.
        try a.edit(pageA, [Fields.note: "original's note"])
        try copy.edit(pageA, [Fields.title: "copy's title"])
        try PeerSync.run(local: a, remote: other)
        let before = try fingerprint(other)
        #expect {
            try PeerSync.run(local: copy, remote: other)
        } throws: { error in
            guard case .sync(.conflictingDuplicate) = error as? StoreError else { return false }
            return "\(error)".contains("reset-identity")
        }
        #expect(try fingerprint(other) == before)
        try copy.close()
        let newID = try ReplicaStore.resetIdentity(path: folder + "/copy.sqlite")
        #expect(newID != a.replicaID)
        let fresh = try ReplicaStore.open(path: folder + "/copy.sqlite", now: clock.source())
        try PeerSync.run(local: fresh, remote: other)
        try PeerSync.run(local: a, remote: other)
        try PeerSync.run(local: fresh, remote: other)
        for store in [a, fresh, other] {
            let article = try store.article(pageA)
            // Each file's edit after the copy is kept; the copy's title replaces the title it had seen.
            #expect(article.note == "original's note")
            #expect(article.title == "copy's title")
            #expect(article.conflicts.isEmpty)
            try expectSound(store)
        }
        #expect(try visibleState(a) == visibleState(fresh))
    }

    /// The copy's reset writes again only what it changed after the copy:
    /// an article deleted elsewhere meanwhile stays deleted, a note edited
    /// on the original keeps its newer value, and the copy's own edit and
    /// save arrive.
    @Test func resetIdentityKeepsDeletesAndNewerEditsMadeElsewhere() throws {
        let folder = try temporaryFolder()
        let original = try ReplicaStore.open(path: folder + "/a.sqlite", now: clock.source())
        let other = try ReplicaStore.open(path: folder + "/b.sqlite", now: clock.source())
        for page in [pageA, pageB, pageC] { try original.save(SaveRequest(url: page, title: "T", note: "old note")) }
        try PeerSync.run(local: original, remote: other)
        try original.close()
        try FileManager.default.copyItem(atPath: folder + "/a.sqlite", toPath: folder + "/copy.sqlite")
        let a = try ReplicaStore.open(path: folder + "/a.sqlite", now: clock.source())
        try other.delete(pageB)
        try a.edit(pageC, [Fields.note: "newer note"])
        try PeerSync.run(local: a, remote: other)
        let copy = try ReplicaStore.open(path: folder + "/copy.sqlite", now: clock.source())
        try copy.edit(pageA, [Fields.title: "copy's title"])
        try copy.save(SaveRequest(url: "https://example.com/made-on-the-copy", title: "New"))
        #expect(throws: StoreError.self) { try PeerSync.run(local: copy, remote: other) }
        try copy.close()
        _ = try ReplicaStore.resetIdentity(path: folder + "/copy.sqlite")
        let fresh = try ReplicaStore.open(path: folder + "/copy.sqlite", now: clock.source())
        // Only the copy's two writes are new: the title and the save's run.
        #expect(try fresh.liveChanges().filter { $0.dot.replica == fresh.replicaID }.map(\.field).contains(Fields.title))
        try PeerSync.run(local: fresh, remote: other)
        try PeerSync.run(local: a, remote: other)
        try PeerSync.run(local: fresh, remote: other)
        for store in [a, fresh, other] {
            #expect(throws: StoreError.self) { try store.article(pageB) }
            #expect(try store.article(pageC).note == "newer note")
            #expect(try store.article(pageC).conflicts.isEmpty)
            #expect(try store.article(pageA).title == "copy's title")
            #expect(try store.article("https://example.com/made-on-the-copy").title == "New")
            try expectSound(store)
        }
        #expect(try visibleState(a) == visibleState(fresh))
        #expect(try visibleState(other) == visibleState(fresh))
    }

    /// On a file that is no copy, a reset renames only the changes no partner
    /// has acknowledged: running it (twice) writes nothing else again.
    @Test func resetIdentityOnAFileThatIsNoCopyRewritesNothingShared() throws {
        let folder = try temporaryFolder()
        let one = try ReplicaStore.open(path: folder + "/a.sqlite", now: clock.source())
        let two = try ReplicaStore.open(path: folder + "/b.sqlite", now: clock.source())
        for page in [pageA, pageB, pageC] { try one.save(SaveRequest(url: page, title: "T", tags: ["x"])) }
        try PeerSync.run(local: one, remote: two)
        let writes = try two.liveChanges().count
        try two.close()
        for _ in 0..<2 { _ = try ReplicaStore.resetIdentity(path: folder + "/b.sqlite") }
        let reset = try ReplicaStore.open(path: folder + "/b.sqlite", now: clock.source())
        #expect(try reset.liveChanges().count == writes)
        try PeerSync.run(local: reset, remote: one)
        #expect(try one.liveChanges().count == writes)
        #expect(try visibleState(one) == visibleState(reset))
        try expectSound(reset)
    }

    @Test func filesThatAreNotReplicasAreRefusedUnchanged() throws {
        let folder = try temporaryFolder()
        let text = folder + "/notes.txt"
        try Data("hello, not a database, but long enough to have a header of some sort........".utf8).write(to: URL(fileURLWithPath: text))
        #expect(throws: StoreError.self) { try ReplicaStore.open(path: text) }
        #expect(try String(contentsOfFile: text, encoding: .utf8).hasPrefix("hello"))

        let foreign = folder + "/other.sqlite"
        let queue = try DatabaseQueue(path: foreign)
        try queue.write { try $0.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (1)") }
        try queue.close()
        let size = try FileManager.default.attributesOfItem(atPath: foreign)[.size] as? Int
        #expect { try ReplicaStore.open(path: foreign) } throws: { "\($0)".contains("not a reading-list replica") }
        #expect(try FileManager.default.attributesOfItem(atPath: foreign)[.size] as? Int == size)

        #expect(throws: StoreError.self) { try ReplicaStore.open(path: folder + "/missing.sqlite", create: false) }
        #expect(!FileManager.default.fileExists(atPath: folder + "/missing.sqlite"))
    }

    @Test func aReplicaFromANewerSchemaIsRefused() throws {
        let folder = try temporaryFolder()
        let path = folder + "/future.sqlite"
        let store = try ReplicaStore.open(path: path, now: clock.source())
        try store.save(SaveRequest(url: pageA))
        try store.close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "UPDATE replica_meta SET value = '99' WHERE key = 'schema_version'") }
        try queue.close()
        #expect { try ReplicaStore.open(path: path) } throws: { "\($0)".contains("newer version") }
    }
}

func temporaryFolder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
