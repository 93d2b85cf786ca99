import Foundation
import GRDB
import ReplicaStore
import Testing
@testable import readinglist_bench

/// The benchmark's replay of a replica's SQL (W1's "the same SQL replayed")
/// must run exactly what the replica ran: each statement as written, with
/// the arguments read back from SQLite's expanded SQL.
@Suite struct SQLTemplateTests {
    @Test func theArgumentsAreReadBackFromTheExpandedText() throws {
        let template = "INSERT INTO t2 (a, b, c, d, e, f) VALUES (?, ?, ?, ?, ?, ?) -- 'not an argument' ?"
        let expanded = "INSERT INTO t2 (a, b, c, d, e, f) VALUES ('it''s -- ?', -42, 1.5e-3, x'00ff', NULL, -9223372036854775808) -- 'not an argument' ?"
        let arguments = try SQLTemplate.arguments(template: template, expanded: expanded)
        #expect(arguments == [
            "it's -- ?".databaseValue, (-42).databaseValue, 0.0015.databaseValue, Data([0, 255]).databaseValue, .null, Int64.min.databaseValue,
        ])
    }

    @Test func literalsWrittenInTheStatementStayLiterals() throws {
        // A partial index's WHERE, a quoted name with digits, a PRAGMA's number: not arguments.
        let template = #"SELECT "col 1", t1.x2 FROM t1 WHERE kind = 'deleted' AND y = ? LIMIT 2"#
        let expanded = #"SELECT "col 1", t1.x2 FROM t1 WHERE kind = 'deleted' AND y = 'a"b' LIMIT 2"#
        #expect(try SQLTemplate.arguments(template: template, expanded: expanded) == ["a\"b".databaseValue])
        #expect(try SQLTemplate.arguments(template: "PRAGMA wal_autocheckpoint = 1000", expanded: "PRAGMA wal_autocheckpoint = 1000") == [])
    }

    @Test func textThatDoesNotLineUpIsAnError() {
        #expect(throws: BenchError.self) { try SQLTemplate.arguments(template: "SELECT ?", expanded: "SELECT 'open") }
        #expect(throws: BenchError.self) { try SQLTemplate.arguments(template: "SELECT ?", expanded: "SELECT Inf") }
        #expect(throws: BenchError.self) { try SQLTemplate.arguments(template: "SELECT 1", expanded: "SELECT 2") }
        #expect(throws: BenchError.self) { try SQLTemplate.arguments(template: "SELECT :name", expanded: "SELECT 1") }
    }

    /// A replica's own statements, recorded and replayed into a copy of the
    /// file it started from, leave the same rows, byte for byte.
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
            _ = try store.save(SaveRequest(url: "https://example.org/a?q=1", title: "It's \"quoted\" -- ?", tags: ["x", "y"]))
            _ = try store.save(SaveRequest(url: "https://example.org/b", title: "B"))
            _ = try store.edit("https://example.org/a?q=1", ["title": .string("Renamed, 'again'")])
            try store.delete("https://example.org/b")
        }
        let expected = try store.articles().map { "\($0.id) \(String(describing: $0.title)) \($0.tags)" }
        try store.close()
        #expect(recording.count("work") > 0)
        let replay = try SQLRecording.target(copying: start, to: folder + "/replay.sqlite")
        try replay.writeWithoutTransaction { try recording.replay("work", $0) }
        let recordedContents = try DatabaseQueue(path: recorded).read(SQLRecording.contentDigest)
        #expect(try replay.read(SQLRecording.contentDigest) == recordedContents)
        try replay.close()
        let replayed = try ReplicaStore.open(path: folder + "/replay.sqlite", create: false)
        defer { try? replayed.close() }
        #expect(try replayed.articles().map { "\($0.id) \(String(describing: $0.title)) \($0.tags)" } == expected)
        #expect(try replayed.checkInvariants().isEmpty)
    }
}
