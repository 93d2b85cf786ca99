import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// The lookups on every edit and sync must search an index, never read the
/// list: SQLite chooses the plan, so the plans are checked.
@Suite("Query plans")
struct QueryPlanTests {
    func plan(_ store: ReplicaStore, _ sql: String, _ arguments: StatementArguments) throws -> String {
        try store.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }.joined(separator: "; ")
        }
    }

    @Test func resolvingAnIDPrefixSearchesTheIDIndex() throws {
        let store = try ReplicaStore.inMemory()
        try store.save((0..<300).map { SaveRequest(url: "https://example.com/\($0)") })
        let plan = try plan(store, ReplicaStore.prefixLookup, ["abcd", "abcdg"])
        #expect(plan.contains("USING INDEX article_id") || plan.contains("USING COVERING INDEX article_id"), "\(plan)")
        #expect(!plan.contains("article_listing"), "\(plan)")
        // An article by its id (every edit, every re-materialisation): the same index.
        let byID = try self.plan(store, "SELECT visible FROM article WHERE id = ?", ["abcd"])
        #expect(byID.contains("INDEX article_id (id=?)"), "\(byID)")
        // And it finds what it should.
        let some = try #require(try store.articles().first)
        #expect(try store.resolve(String(some.id.rawValue.prefix(6))) == some.id)
        #expect(try store.resolve(some.id.rawValue) == some.id)
        // Pasted with a newline, in capitals: the same article.
        #expect(try store.resolve(some.id.rawValue.uppercased() + "\n") == some.id)
        #expect(try store.resolve(" " + String(some.id.rawValue.prefix(8)) + "\t") == some.id)
    }

    @Test func thePassDeletesTheTagsOfForgottenArticlesByTheirIndexNotByReadingTheList() throws {
        let store = try ReplicaStore.inMemory()
        try store.save((0..<300).map { SaveRequest(url: "https://example.com/\($0)", tags: ["t\($0 % 5)"]) })
        for bounded in [false, true] {
            let plan = try plan(store, ReplicaStore.orphanTagDeletion(bounded), bounded ? ["a", "b"] : ["a"])
            #expect(plan.contains("article_tag_article"), "\(plan)")
            #expect(!plan.contains("article_listing") && !plan.contains("SCAN"), "\(plan)")
        }
    }

    @Test func anArticlesLiveChangesAreFoundByItsIndex() throws {
        let store = try ReplicaStore.inMemory()
        try store.save((0..<300).map { SaveRequest(url: "https://example.com/\($0)") })
        let plan = try plan(store, "SELECT \(LogTransaction.columns), seq FROM change_log WHERE article_id = ? ORDER BY seq", ["x"])
        #expect(plan.contains("change_log_article"), "\(plan)")
    }
}
