import ReadingListModel
import ScenarioKit
import SyncCore
import Testing

/// The simulator's oracle: an independent model of the merge contract that
/// catches wrong rules which still converge (issue #19).
@Suite("Oracle")
struct OracleTests {
    static let a = ReplicaID("000000000000000000000000000000aa")!
    static let b = ReplicaID("000000000000000000000000000000bb")!
    static let url = "https://example.com/a"
    static let id = ArticleID(url: try! NormalizedURL(url))

    /// Builds writes the way replicas make them: each takes the writer's next counter, with a given context.
    struct History {
        var writes: [Change] = []
        var counters: [ReplicaID: UInt64] = [:]

        @discardableResult
        mutating func write(
            _ replica: ReplicaID, _ field: String, _ value: JSONValue, seen: [ReplicaID: UInt64], at millis: Int64, entity: EntityRef = .article(OracleTests.id)
        ) -> Change {
            let counter = (counters[replica] ?? 0) + 1
            counters[replica] = counter
            var context = seen
            context[replica] = max(context[replica] ?? 0, counter - 1)
            let change = Change(
                dot: Dot(replica, counter), entity: entity, field: field, value: value, context: VersionVector(context), hlc: HLC(millis: millis, logical: 0))
            writes.append(change)
            return change
        }

        /// A save on `a`: url, addedAt and deleted = false (dots a:1...a:3).
        static func saved() -> History {
            var history = History()
            history.write(a, "url", .string(OracleTests.url), seen: [:], at: 1000)
            history.write(a, "addedAt", .number(1000), seen: [:], at: 1000)
            history.write(a, "deleted", .bool(false), seen: [:], at: 1000)
            return history
        }
    }

    /// The article as the contract displays it after `saved()` plus what `adjust` sets.
    func article(updatedAt: Int64, _ adjust: (inout Article) -> Void = { _ in }) -> Article {
        var article = Article(id: Self.id, url: Self.url, normalizedURL: Self.url, addedAt: 1000, updatedAt: updatedAt)
        adjust(&article)
        return article
    }

    func violations(_ history: History, _ shown: [Article]) -> [Oracle.Violation] {
        Oracle.compare(replica: "r1", shows: shown, expected: Oracle(writes: history.writes).expected())
    }

    @Test func aTagConcurrentlyRemovedAndAddedMustShow() {
        var history = History.saved()
        history.write(Self.a, "tag:later", .bool(true), seen: [:], at: 2000)  // a:4
        history.write(Self.b, "tag:later", .bool(false), seen: [Self.a: 4], at: 3000)  // b removes it, having seen it
        history.write(Self.a, "tag:later", .bool(true), seen: [:], at: 2500)  // a adds it again, concurrently
        let right = article(updatedAt: 3000) { $0.tags = ["later"] }
        #expect(violations(history, [right]).isEmpty)
        // Remove-wins converges too, but breaks the contract.
        let wrong = violations(history, [article(updatedAt: 3000)])
        #expect(wrong.count == 1)
        let violation = try! #require(wrong.first)
        #expect(violation.field == "tags" && violation.expected == #"["later"]"# && violation.seen == "[]")
        #expect(violation.article.contains(Self.url) && violation.replica == "r1")
        #expect(violation.description.contains("tags") && violation.description.contains(Self.url))
    }

    @Test func concurrentProgressKeepsTheHighestPosition() {
        var history = History.saved()
        history.write(Self.a, "progress", .object(["epoch": 0, "position": 0.8]), seen: [:], at: 2000)
        history.write(Self.b, "progress", .object(["epoch": 0, "position": 0.3]), seen: [Self.a: 3], at: 5000)  // later by the clock, concurrent
        #expect(violations(history, [article(updatedAt: 5000) { $0.progress = ReadingProgress(epoch: 0, position: 0.8) }]).isEmpty)
        let wrong = violations(history, [article(updatedAt: 5000) { $0.progress = ReadingProgress(epoch: 0, position: 0.3) }])
        #expect(wrong.map(\.field) == ["progress"])
        #expect(wrong.first?.expected == #"{"epoch":0,"position":0.8}"# && wrong.first?.seen == #"{"epoch":0,"position":0.3}"#)
        // A causally later write may move it back (the user scrolled back).
        history.write(Self.a, "progress", .object(["epoch": 0, "position": 0.2]), seen: [Self.b: 1], at: 100)
        #expect(violations(history, [article(updatedAt: 1000) { $0.progress = ReadingProgress(epoch: 0, position: 0.2) }]).isEmpty)
    }

    @Test func aHighlightKeepsAConcurrentlyDeletedArticle() {
        var history = History.saved()
        history.write(Self.b, "deleted", .bool(true), seen: [Self.a: 3], at: 2000)
        let highlight = EntityRef.highlight("\(Self.id.rawValue)/01")
        history.write(Self.a, "quote", .string("quote"), seen: [:], at: 1500, entity: highlight)
        // Without the highlight the article is gone; with it, it stays.
        #expect(Oracle(writes: history.writes.filter { $0.entity.type == "article" }).expected().isEmpty)
        let wrong = violations(history, [])
        #expect(wrong.count == 1 && wrong.first?.field == "visible" && wrong.first?.expected == "shown" && wrong.first?.seen == "not shown")
        let right = article(updatedAt: 2000) { $0.highlights = [Highlight(id: "\(Self.id.rawValue)/01", articleID: Self.id, quote: "quote")] }
        #expect(violations(history, [right]).isEmpty)
    }

    @Test func aConcurrentSaveBeatsADeleteButAnEditTheDeleterSawDoesNot() {
        var history = History.saved()
        history.write(Self.a, "title", .string("Seen"), seen: [:], at: 1100)  // a:4
        history.write(Self.b, "deleted", .bool(true), seen: [Self.a: 4], at: 2000)
        #expect(violations(history, []).isEmpty, "an edit the deleter had seen stays deleted")
        #expect(violations(history, [article(updatedAt: 2000) { $0.title = "Seen" }]).map(\.expected) == ["not shown"])
        history.write(Self.a, "deleted", .bool(false), seen: [:], at: 1500)  // a saves again, concurrently
        let wrong = violations(history, [])
        #expect(wrong.map(\.field) == ["visible"] && wrong.first?.expected == "shown")
        #expect(violations(history, [article(updatedAt: 2000) { $0.title = "Seen" }]).isEmpty)
    }

    @Test func concurrentTitlesShowTheLatestAndAConflict() {
        var history = History.saved()
        history.write(Self.a, "title", .string("Phone title"), seen: [:], at: 2000)
        history.write(Self.b, "title", .string("Laptop title"), seen: [Self.a: 3], at: 3000)
        let right = article(updatedAt: 3000) {
            $0.title = "Laptop title"
            $0.conflicts = [FieldConflict(field: "title", values: ["Laptop title", "Phone title"])]
        }
        #expect(violations(history, [right]).isEmpty)
        var unlisted = right
        unlisted.conflicts = []
        #expect(violations(history, [unlisted]).map(\.field) == ["conflicts.title"])
        var lower = right
        lower.title = "Phone title"
        let wrong = violations(history, [lower])
        #expect(wrong.map(\.field) == ["title"] && wrong.first?.expected == #""Laptop title""# && wrong.first?.seen == #""Phone title""#)
    }

    @Test func addedAtIsTheEarliestAndEquivalentURLsAreNoConflict() {
        var history = History.saved()
        history.write(Self.b, "url", .string("https://EXAMPLE.com/a?utm_source=x"), seen: [:], at: 500)
        history.write(Self.b, "addedAt", .number(500), seen: [:], at: 500)
        let right = article(updatedAt: 1000) { $0.addedAt = 500 }
        #expect(violations(history, [right]).isEmpty)
        let wrong = violations(history, [article(updatedAt: 1000)])
        #expect(wrong.map(\.field) == ["addedAt"] && wrong.first?.expected == "500" && wrong.first?.seen == "1000")
    }

    @Test func aCollectedArticleIsNotExpected() {
        var history = History.saved()
        let delete = history.write(Self.b, "deleted", .bool(true), seen: [Self.a: 3], at: 2000)
        let oracle = Oracle(writes: history.writes)
        // Forgotten with its delete: nothing is expected. Forgotten without it: the write was lost.
        #expect(oracle.forgotten(held: []).count == 3)
        #expect(oracle.forgotten(held: [delete.dot]).isEmpty)
    }

    @Test func aFreshSaveAfterACollectionShowsOnlyWhatItWrote() {
        var history = History.saved()
        let old = history.write(Self.a, "title", .string("Old"), seen: [:], at: 1100)  // a:4
        history.write(Self.b, "deleted", .bool(true), seen: [Self.a: 4], at: 2000)  // collected with a:1...a:4
        // The saving device no longer knows the title, so it does not reset it; its deleted = false replaces the delete.
        let fresh = [
            history.write(Self.a, "url", .string(Self.url), seen: [Self.b: 1], at: 3000),
            history.write(Self.a, "addedAt", .number(3000), seen: [Self.b: 1], at: 3000),
            history.write(Self.a, "deleted", .bool(false), seen: [Self.b: 1], at: 3000),
        ]
        let oracle = Oracle(writes: history.writes)
        let forgotten = oracle.forgotten(held: Set(fresh.map(\.dot)))
        #expect(forgotten == [old.dot])
        let right = Article(id: Self.id, url: Self.url, normalizedURL: Self.url, addedAt: 3000, updatedAt: 3000)
        #expect(Oracle.compare(replica: "r0", shows: [right], expected: oracle.expected(forgetting: forgotten)).isEmpty)
        // Not forgotten (held nowhere, no delete that saw it missing): the title is expected.
        #expect(Oracle.compare(replica: "r0", shows: [right], expected: oracle.expected()).map(\.field) == ["title"])
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func simulatedRunsAgreeWithTheOracle(seed: UInt64) async throws {
        let report = try await Simulator.run(Simulation(seed: seed, replicas: 4, operations: 100))
        #expect(report.passed, "\(report.violations)")
        #expect(report.oracleChecks >= 2, "a quiescent point during the run, and the end")
    }
}
