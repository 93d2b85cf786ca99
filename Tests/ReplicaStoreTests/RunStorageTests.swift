import Foundation
import GRDB
import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// How the change log keeps runs (the changes of one save) as rows.
@Suite("Runs in the change log")
struct RunStorageTests {
    let clock = ManualClock()

    func rows(_ store: ReplicaStore) throws -> Int {
        try store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM change_log") ?? 0 }
    }

    func shape(_ entries: [LogEntry]) -> [String] {
        entries.map { entry in
            switch entry {
            case let .change(change): "change \(change.dot.counter)"
            case let .run(run): "run \(run.counter)...\(run.lastCounter)"
            case let .replaced(range): "replaced \(range.from)...\(range.to)"
            }
        }
    }

    @Test func aSaveIsOneRowAndAReplacedWriteLeavesAHole() throws {
        let a = try makeReplica(1, clock: clock)
        // deleted, url, addedAt, tag:a, tag:b, title: counters 1...6.
        try a.save(SaveRequest(url: pageA, title: "T", tags: ["a", "b"]))
        #expect(try rows(a) == 1)
        #expect(try a.status().liveWrites == 6)
        #expect(shape(try a.outgoing(for: VersionVector(), limit: 100)) == ["run 1...6"])
        // Removing tag a replaces counter 4: the row keeps 1...3 and 5...6.
        clock.advance(1000)
        try a.setTags(pageA, ["a"], present: false)
        try expectSound(a)
        #expect(try a.status().liveWrites == 6)
        let all = try a.outgoing(for: VersionVector(), limit: 100)
        #expect(shape(all) == ["run 1...3", "replaced 4...4", "run 5...6", "change 7"])
        #expect(shape(try a.log().map(\.entry)) == ["change 7", "run 5...6", "replaced 4...4", "run 1...3"])

        // A replica that receives it all has the same list, its rows regrouped.
        let b = try makeReplica(2, clock: clock)
        let result = try b.apply(all)
        #expect(result.appliedChanges == 6 && result.duplicates == 0)
        try expectSound(b)
        #expect(try visibleState(b) == visibleState(a))
        #expect(try b.outgoing(for: VersionVector(), limit: 100) == all)

        // A replica that has the first two changes gets the rest of the run, then the others.
        let c = try makeReplica(3, clock: clock)
        try c.apply(Array(all.flatMap(\.expanded).prefix(2)))
        let rest = try a.outgoing(for: try c.knowledge(), limit: 100)
        #expect(shape(rest) == ["change 3", "replaced 4...4", "run 5...6", "change 7"])
        try c.apply(rest)
        try expectSound(c)
        #expect(try visibleState(c) == visibleState(a))
        // A whole run, of which the receiver knows a part: the known part counts as duplicates.
        let d = try makeReplica(4, clock: clock)
        try d.apply(Array(all.flatMap(\.expanded).prefix(2)))
        let again = try d.apply(all)
        #expect(again.appliedChanges == 4 && again.duplicates == 2)
        #expect(try visibleState(d) == visibleState(a))
    }

    @Test func aDeleteIsARowOfItsOwnAndIsCollected() throws {
        let a = try makeReplica(1, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T"))
        clock.advance(1000)
        try a.delete(pageA)
        try expectSound(a)
        guard case .change(let delete)? = try a.log().first?.entry else { Issue.record("the delete is not a single change"); return }
        #expect(delete.field == Fields.deleted && delete.value == true)
        #expect(try a.collectGarbage(horizon: a.knowledge()).count == 1)
        try expectSound(a)
        #expect(try rows(a) == 0 && a.status().liveWrites == 0)
    }

    @Test func aSaveAfterADeleteResetsInTheSameRun() throws {
        let a = try makeReplica(1, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T", tags: ["x"]))
        try a.setRead(pageA, true)
        try a.delete(pageA)
        clock.advance(1000)
        try a.save(SaveRequest(url: pageA))
        try expectSound(a)
        let article = try a.article(pageA)
        #expect(article.title == nil && article.tags.isEmpty && !article.isRead)
        // The fresh save (deleted, url, addedAt and the resets) is one run.
        guard case .run(let run)? = try a.log().first?.entry else { Issue.record("the save is not a run"); return }
        #expect(Set(run.writes.map(\.field)).isSuperset(of: [Fields.deleted, Fields.url, Fields.addedAt, Fields.title, Fields.tag("x"), Fields.isRead]))
    }

    /// The plain way to cut a row into entries, from its decoded changes (what
    /// the store did before): cut where a counter is missing, each piece of
    /// more than one change a run that `ChangeRun` checks.
    func referenceEntries(_ changes: [Change]) -> [LogEntry] {
        var entries: [LogEntry] = []
        var start = changes.startIndex
        func cut(_ end: Int) {
            let piece = changes[start..<end]
            if piece.count > 1, let run = ChangeRun(piece) { entries.append(.run(run)) } else { entries += piece.map(LogEntry.change) }
            start = end
        }
        for index in changes.indices.dropFirst() where changes[index].dot.counter != changes[index - 1].dot.counter + 1 { cut(index) }
        if start < changes.endIndex { cut(changes.endIndex) }
        return entries
    }

    @Test func aRowBecomesTheSameEntriesWithoutAContextPerChange() throws {
        // Runs with holes (replaced changes), a remote run, single changes, a delete.
        let a = try makeReplica(1, clock: clock)
        let b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T", tags: ["a", "b", "c"], note: "n", excerpt: "e"))
        try b.save(SaveRequest(url: pageB, title: "B", tags: ["x"]))
        try sync(a, b)
        _ = try a.edit(pageA, [Fields.note: "n2"])
        _ = try a.setTags(pageA, ["b"], present: false)
        _ = try b.edit(pageB, [Fields.title: "B2", Fields.note: "m"])
        try a.delete(pageB)
        try sync(a, b)
        let rows = try a.read { db in try Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns), seq FROM change_log ORDER BY seq") }
        #expect(rows.count >= 4)
        var pieces = 0
        for row in rows {
            let changes = try LogTransaction.decodeRow(row)
            for floor in [0] + changes.map({ $0.dot.counter }) + changes.map({ $0.dot.counter - 1 }) {
                let fast = try LogTransaction.entries(ofRow: row, above: floor)
                let slow = referenceEntries(changes.filter { $0.dot.counter > floor })
                #expect(fast == slow, "row \(row), floor \(floor)")
                pieces += fast.count
            }
        }
        #expect(pieces > rows.count)
    }

    @Test func theDigestOfAChangeMadeHereOutlivesItsReplacement() throws {
        let a = try makeReplica(1, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "First", tags: ["x"]))
        let digestRows = { try a.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM own_digest") ?? 0 } }
        // Live changes give their digest from their row: a save stores none.
        #expect(try digestRows() == 0)
        let first = try #require(try a.liveChanges().first { $0.field == Fields.title })
        #expect(try a.digest(at: first.dot) == first.digest)
        try a.edit(pageA, [Fields.title: "Second"])
        #expect(try !a.liveChanges().contains { $0.dot == first.dot })
        // Replaced, its digest is kept: a copy that wrote otherwise under this dot is still caught.
        #expect(try digestRows() == 1)
        #expect(try a.digest(at: first.dot) == first.digest)
        let second = try #require(try a.liveChanges().first { $0.field == Fields.title })
        #expect(try a.digest(at: second.dot) == second.digest)
        #expect(try a.heads() == [ForkCheck.Head(dot: second.dot, digest: second.digest)])
        // A dot this replica never wrote: it cannot tell.
        #expect(try a.digest(at: Dot(a.replicaID, second.dot.counter + 1)) == nil)
    }

    @Test func version4MovesKnowledgeAndKeysReplacedRangesByTheirEnd() throws {
        let (a, b) = (replicaID(1), replicaID(2))
        let queue = try DatabaseQueue()
        try Schema.migrator.migrate(queue, upTo: "v3")
        try queue.write { db in
            try db.execute(sql: "INSERT INTO version_vector (replica, counter) VALUES (?, 7), (?, 2)", arguments: [a.rawValue, b.rawValue])
            try db.execute(
                sql: "INSERT INTO replaced_range (replica, from_counter, to_counter, seq, digest) VALUES (?, 1, 3, 1, 11), (?, 5, 6, 4, 22)",
                arguments: [a.rawValue, a.rawValue])
        }
        try Schema.migrator.migrate(queue)
        try queue.read { db in
            #expect(try LogTransaction.readKnowledge(db) == VersionVector([a: 7, b: 2]))
            #expect(try !db.tableExists("version_vector"))
            let rows = try Row.fetchAll(db, sql: "SELECT from_counter, to_counter, seq, digest FROM replaced_range WHERE replica = ? ORDER BY to_counter", arguments: [a.rawValue])
            #expect(rows.map { [$0[0], $0[1], $0[2], $0[3]] as [Int64] } == [[1, 3, 1, 11], [5, 6, 4, 22]])
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'replaced_range'") == 0)
        }
    }

    @Test func aVersion2FileIsMigratedWithItsChangesIntact() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rl-v2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("replica.sqlite").path
        // A file as version 2 wrote it: one row per change.
        let me = replicaID(1)
        let id = ArticleID(url: try NormalizedURL(pageA))
        let entity = EntityRef.article(id)
        var changes: [Change] = []
        for (index, (field, value)) in [(Fields.deleted, JSONValue.bool(false)), (Fields.url, .string(pageA)), (Fields.title, .string("Old"))].enumerated() {
            let counter = UInt64(index + 1)
            changes.append(Change(
                dot: Dot(me, counter), entity: entity, field: field, value: value,
                context: counter == 1 ? VersionVector() : VersionVector([me: counter - 1]), hlc: HLC(rawValue: 1000 + counter)))
        }
        let queue = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(queue, upTo: "v2")
        try queue.write { db in
            for (key, value) in [("format", Schema.format), ("schema_version", "2"), ("replica_id", me.rawValue), ("hlc", "1003"), ("seq", "3")] {
                try db.execute(sql: "INSERT INTO replica_meta (key, value) VALUES (?, ?)", arguments: [key, value])
            }
            try db.execute(sql: "INSERT INTO version_vector (replica, counter) VALUES (?, 3)", arguments: [me.rawValue]) // moved by v4
            for (index, change) in changes.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO change_log (seq, replica, counter, entity_type, entity_id, field, value, context, hlc, article_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [index + 1, me.rawValue, Int64(change.dot.counter), entity.type, entity.id, change.field,
                                change.value.canonicalText, change.context.compactText, Int64(change.hlc.rawValue), id.rawValue])
                try db.execute(sql: "INSERT INTO own_digest (counter, digest) VALUES (?, ?)", arguments: [Int64(change.dot.counter), Int64(bitPattern: change.digest)])
            }
            try materializeAsOldSchema(changes, db)
        }
        try queue.close()

        let store = try ReplicaStore.open(path: path, now: clock.source())
        #expect(try store.checkInvariants() == [])
        #expect(try store.knowledge() == VersionVector([me: 3]))
        #expect(try store.liveChanges() == changes)
        #expect(try store.article(pageA).title == "Old")
        #expect(try store.heads() == [ForkCheck.Head(dot: Dot(me, 3), digest: changes[2].digest)])
        // It goes on writing runs; the old rows stay single changes.
        try store.edit(pageA, [Fields.title: "New", Fields.note: "n"])
        #expect(try store.checkInvariants() == [])
        #expect(shape(try store.outgoing(for: VersionVector(), limit: 10)) == ["change 1", "change 2", "replaced 3...3", "run 4...5"])
        try store.close()
    }
}
