import AsyncHTTPClient
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol

/// A list of `size` articles on a real server process: replica A wrote it
/// and pushed it; replica B pulled it (the initial sync, as a user runs it).
struct SyncedList {
    var size: Int
    var server: ServerProcess
    var database: String
    var token: String
    var a: ReplicaStore
    var b: ReplicaStore
    /// Seconds for A to write the list, and to push it.
    var writeSeconds: Double
    var pushSeconds: Double
    /// B's initial sync: the `readinglist sync` process, end to end.
    var initialSync: ChildResult
    /// The server's peak resident memory while serving B's initial sync (it was restarted just before).
    var serverPeakKiB: Int
    /// The first snapshot after the push (the server materialises the whole
    /// list first): seconds, and bytes on the wire.
    var coldSnapshotSeconds: Double
    var snapshotBytes: Int
    /// The same initial sync page by page (`--no-snapshot`), when asked for.
    var pagedSync: ChildResult?
}

/// Writes back everything the set-up left dirty (`sync(2)`), so that a timed
/// step's own fsync does not wait behind it.
func flushFileSystem() {
    sync()
}

enum SyncBenchmarks {
    static let pageSize = 5000

    static func makeList(size: Int, folder: WorkFolder, report: Report, initialSync: Bool = true, paged: Bool = false) async throws -> SyncedList {
        let database = folder.file("server-\(size).sqlite")
        let token = try ServerProcess.addUser("bench", database: database, folder: folder)
        var server = try ServerProcess(database: database)
        let a = try ReplicaStore.open(path: folder.file("a-\(size).sqlite"))
        var generator = ArticleGenerator(seed: UInt64(size))
        let writeSeconds = try seconds {
            var done = 0
            while done < size {
                let count = min(10_000, size - done)
                try a.save((done..<(done + count)).map { generator.article($0) })
                done += count
            }
        }.1
        report.note("\(size) articles: written in \(String(format: "%.1f", writeSeconds)) s; pushing to the server")
        let transport = HTTPSyncTransport(server: server.url, token: token)
        let pushSeconds = try await seconds {
            _ = try await ServerSync(pageSize: pageSize).run(store: a, transport: transport, partner: server.url)
        }.1
        report.note("\(size) articles: pushed in \(String(format: "%.1f", pushSeconds)) s; a first snapshot")
        // The first snapshot after a bulk push: the server materialises the whole list
        // first (in the background, answering "retry" meanwhile), then copies it: what
        // a device joining seconds after the push waits for, until its replica is made.
        let cold = folder.file("cold-\(size).sqlite")
        let before = transport.traffic.received
        let poll = InitialSnapshot.Waiting(retryPolicy: RetryPolicy(maxAttempts: 100_000, baseDelay: .milliseconds(200), maxDelay: .milliseconds(200)))
        let (made, coldSnapshotSeconds) = try await seconds {
            try await InitialSnapshot.create(at: cold, transport: transport, partner: server.url, waiting: poll)
        }
        let snapshotBytes = transport.traffic.received - before
        await transport.shutdown()
        let held = try made?.knowledge()
        try made?.close()
        ReplicaStore.removeFiles(at: cold)
        guard held == (try a.knowledge()) else { throw BenchError("the first snapshot holds \(String(describing: held)), not A's knowledge") }
        report.note("\(size) articles: first snapshot in \(String(format: "%.2f", coldSnapshotSeconds)) s (\(snapshotBytes / 1_048_576) MB); initial sync of an empty replica")
        // A fresh server process, so that its peak memory is the initial sync's.
        server.stop()
        server = try ServerProcess(database: database)
        let bPath = folder.file("b-\(size).sqlite")
        guard initialSync else {
            return SyncedList(
                size: size, server: server, database: database, token: token, a: a, b: try ReplicaStore.open(path: bPath), writeSeconds: writeSeconds,
                pushSeconds: pushSeconds, initialSync: ChildResult(status: 0, output: "", seconds: 0, peakKiB: 0), serverPeakKiB: 0,
                coldSnapshotSeconds: coldSnapshotSeconds, snapshotBytes: snapshotBytes)
        }
        // Timed on an idle disk (the set-up leaves hundreds of megabytes to write
        // back, which the sync's own fsync would wait behind), and at W2's size
        // three times (new files each), the median kept.
        var runs: [ChildResult] = []
        for run in 0..<(paged ? 3 : 1) {
            let path = run == 0 ? bPath : folder.file("b\(run)-\(size).sqlite")
            flushFileSystem()
            runs.append(try runChild(
                try Executables.path("readinglist"), ["sync", "--db", path, "--server", server.url, "--token", token],
                outputFile: folder.file("b-\(size).out")))
            if run > 0 { ReplicaStore.removeFiles(at: path) }
        }
        let initial = runs.sorted { $0.seconds < $1.seconds }[runs.count / 2]
        for run in runs where run.status != 0 || !run.output.contains("started from the server's snapshot") {
            throw BenchError("initial sync failed or did not use the snapshot: \(run.output)")
        }
        let serverPeak = server.peakKiB
        let b = try ReplicaStore.open(path: bPath, create: false)
        let count = try b.status().visibleArticles
        guard count == size else { throw BenchError("initial sync: \(count) articles arrived, not \(size)") }
        report.note("\(size) articles: initial sync in \(runs.map { String(format: "%.2f", $0.seconds) }.joined(separator: ", ")) s")
        var pagedSync: ChildResult?
        if paged {
            let pPath = folder.file("p-\(size).sqlite")
            flushFileSystem()
            let result = try runChild(
                try Executables.path("readinglist"),
                ["sync", "--db", pPath, "--server", server.url, "--token", token, "--no-snapshot"],
                outputFile: folder.file("p-\(size).out"))
            guard result.status == 0 else { throw BenchError("paged initial sync failed: \(result.output)") }
            let pagedReplica = try ReplicaStore.open(path: pPath, create: false)
            guard try pagedReplica.articles(includeContent: true) == b.articles(includeContent: true) else {
                throw BenchError("the paged initial sync and the snapshot made different lists")
            }
            try pagedReplica.close()
            report.note("\(size) articles: initial sync page by page in \(String(format: "%.2f", result.seconds)) s")
            pagedSync = result
        }
        return SyncedList(
            size: size, server: server, database: database, token: token, a: a, b: b, writeSeconds: writeSeconds,
            pushSeconds: pushSeconds, initialSync: initial, serverPeakKiB: serverPeak,
            coldSnapshotSeconds: coldSnapshotSeconds, snapshotBytes: snapshotBytes, pagedSync: pagedSync)
    }

    /// W3: 100 single-field edits on A, pushed (A's sync) then pulled (B's
    /// sync), each timed end to end; one delta per list in turn, `repetitions`
    /// rounds, the medians returned in the order of `lists`.
    static func deltas(
        _ lists: [SyncedList], changes: Int, repetitions: Int, report: Report
    ) async throws -> [(up: Double, down: Double, upBytes: Int, downBytes: Int)] {
        var timers: [DeltaTimer] = []
        defer { for transport in timers.map(\.transport) { Task { await transport.shutdown() } } }
        for list in lists {
            let timer = DeltaTimer(list)
            timers.append(timer)
            try await timer.warm()
        }
        report.note("timing \(repetitions) deltas of \(changes) changes on each of the lists of \(lists.map { "\($0.size)" }.joined(separator: ", ")) articles, in turn")
        for round in 0..<repetitions {
            for timer in timers { try await timer.time(round: round, changes: changes) }
        }
        return try timers.map { timer in
            guard try timer.list.a.knowledge() == timer.list.b.knowledge() else { throw BenchError("W3: A and B did not converge at \(timer.list.size)") }
            return (median(timer.ups), median(timer.downs), timer.upBytes, timer.downBytes)
        }
    }

    /// One list's deltas: its transport, the articles edited, the times so far.
    final class DeltaTimer {
        let list: SyncedList
        let transport: HTTPSyncTransport
        let sync = ServerSync(pageSize: SyncBenchmarks.pageSize)
        var ids: [ArticleID] = []
        var random: SplitMix64
        var ups: [Double] = [], downs: [Double] = []
        var upBytes = 0, downBytes = 0

        init(_ list: SyncedList) {
            self.list = list
            transport = HTTPSyncTransport(server: list.server.url, token: list.token)
            random = SplitMix64(seed: UInt64(list.size) &+ 3)
        }

        /// B's first sync with this server from this process learns nothing new; warm both.
        func warm() async throws {
            _ = try await sync.run(store: list.a, transport: transport, partner: list.server.url)
            _ = try await sync.run(store: list.b, transport: transport, partner: list.server.url)
            ids = try list.b.articles(.all).prefix(10_000).map(\.id)
        }

        func time(round: Int, changes: Int) async throws {
            var writes: [(entity: EntityRef, field: String, value: JSONValue)] = []
            // Distinct articles, so that each of the changes is live when it is sent.
            let offset = Int(random.next() % UInt64(ids.count))
            for index in 0..<changes {
                let id = ids[(offset + index) % ids.count]
                writes.append(index % 2 == 0
                    ? (.article(id), Fields.isFavorite, .bool(round % 2 == 0))
                    : (.article(id), Fields.title, .string("Renamed \(round).\(index)")))
            }
            try list.a.writeRaw(writes)
            let before = transport.traffic
            let (upReport, up) = try await seconds { try await sync.run(store: list.a, transport: transport, partner: list.server.url) }
            let middle = transport.traffic
            let (downReport, down) = try await seconds { try await sync.run(store: list.b, transport: transport, partner: list.server.url) }
            let after = transport.traffic
            guard upReport.pushed == changes, downReport.pulled >= changes else {
                throw BenchError("W3 at \(list.size): pushed \(upReport.pushed) and pulled \(downReport.pulled), expected \(changes)")
            }
            ups.append(up)
            downs.append(down)
            upBytes = (middle.sent + middle.received) - (before.sent + before.received)
            downBytes = (after.sent + after.received) - (middle.sent + middle.received)
        }
    }

    /// W7: bytes on the wire for an initial sync (per article) and for single-field changes (per change), counted by the HTTP transport, with and without gzip.
    static func bytes(_ list: SyncedList, changes: Int, folder: WorkFolder, report: Report) async throws {
        let naiveArticle = Double(try NaiveSync.rowsJSON(try list.b.articles(.all).prefix(1000).map(NaiveSync.Row.init)).count) / Double(min(1000, list.size))
        report.add(Measurement(
            id: "W7", name: "initial sync bytes per article, snapshot (uncompressed)", value: Double(list.snapshotBytes) / Double(list.size),
            unit: "bytes", baseline: naiveArticle, baselineName: "naive JSON row", higherIsBetter: false,
            detail: ["articles": "\(list.size)", "bytes": "\(list.snapshotBytes)"]))
        let naiveChange = Double(#"{"id":"0123456789abcdef0123456789abcdef","field":"isFavorite","value":true}"#.utf8.count)
        for compression in [false, true] {
            let label = compression ? "gzip" : "no compression"
            let transport = HTTPSyncTransport(server: list.server.url, token: list.token, compression: compression)
            let fresh = try ReplicaStore.open(path: folder.file("w7-\(list.size)-\(compression).sqlite"))
            _ = try await ServerSync().run(store: fresh, transport: transport, partner: list.server.url)
            let initial = transport.traffic
            report.add(Measurement(
                id: "W7", name: "initial sync bytes per article, page by page, \(label)", value: Double(initial.sent + initial.received) / Double(list.size),
                unit: "bytes", baseline: naiveArticle, baselineName: "naive JSON row", higherIsBetter: false,
                detail: ["articles": "\(list.size)", "round_trips": "\(initial.roundTrips)", "compression": label]))
            // Single-field changes, pushed by A in one sync, pulled by the fresh replica in another.
            _ = try await ServerSync().run(store: list.a, transport: transport, partner: list.server.url)
            let ids = try fresh.articles(.all).prefix(1000).map(\.id)
            var writes: [(entity: EntityRef, field: String, value: JSONValue)] = []
            for index in 0..<changes {
                let id = ids[index % ids.count]
                switch index % 4 {
                case 0: writes.append((.article(id), Fields.isFavorite, .bool(!compression)))
                case 1: writes.append((.article(id), Fields.isRead, .bool(!compression)))
                case 2: writes.append((.article(id), Fields.tag(compression ? "later" : "soon"), .bool(true)))
                default: writes.append((.article(id), Fields.title, .string("A renamed article \(index) \(label)")))
                }
            }
            try list.a.writeRaw(writes)
            let before = transport.traffic
            _ = try await ServerSync().run(store: list.a, transport: transport, partner: list.server.url)
            let pushed = transport.traffic
            _ = try await ServerSync().run(store: fresh, transport: transport, partner: list.server.url)
            let pulled = transport.traffic
            await transport.shutdown()
            try fresh.close()
            let up = Double((pushed.sent + pushed.received) - (before.sent + before.received)) / Double(changes)
            let down = Double((pulled.sent + pulled.received) - (pushed.sent + pushed.received)) / Double(changes)
            for (direction, value) in [("pushed", up), ("pulled", down)] {
                report.add(Measurement(
                    id: "W7", name: "bytes per single-field change, \(direction), \(label)", value: value, unit: "bytes", baseline: naiveChange,
                    baselineName: "naive JSON patch", higherIsBetter: false, target: compression ? 64 : nil,
                    targetText: compression ? "<= 64" : "(64 with compression)", detail: ["changes": "\(changes)", "compression": label]))
            }
        }
    }
}

/// The naive baseline of W2: the server sends every row as one JSON array
/// over HTTP, the client decodes it and inserts the rows into a plain table.
enum NaiveSync {
    struct Row: Codable, Sendable {
        var id: String
        var url: String
        var title: String?
        var excerpt: String?
        var tags: [String]
        var addedAt: Int64

        init(_ article: Article) {
            id = article.id.rawValue
            url = article.url
            title = article.title
            excerpt = article.excerpt
            tags = article.tags
            addedAt = article.addedAt
        }
    }

    static func rowsJSON(_ rows: [Row]) throws -> Data { try JSONEncoder().encode(rows) }

    /// Serves `rows` from an in-process Hummingbird server and syncs them into
    /// an empty plain table; returns the seconds, end to end.
    static func run(rows: [Row], folder: WorkFolder) async throws -> Double {
        let source = try RawTable(path: folder.file("naive-source.sqlite"))
        try await source.queue.write { db in
            for row in rows {
                try db.execute(
                    sql: "INSERT INTO article (id, url, title, excerpt, tags, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [row.id, row.url, row.title, row.excerpt, row.tags.joined(separator: ","), row.addedAt])
            }
        }
        let router = Router()
        router.get("rows") { _, _ -> Response in
            let rows = try source.queue.read { db in
                try GRDB.Row.fetchAll(db, sql: "SELECT id, url, title, excerpt, tags, added_at FROM article").map { row in
                    NaiveSync.Row(id: row[0], url: row[1], title: row[2], excerpt: row[3],
                                  tags: (row[4] as String).split(separator: ",").map(String.init), addedAt: row[5])
                }
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(data: try rowsJSON(rows))))
        }
        var logger = Logger(label: "naive-sync")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in NaivePort.shared.set(channel.localAddress?.port ?? 0) }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            while NaivePort.shared.value == 0 { try await Task.sleep(for: .milliseconds(10)) }
            let port = NaivePort.shared.value
            let target = try RawTable(path: folder.file("naive-target.sqlite"))
            flushFileSystem()
            let elapsed = try await seconds {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/rows"), timeout: .seconds(300))
                let body = try await response.body.collect(upTo: 1 << 30)
                let received = try JSONDecoder().decode([Row].self, from: Data(buffer: body))
                try await target.queue.write { db in
                    for row in received {
                        try db.cachedStatement(sql: "INSERT INTO article (id, url, title, excerpt, tags, added_at) VALUES (?, ?, ?, ?, ?, ?)")
                            .execute(arguments: [row.id, row.url, row.title, row.excerpt, row.tags.joined(separator: ","), row.addedAt])
                    }
                }
            }.1
            group.cancelAll()
            NaivePort.shared.set(0)
            return elapsed
        }
    }
}

extension NaiveSync.Row {
    init(id: String, url: String, title: String?, excerpt: String?, tags: [String], addedAt: Int64) {
        self.id = id
        self.url = url
        self.title = title
        self.excerpt = excerpt
        self.tags = tags
        self.addedAt = addedAt
    }
}

final class NaivePort: @unchecked Sendable {
    static let shared = NaivePort()
    private let lock = NSLock()
    private var port = 0
    var value: Int { lock.withLock { port } }
    func set(_ value: Int) { lock.withLock { port = value } }
}
