import Foundation
import GRDB
import ReplicaStore
import Testing
@testable import readinglist_bench

/// The benchmark's replay of a replica's SQL (W1's "the same SQL replayed")
/// must run exactly what the replica ran: SQLite's expanded SQL turned back
/// into a statement with parameters and the same arguments.
@Suite struct SQLTemplateTests {
    @Test func literalsBecomeParameters() throws {
        let (sql, arguments) = try SQLTemplate.parameterize(
            "INSERT INTO t2 (a, b, c, d, e) VALUES ('it''s', -42, 1.5e-3, x'00ff', NULL) -- 'not a literal' 7")
        #expect(sql == "INSERT INTO t2 (a, b, c, d, e) VALUES (?, -?, ?, ?, NULL) -- 'not a literal' 7")
        #expect(arguments == ["it's".databaseValue, 42.databaseValue, 0.0015.databaseValue, Data([0, 255]).databaseValue])
    }

    @Test func identifiersAndQuotedNamesStayAsWritten() throws {
        let (sql, arguments) = try SQLTemplate.parameterize(#"SELECT "col 1", t1.x2 FROM "t""3" WHERE y = 'a"b' LIMIT 10"#)
        #expect(sql == #"SELECT "col 1", t1.x2 FROM "t""3" WHERE y = ? LIMIT ?"#)
        #expect(arguments == ["a\"b".databaseValue, 10.databaseValue])
    }

    @Test func theSmallestIntegerIsKeptAsWritten() throws {
        let (sql, arguments) = try SQLTemplate.parameterize("SELECT -9223372036854775808")
        #expect(sql == "SELECT -9223372036854775808")
        #expect(arguments.isEmpty)
    }

    @Test func anUnterminatedStringIsAnError() {
        #expect(throws: BenchError.self) { try SQLTemplate.parameterize("SELECT 'open") }
    }

    /// A replica's own statements, recorded and replayed into a copy of the
    /// file it started from, leave the same rows.
    @Test func aRecordedWorkloadReplaysToTheSameRows() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sql-replay-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let recorded = folder + "/recorded.sqlite", start = folder + "/start.sqlite"
        try ReplicaStore.open(path: recorded).close()
        try FileManager.default.copyItem(atPath: recorded, toPath: start)
        var recording = SQLRecording()
        let store = try ReplicaStore.open(path: recorded)
        try recording.record("work", store) {
            _ = try store.save(SaveRequest(url: "https://example.org/a?q=1", title: "It's \"quoted\"", tags: ["x", "y"]))
            _ = try store.save(SaveRequest(url: "https://example.org/b", title: "B"))
            _ = try store.edit("https://example.org/a?q=1", ["title": .string("Renamed, 'again'")])
        }
        let expected = try store.articles().map { "\($0.id) \(String(describing: $0.title)) \($0.tags)" }
        try store.close()
        #expect(recording.count("work") > 0)
        let replay = try SQLRecording.target(copying: start, to: folder + "/replay.sqlite")
        try replay.writeWithoutTransaction { try recording.replay("work", $0) }
        try replay.close()
        let replayed = try ReplicaStore.open(path: folder + "/replay.sqlite", create: false)
        defer { try? replayed.close() }
        #expect(try replayed.articles().map { "\($0.id) \(String(describing: $0.title)) \($0.tags)" } == expected)
        #expect(try replayed.checkInvariants().isEmpty)
    }
}
