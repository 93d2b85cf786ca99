import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// A large pull writes the log first and materialises its articles once, at
/// the end, in id order: the list must come out exactly as applying page by
/// page would make it, and a crash in between must lose nothing.
@Suite("Deferred materialisation")
struct DeferredMaterializationTests {
    let clock = ManualClock()

    /// Two replicas' worth of history: saves with tags, edits on both sides
    /// of a conflict, a delete, a highlight, progress. Returns the merged replica.
    func richHistory() throws -> ReplicaStore {
        let a = try makeReplica(1, clock: clock)
        let b = try makeReplica(2, clock: clock)
        try a.save((0..<40).map { SaveRequest(url: "https://example.com/a/\($0)", title: "A \($0)", tags: $0 % 3 == 0 ? ["x", "y"] : ["z"]) })
        try sync(a, b)
        clock.advance(1_000)
        // Concurrent title edits: a conflict every replica must show.
        _ = try a.edit("https://example.com/a/1", [Fields.title: "from a"])
        _ = try b.edit("https://example.com/a/1", [Fields.title: "from b"])
        _ = try a.setTags("https://example.com/a/3", ["x"], present: false)
        _ = try b.setRead("https://example.com/a/4", true)
        _ = try b.setProgress("https://example.com/a/5", 0.5)
        try b.delete("https://example.com/a/6")
        _ = try a.addHighlight("https://example.com/a/7", quote: "a quote", note: "n")
        try b.save((0..<10).map { SaveRequest(url: "https://example.com/b/\($0)", title: "B \($0)") })
        try sync(a, b)
        #expect(try a.conflicted().count == 1)
        return a
    }

    /// Everything `source` holds, as the pages a sync of `pageSize` would pull.
    func pages(_ source: ReplicaStore, into target: ReplicaStore, pageSize: Int, apply: ([LogEntry]) throws -> Void) throws {
        while true {
            let page = try source.outgoing(for: target.knowledge(), limit: pageSize)
            if page.isEmpty { return }
            try apply(page)
        }
    }

    @Test func theListComesOutAsApplyingPageByPageMakesIt() throws {
        let source = try richHistory()
        let direct = try makeReplica(3, clock: clock)
        try pages(source, into: direct, pageSize: 7) { try direct.apply($0) }

        let deferred = try makeReplica(4, clock: clock)
        try pages(source, into: deferred, pageSize: 7) { try deferred.applyDeferringMaterialization($0) }
        #expect(try deferred.hasPendingMaterialization())
        #expect(try deferred.knowledge() == direct.knowledge())
        // Small chunks: the pass crosses many transactions.
        let passed = try deferred.materializePending(chunk: 3)
        #expect(passed == 50)
        #expect(try !deferred.hasPendingMaterialization())
        try expectSound(deferred)
        #expect(try visibleState(deferred) == visibleState(direct))
        #expect(try visibleState(deferred) == visibleState(source))
        #expect(try deferred.conflicted().map(\.id) == source.conflicted().map(\.id))
        // Nothing waits any more: a second pass does nothing.
        #expect(try deferred.materializePending() == 0)
    }

    @Test func aLargeChunkPreparedOnEveryCoreComesOutTheSame() throws {
        let source = try richHistory()
        // Enough articles that a chunk is split across the cores (the history's conflict, delete and highlight among them).
        try source.save((0..<400).map { SaveRequest(url: "https://example.com/many/\($0)", title: "M \($0)", tags: $0 % 5 == 0 ? ["m"] : []) })
        let direct = try makeReplica(3, clock: clock)
        try pages(source, into: direct, pageSize: 100) { try direct.apply($0) }
        let deferred = try makeReplica(4, clock: clock)
        try pages(source, into: deferred, pageSize: 100) { try deferred.applyDeferringMaterialization($0) }
        #expect(try deferred.materializePending() == 450)
        try expectSound(deferred)
        #expect(try visibleState(deferred) == visibleState(direct))
        #expect(try deferred.conflicted().count == 1)
        // And whatever this machine's cores: prepared in 1, 2 or 3 parts, the same articles in the same order.
        let items = try deferred.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT article_id FROM change_log ORDER BY article_id").map { text in
                let id = try ArticleID(validating: text)
                return (id: id, changes: try LogTransaction.liveChanges(ofArticle: id, db))
            }
        }
        let one = Materializer.prepareAll(items, cores: 1)
        for cores in [2, 3] {
            let split = Materializer.prepareAll(items, cores: cores)
            #expect(split.map(\.id) == one.map(\.id))
            #expect(split.map(\.article) == one.map(\.article))
            #expect(split.map(\.values) == one.map(\.values))
        }
    }

    @Test func aCrashBeforeThePassIsRepairedWhenTheReplicaOpens() throws {
        let source = try richHistory()
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/replica.sqlite"
        do {
            let replica = try ReplicaStore.open(path: path, now: clock.source())
            try pages(source, into: replica, pageSize: 11) { try replica.applyDeferringMaterialization($0) }
            // The process dies here: the log is committed, the articles are not materialised.
            #expect(try replica.articles().count < source.articles().count)
            try replica.close()
        }
        let reopened = try ReplicaStore.open(path: path, now: clock.source())
        #expect(try !reopened.hasPendingMaterialization())
        try expectSound(reopened)
        #expect(try visibleState(reopened) == visibleState(source))
    }

    @Test func aBulkLoadCheckpointsLessOftenAndLeavesTheWriteAheadLogEmpty() throws {
        let source = try richHistory()
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/replica.sqlite"
        let replica = try ReplicaStore.open(path: path, now: clock.source())
        func interval() throws -> Int? { try replica.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") } }
        #expect(try interval() == ReplicaStore.defaultCheckpointPages)
        try pages(source, into: replica, pageSize: 9) { try replica.applyDeferringMaterialization($0) }
        #expect(try interval() == ReplicaStore.bulkCheckpointPages)
        try replica.materializePending()
        #expect(try interval() == ReplicaStore.defaultCheckpointPages)
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int
        #expect(wal == 0)
        try expectSound(replica)
        #expect(try visibleState(replica) == visibleState(source))
    }

    @Test func aDeferredApplyDuringAPassSendsItBackOnlyAsFarAsItMust() throws {
        let source = try richHistory()
        let target = try makeReplica(5, clock: clock)
        let all = try source.outgoing(for: VersionVector(), limit: 10_000)
        let half = all.count / 2
        try target.applyDeferringMaterialization(Array(all[..<half]))
        func mark() throws -> String? { try target.writer.read { db in try Meta.get(PendingMaterialization.key, db) } }
        let touched = Set(all[half...].compactMap { entry -> ArticleID? in
            if case let .run(run) = entry { return run.entity.articleID }
            if case let .change(change) = entry { return change.entity.articleID }
            return nil
        })
        let lowest = try #require(touched.min())
        // The pass got past every article, then more arrives: it goes back to just before the lowest one touched.
        try target.writer.write { db in try Meta.set(PendingMaterialization.key, "ffffffffffffffffffffffffffffffff", db) }
        try target.applyDeferringMaterialization(Array(all[half...]))
        let back = try #require(try mark())
        #expect(back < lowest.rawValue && lowest.rawValue.hasPrefix(back))
        // A pass that had not reached them keeps its place.
        try target.writer.write { db in try Meta.set(PendingMaterialization.key, "0", db) }
        try target.applyDeferringMaterialization(Array(all[half...]))
        #expect(try mark() == "0")
        try target.materializePending(chunk: 4)
        try expectSound(target)
        #expect(try visibleState(target) == visibleState(source))
    }

    @Test func theArticlesAReplicaAlreadyShowsAreUpdatedByThePass() throws {
        let source = try richHistory()
        // Two replicas with the same local saves (some of the same URLs, other titles and tags): one applies
        // page by page, the other deferred; the pass must update, re-tag and hide rows, not only insert.
        func local(_ n: Int) throws -> ReplicaStore {
            let replica = try makeReplica(n, clock: clock)
            try replica.save((0..<12).map { SaveRequest(url: "https://example.com/a/\($0)", title: "local \($0)", tags: ["mine"]) })
            return replica
        }
        let direct = try local(8), deferred = try local(8)
        try pages(source, into: direct, pageSize: 6) { try direct.apply($0) }
        try pages(source, into: deferred, pageSize: 6) { try deferred.applyDeferringMaterialization($0) }
        #expect(try deferred.materializePending(chunk: 5) > 0)
        try expectSound(deferred)
        #expect(try visibleState(deferred) == visibleState(direct))
        #expect(try deferred.conflicted().map(\.id) == direct.conflicted().map(\.id))
        #expect(try !direct.conflicted().isEmpty)
    }

    /// An edit while a pass is pending brings an article's row up to date,
    /// tags included, though the edit touched no tag: the pass then finds the
    /// row as it should be and leaves it, so the tag rows must be right already.
    @Test func anEditBeforeThePassAlsoBringsTheTagRowsUpToDate() throws {
        let url = "https://example.com/a/0"
        let source = try makeReplica(1, clock: clock)
        try source.save(SaveRequest(url: url, title: "Theirs", tags: ["theirs"]))
        let target = try makeReplica(2, clock: clock)
        try target.save(SaveRequest(url: url, title: "Mine", tags: ["mine"]))
        try pages(source, into: target, pageSize: 100) { try target.applyDeferringMaterialization($0) }
        #expect(try target.hasPendingMaterialization())
        clock.advance(1_000)
        try target.edit(url, [Fields.isFavorite: true])
        #expect(try target.materializePending() > 0)
        try expectSound(target)
        #expect(try target.article(url).tags == ["mine", "theirs"])
        #expect(try target.articles(.tag("theirs")).map(\.url) == [url])
    }

    @Test func anotherLiveProcessThatDeferredIsLeftToFinish() throws {
        let source = try richHistory()
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/replica.sqlite"
        func deferAll(owner: String) throws {
            let replica = try ReplicaStore.open(path: path, now: clock.source())
            try replica.applyDeferringMaterialization(source.outgoing(for: replica.knowledge(), limit: 10_000))
            try replica.writer.write { db in try Meta.set(PendingMaterialization.ownerKey, owner, db) }
            try replica.close()
        }
        // Process 1 (init) is alive: an initial sync in another process; opening leaves its articles to it.
        try deferAll(owner: "1")
        #expect(try ReplicaStore.open(path: path, now: clock.source()).hasPendingMaterialization())
        // A process that no longer exists: a crash; opening finishes its pass.
        try ReplicaStore.open(path: path, now: clock.source()).writer.write { db in
            try Meta.set(PendingMaterialization.ownerKey, "2147483646", db)
        }
        let reopened = try ReplicaStore.open(path: path, now: clock.source())
        #expect(try !reopened.hasPendingMaterialization())
        try expectSound(reopened)
        #expect(try visibleState(reopened) == visibleState(source))
    }

    @Test func anArticleWithNothingLeftInTheLogGoesInThePass() throws {
        let source = try richHistory()
        let target = try makeReplica(6, clock: clock)
        try target.apply(source.outgoing(for: VersionVector(), limit: 10_000))
        let gone = try target.resolve("https://example.com/a/9")
        // A stale row the log no longer supports (as after a forgotten article), then a pass.
        try target.writer.write { db in
            try db.execute(sql: "DELETE FROM change_log WHERE article_id = ?", arguments: [gone.rawValue])
            try Meta.set(PendingMaterialization.key, "", db)
        }
        #expect(try target.articles().contains { $0.id == gone })
        try target.materializePending(chunk: 5)
        #expect(try !target.articles().contains { $0.id == gone })
        let tags = try target.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM article_tag WHERE article_id = ?", arguments: [gone.rawValue])
        }
        #expect(tags == 0)
    }

    @Test func onlyAReplicaHoldingLessThanAPageDefers() throws {
        let replica = try makeReplica(7, clock: clock)
        #expect(try replica.holdsFewerArticles(than: 1))
        try replica.save((0..<3).map { SaveRequest(url: "https://example.com/\($0)") })
        #expect(try !replica.holdsFewerArticles(than: 3))
        #expect(try replica.holdsFewerArticles(than: 4))
    }
}
