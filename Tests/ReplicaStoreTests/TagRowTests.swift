import Foundation
import ReadingListModel
@testable import ReplicaStore
import Synchronization
import SyncClient
import SyncCore
import Testing

/// An article's tag rows are read and rewritten only when one of its tag
/// fields or its visibility changes: an edit of another field leaves them
/// alone (one index read less on every edit and every pulled change).
@Suite("Tag rows")
struct TagRowTests {
    /// The statements `body` runs that touch `article_tag`.
    func tagStatements(_ store: ReplicaStore, _ body: () throws -> Void) throws -> [String] {
        let lines = Mutex<[String]>([])
        store.traceStatements { sql, _ in if sql.contains("article_tag") { lines.withLock { $0.append(sql) } } }
        defer { store.traceStatements(nil) }
        try body()
        return lines.withLock { $0 }
    }

    @Test func onlyATagFieldOrTheVisibilityRewritesTheTagRows() throws {
        let store = try ReplicaStore.inMemory()
        let url = "https://example.com/tagged"
        try store.save(SaveRequest(url: url, title: "T", tags: ["a", "b"]))
        // Another field: no tag statement at all.
        #expect(try tagStatements(store) { try store.edit(url, [Fields.title: "Renamed", Fields.isFavorite: true]) } == [])
        #expect(try store.articles(.tag("a")).map(\.title) == ["Renamed"])
        // A tag: read and rewritten.
        let added = try tagStatements(store) { try store.setTags(url, ["c"], present: true) }
        #expect(added.contains { $0.hasPrefix("INSERT INTO article_tag") })
        #expect(try store.article(url).tags == ["a", "b", "c"])
        let removed = try tagStatements(store) { try store.setTags(url, ["a"], present: false) }
        #expect(removed.contains { $0.hasPrefix("DELETE FROM article_tag") })
        // Visibility: a delete removes the rows.
        let deleted = try tagStatements(store) { try store.delete(url) }
        #expect(deleted.contains { $0.hasPrefix("DELETE FROM article_tag") })
        #expect(try store.articles(.tag("b")).isEmpty)
        #expect(try store.checkInvariants() == [])
    }

    /// An edit concurrent with a delete brings the article back with every
    /// field: its tag rows come back though no tag field changed.
    @Test func anArticleBroughtBackByAConcurrentEditGetsItsTagRowsBack() throws {
        let clock = ManualClock()
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        let url = "https://example.com/back"
        try a.save(SaveRequest(url: url, title: "T", tags: ["kept"]))
        try sync(a, b)
        try a.delete(url)
        try b.edit(url, [Fields.title: "Edited meanwhile"])
        let rewritten = try tagStatements(a) { _ = try PeerSync.run(local: a, remote: b) }
        #expect(rewritten.contains { $0.hasPrefix("INSERT INTO article_tag") })
        #expect(try a.articles(.tag("kept")).map(\.title) == ["Edited meanwhile"])
        #expect(try a.checkInvariants() == [])
        #expect(try b.checkInvariants() == [])
    }

    /// The same on the receiving side: a pulled title change leaves the tag
    /// rows alone, a pulled tag change rewrites them.
    @Test func aPulledChangeRewritesTheTagRowsOnlyForATag() throws {
        let clock = ManualClock()
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        let url = "https://example.com/shared"
        try a.save(SaveRequest(url: url, title: "T", tags: ["x"]))
        try sync(a, b)
        try a.edit(url, [Fields.title: "From A"])
        #expect(try tagStatements(b) { _ = try PeerSync.run(local: a, remote: b) } == [])
        #expect(try b.articles(.tag("x")).map(\.title) == ["From A"])
        try a.setTags(url, ["y"], present: true)
        #expect(try !tagStatements(b) { _ = try PeerSync.run(local: a, remote: b) }.isEmpty)
        #expect(try b.articles(.tag("y")).map(\.title) == ["From A"])
        #expect(try b.checkInvariants() == [])
    }
}
