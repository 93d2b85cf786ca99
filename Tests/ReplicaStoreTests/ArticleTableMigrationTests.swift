import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// Schema 5 keeps the materialised articles in a rowid table, their id in a
/// unique index (schema 4: a WITHOUT ROWID table keyed by id).
@Suite("The article table of schema 5")
struct ArticleTableMigrationTests {
    @Test func aVersion4FileKeepsEveryArticleAndItsTags() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("v4-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("replica.sqlite").path
        // The articles, as a replica of this version writes them (saves only:
        // every change stays live, so the log below needs no replaced ranges).
        let source = try ReplicaStore.inMemory(replicaID: replicaID(1))
        try source.save((0..<40).map { SaveRequest(url: "https://example.com/\($0)", title: "Title \($0)", tags: $0 % 3 == 0 ? ["x", "y\($0 % 2)"] : []) })
        let changes = try source.liveChanges()
        let expected = try source.articles()
        // The same log in a file at schema 4, one change per row, its articles materialised there.
        let queue = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(queue, upTo: "v4")
        try queue.write { db in
            let knowledge = try source.knowledge()
            for (key, value) in [
                ("format", Schema.format), ("schema_version", "4"), ("replica_id", replicaID(1).rawValue),
                ("knowledge", knowledge.compactText), ("hlc", String(changes.map(\.hlc.rawValue).max() ?? 0)), ("seq", String(changes.count)),
            ] {
                try db.execute(sql: "INSERT OR REPLACE INTO replica_meta (key, value) VALUES (?, ?)", arguments: [key, value])
            }
            for (index, change) in changes.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO change_log (seq, replica, counter, entity_type, entity_id, field, value, context, hlc, article_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [index + 1, change.dot.replica.rawValue, Int64(change.dot.counter), change.entity.type, change.entity.id,
                                change.field, change.value.canonicalText, change.context.compactText, Int64(change.hlc.rawValue),
                                change.entity.articleID?.rawValue])
            }
            for (id, articleChanges) in Dictionary(grouping: changes, by: { $0.entity.articleID! }) {
                try Materializer.rematerialize(id, changes: articleChanges, db)
            }
            let table = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'article'") ?? ""
            #expect(table.contains("WITHOUT ROWID"))
        }
        try queue.close()

        let store = try ReplicaStore.open(path: path)
        let violations = try store.checkInvariants()
        #expect(violations == [])
        #expect(try store.articles() == expected)
        #expect(try store.articles(.tag("x")).count == 14)
        try store.read { db in
            let table = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'article'") ?? ""
            #expect(!table.contains("WITHOUT ROWID"))
            #expect(try Meta.get("schema_version", db) == String(Schema.version))
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT visible FROM article WHERE id = ?", arguments: ["a"])
                .map { $0["detail"] as String }.joined(separator: "; ")
            #expect(plan.contains("USING INDEX article_id"), "\(plan)")
        }
        // Writing goes on: a new save, an edit and a delete of migrated articles; a duplicate id is refused by the unique index.
        try store.save(SaveRequest(url: "https://example.com/new", title: "New"))
        try store.edit("https://example.com/1", [Fields.title: "Edited after the migration"])
        try store.delete("https://example.com/3")
        #expect(try store.article("https://example.com/1").title == "Edited after the migration")
        #expect(try store.articles().count == expected.count)
        #expect(try store.articles(.tag("x")).count == 13)
        #expect(try store.checkInvariants() == [])
        try store.close()
        let raw = try DatabaseQueue(path: path)
        defer { try? raw.close() }
        #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "INSERT INTO article SELECT * FROM article LIMIT 1") }
        }
    }
}
