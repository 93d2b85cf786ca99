import Foundation
import GRDB
@testable import SyncServerCore
import Synchronization
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


@Suite("Blocking pool")
struct BlockingPoolTests {
    /// The point of the pool: blocked work (a write waiting for its fsync)
    /// does not hold the rest back. Twelve jobs that each wait until all
    /// twelve have started can only finish if twelve run at once, far more
    /// than the cores of the machines this runs on.
    final class Count: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var current: Int { value.withLock { $0 } }

        /// Waits (without blocking a thread of the test's cooperative pool) until the count reaches `target`, or 20 s.
        func reaches(_ target: Int) async throws -> Int {
            let deadline = ContinuousClock.now + .seconds(20)
            while current < target && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            return current
        }
    }

    @Test func runsMoreBlockedJobsAtOnceThanThereAreCores() async throws {
        let pool = BlockingPool(threads: 12)
        defer { pool.stop() }
        let started = Count(), finished = Count()
        let release = DispatchSemaphore(value: 0)
        for _ in 0..<12 {
            pool.submit {
                started.add()
                release.wait()
                finished.add()
            }
        }
        #expect(try await started.reaches(12) == 12)
        for _ in 0..<12 { release.signal() }
        #expect(try await finished.reaches(12) == 12)
    }

    /// Every job runs once, also when far more are queued than there are
    /// threads (the queue compacts itself while it never empties).
    @Test func runsEveryJobOnceUnderABacklog() async throws {
        let pool = BlockingPool(threads: 3)
        defer { pool.stop() }
        let ran = Count()
        let seen = Mutex(Set<Int>())
        for index in 0..<5_000 {
            pool.submit {
                seen.withLock { _ = $0.insert(index) }
                ran.add()
            }
        }
        #expect(try await ran.reaches(5_000) == 5_000)
        #expect(seen.withLock { $0.count } == 5_000)
    }

    /// `offload` returns each job's own result and maps its errors.
    @Test func offloadReturnsResultsAndErrors() async throws {
        let values = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<100 { tasks.addTask { try await offload { index * 2 } } }
            return try await tasks.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values.sorted() == (0..<100).map { $0 * 2 })
        await #expect(throws: ServerError.self) {
            try await offload { () throws -> Int in throw ServerError.storage("disk gone") }
        }
    }
}
