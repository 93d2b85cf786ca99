import Foundation
import ReadingListModel
@testable import ReadingListImport
import ReplicaStore
import Synchronization
import SyncCore
import Testing

/// Batches built apart (`ReplicaStore.importArticles(_:batchSize:batchWritten:)`):
/// while one batch is written, the next one's whole transaction is built on
/// another core. What it writes must be what the one-transaction path writes,
/// and a write between batches must send the next ones down that path.
@Suite("Import: batches built apart write what a transaction writes")
struct BuiltApartTests {
    /// `count` articles of every shape an import gives: tags, states, a note,
    /// progress, highlights, and (one in five) an HTML page whose readable text
    /// fills the title and is indexed.
    static func items(_ count: Int) -> [ImportedArticle] {
        (0..<count).map { index in
            let page = index % 5 == 0
                ? "<html><head><title>Page \(index) about gardens</title></head><body><nav>Home | About</nav><article>"
                    + "<h1>Page \(index) about gardens</h1><p>Tomatoes and beans grow well in row \(index) of the garden behind the house.</p>"
                    + "<p>Water them every morning, and the harvest comes in August.</p></article><footer>Donate today</footer></body></html>"
                : nil
            return ImportedArticle(
                request: SaveRequest(
                    url: "https://example.com/\(index % 7)/story-\(index)", title: page == nil ? "Story \(index) on rivers" : nil,
                    tags: index % 3 == 0 ? ["news", "Later"] : ["science"], note: index % 4 == 0 ? "note \(index)" : nil, content: page),
                addedAt: 1_600_000_000_000 + Int64(index) * 1000, isRead: index % 2 == 0, isArchived: index % 3 == 0,
                isFavorite: index % 11 == 0, progress: index % 6 == 0 ? 0.5 : nil,
                highlights: index % 9 == 0 ? [ImportedHighlight(quote: "quote \(index)", note: "why"), ImportedHighlight(quote: "another \(index)")] : [])
        }
    }

    /// Two replicas with the same identity and clock.
    static func pair(_ folder: URL) throws -> (ReplicaStore, ReplicaStore) {
        let id = ReplicaID(String(repeating: "0", count: 31) + "7")!
        let now: @Sendable () -> Int64 = { 1_780_000_000_000 }
        return (
            try ReplicaStore.open(path: folder.appendingPathComponent("apart.sqlite").path, now: now, replicaID: id),
            try ReplicaStore.open(path: folder.appendingPathComponent("one.sqlite").path, now: now, replicaID: id))
    }

    @Test func batchesBuiltApartGiveTheListOneTransactionGives() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (apart, one) = try Self.pair(folder)
        let items = Self.items(700)
        var outcomes: [ImportOutcome] = []
        try apart.importArticles(items, batchSize: 200) { _, batch in outcomes += batch }
        #expect(apart.importBatchesBuiltApart.withLock { $0 } == 4)
        let expected = try one.importArticles(items)
        #expect(outcomes == expected)
        #expect(outcomes.allSatisfy { $0 == .created })

        #expect(try apart.checkInvariants() == [])
        #expect(try apart.articles(includeContent: true) == one.articles(includeContent: true))
        #expect(try apart.articles().count == 700)
        for query in ["gardens", "tomatoes", "rivers", "note", "quote", "science"] {
            #expect(try apart.search(query, limit: 1000).map(\.article.id) == one.search(query, limit: 1000).map(\.article.id), "\(query)")
        }
        #expect(try apart.search("tomatoes", limit: 1000).count == 140)
        // The same changes, in another order (a batch built apart writes its articles in id order).
        let (written, expectedChanges) = (try apart.liveChanges(), try one.liveChanges())
        #expect(written.count == expectedChanges.count)
        #expect(Set(written.map(\.stripped)) == Set(expectedChanges.map(\.stripped)))

        // Importing again changes nothing, through either path.
        try apart.importArticles(items, batchSize: 200) { _, batch in #expect(batch.allSatisfy { $0 == .unchanged }) }
        #expect(apart.importBatchesBuiltApart.withLock { $0 } == 4)
    }

    @Test func aWriteBetweenBatchesSendsTheNextOnesThroughTheirTransaction() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (store, _) = try Self.pair(folder)
        let items = Self.items(600)
        // Saved after the first batch, by the user: an article of the third,
        // which the build of the batches after the first took for new.
        let theirs = items[450].request.url
        var saved = false
        try store.importArticles(items, batchSize: 200) { range, _ in
            if range.lowerBound == 0 {
                _ = try? store.save(SaveRequest(url: theirs, title: "Mine", tags: ["kept"]))
                saved = true
            }
        }
        #expect(saved)
        #expect(store.importBatchesBuiltApart.withLock { $0 } == 1)
        #expect(try store.checkInvariants() == [])
        #expect(try store.articles().count == 600)
        let article = try store.article(theirs)
        #expect(article.title == "Mine")
        #expect(Set(article.tags) == Set(["kept"] + items[450].request.tags.map { $0.lowercased() }))
    }

    @Test func aBatchWithAnArticleTheListHasIsWrittenInItsTransaction() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (store, _) = try Self.pair(folder)
        let items = Self.items(600)
        try store.save(SaveRequest(url: items[250].request.url, title: "Already here"))
        var outcomes: [ImportOutcome] = []
        try store.importArticles(items, batchSize: 200) { _, batch in outcomes += batch }
        // The first and third batches are built apart; the second holds the
        // saved article and is built in its transaction, and the third is
        // built from where that one ended.
        #expect(store.importBatchesBuiltApart.withLock { $0 } == 2)
        #expect(outcomes.filter { $0 == .created }.count == 599)
        if case .updated = outcomes[250] {} else { Issue.record("article 250: \(outcomes[250])") }
        #expect(try store.article(items[250].request.url).title == "Already here")
        #expect(try store.checkInvariants() == [])
    }
}

extension Change {
    /// What a change says, without where and when this replica wrote it.
    var stripped: String { "\(entity.type)/\(entity.id).\(field)=\(value.canonicalText)" }
}
