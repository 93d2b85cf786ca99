import Foundation
import GRDB
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore

/// The plain way to store the same rows: one table, no change log, through
/// the same SQLite library with the same settings as a replica (a file in WAL mode).
struct RawTable {
    let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE article (
                    id TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL, title TEXT, excerpt TEXT, tags TEXT NOT NULL,
                    added_at INTEGER NOT NULL, is_read INTEGER NOT NULL DEFAULT 0, is_favorite INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID
                """)
        }
    }

    static func insert(_ row: RawRow, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO article (id, url, title, excerpt, tags, added_at) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [row.id, row.url, row.title, row.excerpt, row.tags, row.addedAt])
    }

    static func updateTitle(_ id: String, _ title: String, _ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE article SET title = ? WHERE id = ?").execute(arguments: [title, id])
    }
}

struct RawRow {
    var id: String
    var url: String
    var title: String?
    var excerpt: String?
    var tags: String
    var addedAt: Int64

    init(_ request: SaveRequest) throws {
        id = ArticleID(url: try NormalizedURL(request.url)).rawValue
        url = request.url
        title = request.title
        excerpt = request.excerpt
        tags = request.tags.joined(separator: ",")
        addedAt = Int64(Date().timeIntervalSince1970 * 1000)
    }
}

/// W1's work: articles saved one per transaction, then single-field edits of
/// them, then a batch saved in one transaction; and the same rows for the raw table.
struct WriteWorkload {
    let singles: [SaveRequest]
    let bulk: [SaveRequest]
    let singleRows: [RawRow]
    let bulkRows: [RawRow]
    /// (index in `singles`, new title)
    let edits: [(Int, String)]

    init(perTransaction: Int, batch: Int) throws {
        var generator = ArticleGenerator(seed: 1)
        singles = (0..<perTransaction).map { generator.article($0) }
        bulk = (0..<batch).map { generator.article(perTransaction + $0) }
        singleRows = try singles.map(RawRow.init)
        bulkRows = try bulk.map(RawRow.init)
        var editRandom = SplitMix64(seed: 7)
        edits = (0..<perTransaction).map { index in (Int(editRandom.next() % UInt64(perTransaction)), "Edited title \(index)") }
    }

    /// The engine's SQL for this work (phases `single`, `edit`, `batch`),
    /// recorded on a replica of its own at `recorded`, untimed; `start` is a
    /// copy of the file that replica started from, for replays.
    func record(recorded: String, start: String) throws -> SQLRecording {
        try ReplicaStore.open(path: recorded).close()
        try FileManager.default.copyItem(atPath: recorded, toPath: start)
        var recording = SQLRecording()
        let store = try ReplicaStore.open(path: recorded)
        try recording.record("single", store) { for request in singles { try store.save(request) } }
        try recording.record("edit", store) {
            for (index, title) in edits { try store.edit(singleRows[index].id, [Fields.title: .string(title)]) }
        }
        try recording.record("batch", store) { try store.save(bulk) }
        try store.close()
        return recording
    }
}

enum LocalBenchmarks {
    /// W1: local writes with the change log against raw inserts and updates of the same rows.
    static func writes(perTransaction: Int, batch: Int, repetitions: Int, folder: WorkFolder, report: Report) throws {
        let work = try WriteWorkload(perTransaction: perTransaction, batch: batch)
        let (singles, bulk, singleRows, bulkRows, edits) = (work.singles, work.bulk, work.singleRows, work.bulkRows, work.edits)
        var rawSingle: [Double] = [], oursSingle: [Double] = []
        var rawBatch: [Double] = [], oursBatch: [Double] = []
        var rawEdit: [Double] = [], oursEdit: [Double] = []
        // The engine's SQL, recorded once (untimed) and replayed in every
        // round into a copy of the file the recording replica started from.
        let recordedPath = folder.file("w1-recorded.sqlite"), startPath = folder.file("w1-start.sqlite")
        let recording = try work.record(recorded: recordedPath, start: startPath)
        let recordedContents = try DatabaseQueue(path: recordedPath).read(SQLRecording.contentDigest)
        var replaySingle: [Double] = [], replayBatch: [Double] = [], replayEdit: [Double] = []
        for round in 0..<repetitions {
            let replay = try SQLRecording.target(copying: startPath, to: folder.file("w1-replay-\(round).sqlite"))
            let raw = try RawTable(path: folder.file("w1-raw-\(round).sqlite"))
            let store = try ReplicaStore.open(path: folder.file("w1-replica-\(round).sqlite"))
            // One per transaction.
            rawSingle.append(try seconds { for row in singleRows { try raw.queue.write { try RawTable.insert(row, $0) } } }.1)
            oursSingle.append(try seconds { for request in singles { try store.save(request) } }.1)
            replaySingle.append(try seconds { try replay.writeWithoutTransaction { try recording.replay("single", $0) } }.1)
            // Single-field edits, one per transaction.
            rawEdit.append(try seconds {
                for (index, title) in edits { try raw.queue.write { try RawTable.updateTitle(singleRows[index].id, title, $0) } }
            }.1)
            oursEdit.append(try seconds {
                for (index, title) in edits { try store.edit(singleRows[index].id, [Fields.title: .string(title)]) }
            }.1)
            replayEdit.append(try seconds { try replay.writeWithoutTransaction { try recording.replay("edit", $0) } }.1)
            // A batch in one transaction.
            rawBatch.append(try seconds { try raw.queue.write { db in for row in bulkRows { try RawTable.insert(row, db) } } }.1)
            oursBatch.append(try seconds { try store.save(bulk) }.1)
            replayBatch.append(try seconds { try replay.writeWithoutTransaction { try recording.replay("batch", $0) } }.1)
            guard try store.articles().count == perTransaction + batch else { throw BenchError("W1: the replica lost articles") }
            try store.close()
            guard try replay.read(SQLRecording.contentDigest) == recordedContents else {
                throw BenchError("W1: the replayed SQL left other rows than the replica it was recorded from")
            }
            try replay.close()
        }
        func rate(_ count: Int, _ times: [Double]) -> Double { Double(count) / median(times) }
        report.add(Measurement(
            id: "W1", name: "save, one article per transaction", value: rate(perTransaction, oursSingle), unit: "articles/s",
            baseline: rate(perTransaction, rawSingle), baselineName: "raw INSERT/s", higherIsBetter: true,
            targetText: "ratio >= 0.7", detail: ["articles": "\(perTransaction)", "repetitions": "\(repetitions)"]).withRatioTarget(0.7))
        report.add(Measurement(
            id: "W1", name: "save, \(batch) articles in one transaction", value: rate(batch, oursBatch), unit: "articles/s",
            baseline: rate(batch, rawBatch), baselineName: "raw INSERT/s", higherIsBetter: true,
            targetText: "ratio >= 0.5", detail: ["articles": "\(batch)", "repetitions": "\(repetitions)"]).withRatioTarget(0.5))
        report.add(Measurement(
            id: "W1", name: "single-field edit, one per transaction", value: rate(edits.count, oursEdit), unit: "edits/s",
            baseline: rate(edits.count, rawEdit), baselineName: "raw UPDATE/s", higherIsBetter: true,
            targetText: "ratio >= 0.7", detail: ["edits": "\(edits.count)", "repetitions": "\(repetitions)"]).withRatioTarget(0.7))
        // What the schema costs apart from the engine: its SQL replayed.
        for (phase, name, count, times, ours, raw, rawName) in [
            ("single", "save, one article per transaction", perTransaction, replaySingle, oursSingle, rawSingle, "raw INSERT/s"),
            ("batch", "save, \(batch) articles in one transaction", batch, replayBatch, oursBatch, rawBatch, "raw INSERT/s"),
            ("edit", "single-field edit, one per transaction", edits.count, replayEdit, oursEdit, rawEdit, "raw UPDATE/s"),
        ] {
            report.add(Measurement(
                id: "W1", name: "\(name): the same SQL replayed, without the engine", value: rate(count, times),
                unit: phase == "edit" ? "edits/s" : "articles/s",
                baseline: rate(count, raw), baselineName: rawName, higherIsBetter: true,
                detail: [
                    "statements": "\(recording.count(phase))",
                    "engine_vs_replay": String(format: "%.3f", median(times) / median(ours)),
                ]))
        }
    }

    /// W4: `replicas` replicas each make `edits` single-field edits offline,
    /// half on articles every replica edits, half on articles only it edits;
    /// then they merge (each with the first, twice round) and must converge.
    static func merge(replicas: Int, edits: Int, folder: WorkFolder, report: Report) throws {
        let sharedCount = max(10, edits / 10)
        let privateCount = max(10, edits / 10)
        var generator = ArticleGenerator(seed: 4)
        let base = try ReplicaStore.open(path: folder.file("w4-\(replicas)-base.sqlite"))
        let requests = (0..<(sharedCount + replicas * privateCount)).map { generator.article($0) }
        let ids = try base.save(requests).map(\.id)
        var stores: [ReplicaStore] = []
        for index in 0..<replicas {
            let store = try ReplicaStore.open(path: folder.file("w4-\(replicas)-\(index).sqlite"))
            try PeerSync.run(local: store, remote: base, pageSize: 5000)
            stores.append(store)
        }
        var random = SplitMix64(seed: 40 + UInt64(replicas))
        for (index, store) in stores.enumerated() {
            var writes: [(entity: EntityRef, field: String, value: JSONValue)] = []
            for edit in 0..<edits {
                let shared = edit % 2 == 0
                let article = shared
                    ? ids[Int(random.next() % UInt64(sharedCount))]
                    : ids[sharedCount + index * privateCount + Int(random.next() % UInt64(privateCount))]
                switch random.next() % 4 {
                case 0: writes.append((.article(article), Fields.isFavorite, .bool(random.next() % 2 == 0)))
                case 1: writes.append((.article(article), Fields.tag(ArticleGenerator.tags[Int(random.next() % 20)]), .bool(true)))
                default: writes.append((.article(article), Fields.title, .string("Title \(index).\(edit)")))
                }
                if writes.count == 500 { try store.writeRaw(writes); writes.removeAll() }
            }
            if !writes.isEmpty { try store.writeRaw(writes) }
        }
        let (moved, elapsed) = try seconds { () throws -> Int in
            var moved = 0
            for _ in 0..<2 {
                for store in stores.dropFirst() {
                    let summary = try PeerSync.run(local: store, remote: stores[0], pageSize: 1000).summary
                    moved += summary.pushedChanges + summary.pulledChanges
                }
            }
            return moved
        }
        let lists = try stores.map { try $0.articles().map { $0.jsonValue(includeContent: false).canonicalText } }
        guard lists.allSatisfy({ $0 == lists[0] }) else { throw BenchError("W4: the \(replicas) replicas did not converge") }
        let conflicts = try stores[0].conflictCount()
        // Baseline: the same number of row updates, in pages of the same size, on a plain table.
        let raw = try RawTable(path: folder.file("w4-\(replicas)-raw.sqlite"))
        let rows = try requests.map(RawRow.init)
        try raw.queue.write { db in for row in rows { try RawTable.insert(row, db) } }
        let rawElapsed = try seconds {
            var done = 0
            while done < moved {
                let page = min(1000, moved - done)
                try raw.queue.write { db in
                    for offset in 0..<page { try RawTable.updateTitle(rows[(done + offset) % rows.count].id, "Title \(done + offset)", db) }
                }
                done += page
            }
        }.1
        for store in stores { try store.close() }
        try base.close()
        report.add(Measurement(
            id: "W4", name: "merge \(replicas) replicas x \(edits) edits (half shared)", value: Double(moved) / elapsed, unit: "changes/s",
            baseline: Double(moved) / rawElapsed, baselineName: "raw UPDATE/s", higherIsBetter: true,
            detail: ["seconds": String(format: "%.3f", elapsed), "changes_applied": "\(moved)", "articles_with_conflicts": "\(conflicts)",
                     "converged": "yes"]))
    }
}

extension Measurement {
    /// A target stated as a ratio to the baseline.
    func withRatioTarget(_ ratio: Double) -> Measurement {
        var copy = self
        copy.target = (baseline ?? 0) * ratio
        return copy
    }
}
