import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// A replica file at an older schema `version` (up to migration "v\(version)"),
/// holding the live log of `source` one change per row (as every schema
/// before 3 wrote it; saves only, so the log needs no replaced ranges) and
/// its articles materialised there, as a build of that version left them:
/// the article and tag rows only (the search index came with schema 6).
/// The one builder of old files for the migration tests below.
private func oldReplicaFile(at path: String, version: Int, from source: ReplicaStore) throws {
    let changes = try source.liveChanges()
    let queue = try DatabaseQueue(path: path)
    defer { try? queue.close() }
    try Schema.migrator.migrate(queue, upTo: "v\(version)")
    try queue.write { db in
        for (key, value) in [
            ("format", Schema.format), ("schema_version", String(version)), ("replica_id", source.replicaID.rawValue),
            ("knowledge", try source.knowledge().compactText), ("hlc", String(changes.map(\.hlc.rawValue).max() ?? 0)),
            ("seq", String(changes.count)),
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
        try materializeAsOldSchema(changes, db)
    }
}

/// Writes the article and tag rows of the articles `changes` are about, as
/// a build before schema 6 materialised them (no search text: a file at such
/// a schema has no table for it, and this build's materialiser requires one).
func materializeAsOldSchema(_ changes: [Change], _ db: Database) throws {
    for (id, articleChanges) in Dictionary(grouping: changes, by: { $0.entity.articleID! }) {
        let prepared = Materializer.prepare(id, changes: articleChanges)
        try db.execute(
            sql: "INSERT INTO article (id, \(Materializer.columns.joined(separator: ", "))) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: StatementArguments([id.rawValue.databaseValue] + prepared.values))
        for tag in prepared.tags {
            try db.execute(sql: "INSERT INTO article_tag (article_id, tag) VALUES (?, ?)", arguments: [id.rawValue, tag])
        }
    }
}

/// Schema 5 keeps the materialised articles in a rowid table, their id in a
/// unique index (schema 4: a WITHOUT ROWID table keyed by id).
@Suite("The article table of schema 5")
struct ArticleTableMigrationTests {
    @Test func aVersion4FileKeepsEveryArticleAndItsTags() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("v4-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("replica.sqlite").path
        let source = try ReplicaStore.inMemory(replicaID: replicaID(1))
        try source.save((0..<40).map { SaveRequest(url: "https://example.com/\($0)", title: "Title \($0)", tags: $0 % 3 == 0 ? ["x", "y\($0 % 2)"] : []) })
        let expected = try source.articles()
        try oldReplicaFile(at: path, version: 4, from: source)
        try DatabaseQueue(path: path).read { db in
            let table = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'article'") ?? ""
            #expect(table.contains("WITHOUT ROWID"))
        }

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
        #expect(try store.searchIndexProblems() == [])
        try store.close()
        let raw = try DatabaseQueue(path: path)
        defer { try? raw.close() }
        #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "INSERT INTO article SELECT * FROM article LIMIT 1") }
        }
    }
}

/// Schema 6 adds the search index, filled from the articles already there;
/// schema 7 has the materialiser write the FTS5 index itself (no triggers on
/// `article_text`).
@Suite("The search index of schemas 6 and 7")
struct SearchMigrationTests {
    /// The news page of the ReadableText fixtures (copied from a browser, clutter included).
    func newsPage() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ReadableTextTests/Fixtures/putin-security-guarantees.txt")
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func aVersion5FileGetsItsIndex() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("v5-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("replica.sqlite").path
        let source = try ReplicaStore.inMemory(replicaID: replicaID(1))
        try source.save((0..<30).map { SaveRequest(url: "https://example.com/\($0)", title: "Title \($0)", tags: $0 % 3 == 0 ? ["third"] : []) })
        try source.save(SaveRequest(url: "https://example.com/news", content: try newsPage()))
        let expected = try source.articles()
        try oldReplicaFile(at: path, version: 5, from: source)
        try DatabaseQueue(path: path).write { db in
            #expect(try !db.tableExists("article_text"))
            // The materialiser needs the index the migration creates: without it, writing the text fails (it is not skipped).
            let changes = try source.liveChanges().filter { $0.entity.articleID == expected[0].id }
            var inserts = RawInserts(db)
            #expect(throws: DatabaseError.self) { try SearchIndex.write(Materializer.prepare(expected[0].id, changes: changes), &inserts, known: false) }
        }

        let store = try ReplicaStore.open(path: path)
        #expect(try store.articles() == expected)
        #expect(try store.searchIndexProblems() == [])
        #expect(try store.search("title", limit: 100).count == 30)
        #expect(try store.search("#third").count == 10)
        #expect(try store.search("Crimea").map(\.article.url) == ["https://example.com/news"])
        #expect(try store.readableText("https://example.com/news")?.hasPrefix("MOSCOW (AP)") == true)
        #expect(try store.checkInvariants() == [])
        try store.read { db in
            let triggers = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            #expect(triggers == ["article_gone"])
        }
        // Writing goes on, in step.
        try store.edit("https://example.com/3", [Fields.title: "Renamed after the migration"])
        try store.delete("https://example.com/news")
        #expect(try store.search("renamed").count == 1)
        #expect(try store.search("Crimea").isEmpty)
        #expect(try store.searchIndexProblems() == [])
        try store.close()
    }

    /// An article row deleted outright (by any SQLite client) takes its text
    /// and its index entries with it, through the one trigger left.
    @Test func aDeletedArticleRowLeavesNothingInTheIndex() throws {
        let store = try ReplicaStore.inMemory(replicaID: replicaID(1))
        try store.save((0..<5).map { SaveRequest(url: "https://example.com/\($0)", title: "Harbour \($0)") })
        let gone = try store.article("https://example.com/2").id.rawValue
        try store.writer.write { db in try db.execute(sql: "DELETE FROM article WHERE id = ?", arguments: [gone]) }
        #expect(try store.search("harbour").count == 4)
        try store.read { db in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM article_text") == 4)
            try db.execute(sql: "INSERT INTO article_search (article_search, rank) VALUES ('integrity-check', 1)")
        }
    }
}
