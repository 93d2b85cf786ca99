import Foundation
import GRDB
@testable import SyncServer
import Testing

@Suite("Group commit")
struct GroupCommitTests {
    func pool() throws -> (DatabasePool, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rl-gc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: folder + "/db.sqlite")
        try pool.write { db in try db.execute(sql: "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)") }
        return (pool, folder)
    }

    @Test func concurrentWritesAllLand() async throws {
        let (pool, folder) = try pool()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let group = GroupCommit(pool)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<200 {
                tasks.addTask {
                    try await group.write { db in try db.execute(sql: "INSERT INTO item (name) VALUES (?)", arguments: ["n\(index)"]) }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM item") } == 200)
    }

    @Test func aFailingWriteFailsOnlyItsOwnCaller() async throws {
        let (pool, folder) = try pool()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let group = GroupCommit(pool)
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { tasks in
            for index in 0..<40 {
                tasks.addTask {
                    do {
                        // Every tenth write breaks the UNIQUE constraint.
                        let name = index % 10 == 9 ? "n0" : "n\(index)"
                        try await group.write { db in try db.execute(sql: "INSERT INTO item (name) VALUES (?)", arguments: [name]) }
                        return (index, true)
                    } catch {
                        return (index, false)
                    }
                }
            }
            return try await tasks.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes.filter { !$0.value }.keys.sorted() == [9, 19, 29, 39])
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM item") } == 36)
    }
}

