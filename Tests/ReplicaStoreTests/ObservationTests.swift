import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Synchronization
import Testing

/// Collects what an observation delivers, on a task of its own, until stopped.
final class Observed<Value: Sendable & Equatable>: Sendable {
    private let received = Mutex<[Value]>([])
    private let failure = Mutex<String?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ observation: ReplicaStore.Observation<Value>) {
        let task = Task { [weak self] in
            do {
                for try await value in observation { self?.received.withLock { $0.append(value) } }
            } catch {
                self?.failure.withLock { $0 = "\(error)" }
            }
        }
        self.task.withLock { $0 = task }
    }

    var values: [Value] { received.withLock { $0 } }
    var error: String? { failure.withLock { $0 } }

    /// Waits (up to 60 s, a bound for a machine running every suite at once, not a speed check) until `count` values arrived.
    @discardableResult
    func wait(for count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Value] {
        let deadline = ContinuousClock.now + .seconds(60)
        while values.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(values.count >= count, "waited for \(count) values, got \(values.count): \(values)", sourceLocation: sourceLocation)
        return values
    }

    /// Gives a value that should not come time to come (any would arrive within milliseconds here).
    func settle() async throws { try await Task.sleep(for: .milliseconds(300)) }

    func stop() { task.withLock { $0?.cancel() } }

    /// Waits for the iterating task to end.
    func finished() async { await task.withLock { $0 }?.value }
    deinit { stop() }
}

@Suite("Observation: live values after edits, syncs and other processes' writes")
struct ObservationTests {
    let clock = ManualClock()

    @Test func aListFollowsLocalEditsOneValuePerTransaction() async throws {
        let store = try makeReplica(1, clock: clock)
        try store.save(SaveRequest(url: pageA, title: "A"))
        let unread = Observed(store.observeArticles(.unread))
        #expect(try await unread.wait(for: 1).last?.map(\.title) == ["A"])

        // One transaction saving three articles: one new value, holding all three.
        clock.advance(10)
        try store.save([
            SaveRequest(url: "https://example.com/b", title: "B"), SaveRequest(url: "https://example.com/c", title: "C"),
            SaveRequest(url: "https://example.com/d", title: "D"),
        ])
        let afterBatch = try await unread.wait(for: 2)
        #expect(Set(afterBatch[1].compactMap(\.title)) == ["A", "B", "C", "D"])
        try await unread.settle()
        #expect(unread.values.count == 2)

        // Marking one read takes it out of the unread list.
        _ = try store.setRead(pageA, true)
        #expect(try await unread.wait(for: 3)[2].map(\.title).contains("A") == false)

        // A change that leaves the list as it was (a progress on a read article,
        // not in the list) commits, but gives no new value.
        _ = try store.setProgress(pageA, 0.5)
        try await unread.settle()
        #expect(unread.values.count == 3)
        #expect(unread.error == nil)
    }

    @Test func oneArticleWithItsHighlightsAndConflicts() async throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        let id = try a.save(SaveRequest(url: pageA, title: "Start")).article.id
        try sync(a, b)
        let article = Observed(b.observeArticle(id))
        let conflicts = Observed(b.observeConflictCount())
        #expect(try await article.wait(for: 1)[0]?.title == "Start")
        #expect(try await conflicts.wait(for: 1) == [0])

        _ = try b.addHighlight(pageA, quote: "a sentence")
        #expect(try await article.wait(for: 2)[1]?.highlights.map(\.quote) == ["a sentence"])

        // Concurrent titles: after the sync, the article shows the conflict and the count is 1.
        clock.advance(10)
        _ = try a.edit(pageA, [Fields.title: "From A"])
        _ = try b.edit(pageA, [Fields.title: "From B"])
        #expect(try await article.wait(for: 3)[2]?.title == "From B")
        try sync(a, b)
        let merged = try await article.wait(for: 4)[3]
        #expect(merged?.conflicts.map(\.field) == [Fields.title])
        #expect(try await conflicts.wait(for: 2) == [0, 1])

        // Resolved: no conflict; deleted: nil.
        _ = try b.resolveConflict(pageA, field: Fields.title, keep: 1)
        #expect(try await conflicts.wait(for: 3) == [0, 1, 0])
        try b.delete(pageA)
        let values = try await article.wait(for: 6)
        #expect(values[5] == nil)
        #expect(values.count == 6)
    }

    @Test func aSyncDeliversOthersEditsAndTheSyncState() async throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        let list = Observed(b.observeArticles(.tag("swift")))
        let state = Observed(a.observeSyncState())
        #expect(try await list.wait(for: 1) == [[]])
        #expect(try await state.wait(for: 1)[0] == ReplicaStore.SyncState(localChanges: 0, pendingChanges: 0, lastSync: nil))

        try a.save(SaveRequest(url: pageA, title: "Tagged", tags: ["swift"]))
        let pending = try await state.wait(for: 2)[1]
        #expect(pending.localChanges > 0 && pending.pendingChanges == pending.localChanges && pending.lastSync == nil)

        try sync(a, b)
        #expect(try await list.wait(for: 2)[1].map(\.title) == ["Tagged"])
        let synced = try await state.wait(for: 3)[2]
        #expect(synced.pendingChanges == 0 && synced.lastSync == clock.now)
        #expect(try a.syncState() == synced)
    }

    /// An import's batches built apart write their rows through SQLite's C
    /// API (`RawInserts`), past GRDB's statement hooks: they tell the
    /// observers themselves, and a list and a search see every batch.
    @Test func anImportIsSeenBatchByBatch() async throws {
        let store = try makeReplica(1, clock: clock)
        let list = Observed(store.observeArticles())
        let search = Observed(store.observeSearch("lighthouse", limit: 1000))
        #expect(try await list.wait(for: 1) == [[]])
        #expect(try await search.wait(for: 1) == [[]])
        let items = (0..<300).map { index in
            ImportedArticle(request: SaveRequest(url: "https://example.com/imported-\(index)", title: "The lighthouse, part \(index)", tags: ["coast"]))
        }
        try store.importArticles(items, batchSize: 100) { _, _ in }
        #expect(store.importBatchesBuiltApart.withLock { $0 } == 3)
        let deadline = ContinuousClock.now + .seconds(60)
        while list.values.last?.count != 300 || search.values.last?.count != 300, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(list.values.last?.count == 300)
        #expect(search.values.last?.count == 300)
        #expect(list.values.last?.allSatisfy { $0.tags == ["coast"] } == true)
    }

    @Test func aSearchFollowsSavesEditsDeletesAndSyncs() async throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try b.save(SaveRequest(url: pageA, title: "The harbour at dawn"))
        try b.save(SaveRequest(url: "https://example.com/z", title: "Unrelated"))
        let harbour = Observed(b.observeSearch("harbour"))
        let nothing = Observed(b.observeSearch("-- ()"))
        #expect(try await harbour.wait(for: 1)[0].map(\.article.url) == [pageA])
        #expect(try await nothing.wait(for: 1) == [[]])

        // A save that matches: a new value with both, ranked, with snippets.
        clock.advance(10)
        try b.save(SaveRequest(url: "https://example.com/b", title: "Boats", note: "seen from the harbour"))
        let both = try await harbour.wait(for: 2)[1]
        #expect(both.map(\.article.url) == [pageA, "https://example.com/b"])
        #expect(both[1].snippet.contains("harbour"))

        // A change to an article the search does not find commits but gives no new value;
        // one to an article it finds (its progress, shown in the hit's article) does.
        // (A save or delete of any article moves the scores, which weigh a word by how many articles hold it.)
        _ = try b.setProgress("https://example.com/z", 0.5)
        try await harbour.settle()
        #expect(harbour.values.count == 2)
        _ = try b.setProgress(pageA, 0.5)
        #expect(try await harbour.wait(for: 3)[2].first?.article.progress.position == 0.5)

        // An edit that takes the word out, then another replica's save arriving by a sync.
        _ = try b.edit("https://example.com/b", [Fields.note: "seen from the pier"])
        #expect(try await harbour.wait(for: 4)[3].map(\.article.url) == [pageA])
        try a.save(SaveRequest(url: "https://example.com/c", title: "Harbour lights", tags: ["photos"]))
        try sync(a, b)
        #expect(Set(try await harbour.wait(for: 5)[4].map(\.article.url)) == [pageA, "https://example.com/c"])

        // A delete.
        try b.delete(pageA)
        #expect(try await harbour.wait(for: 6)[5].map(\.article.url) == ["https://example.com/c"])
        #expect(try await harbour.wait(for: 6)[5] == (try b.search("harbour")))
        try await nothing.settle()
        #expect(nothing.values == [[]])
        #expect(harbour.error == nil && nothing.error == nil)
    }

    @Test func writesThroughAnotherConnectionAreSeen() async throws {
        // Two stores on one file are two SQLite connections, as two processes
        // are: neither's commits reach the other's observers but through the file.
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/replica.sqlite"
        let watcher = try ReplicaStore.open(path: path)
        let writer = try ReplicaStore.open(path: path)
        let list = Observed(watcher.observeArticles())
        let count = Observed(watcher.observeConflictCount())
        #expect(try await list.wait(for: 1) == [[]])

        try writer.save(SaveRequest(url: pageA, title: "Written elsewhere"))
        #expect(try await list.wait(for: 2)[1].map(\.title) == ["Written elsewhere"])
        _ = try writer.edit(pageA, [Fields.title: "Again"])
        #expect(try await list.wait(for: 3)[2].map(\.title) == ["Again"])
        // A change elsewhere that leaves this value as it was delivers nothing new.
        try await count.settle()
        #expect(count.values == [0])
        // The watcher's own edits still arrive once each.
        _ = try watcher.edit(pageA, [Fields.title: "Here"])
        #expect(try await list.wait(for: 4)[3].map(\.title) == ["Here"])
        try await list.settle()
        #expect(list.values.count == 4)
        list.stop()
        count.stop()
        try writer.close()
        try watcher.close()
    }

    @Test func anIterationEndsWhenItsTaskIsCancelled() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try ReplicaStore.open(path: folder + "/replica.sqlite")
        let list = Observed(store.observeArticles())
        try await list.wait(for: 1)
        list.stop()
        await list.finished()
        // Ended without an error; a later change is delivered to no one.
        try store.save(SaveRequest(url: pageA))
        try await list.settle()
        #expect(list.values.count == 1 && list.error == nil)
        try store.close()
    }
}
