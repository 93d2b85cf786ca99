import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import Synchronization

/// W8, the latency half: two replicas in files, each kept in sync by a
/// `LiveSync` with the server's push channel, one real server process over
/// loopback. Timed: from an edit committed on replica A to the list value the
/// observation API delivers on replica B with that edit in it (A's push after
/// its push delay, the server's notice, B's pull, B's observation fetch).
/// Beside it, in the same run: one plain sync round with nothing to move
/// (one `POST /v1/sync`) from a third replica.
enum LiveBenchmark {
    static func latency(size: Bench.Size, folder: WorkFolder, report: Report) async throws {
        let (articles, edits) = switch size {
        case .tiny: (50, 20)
        case .small: (200, 100)
        case .full: (500, 300)
        }
        let database = folder.file("live-server.sqlite")
        let token = try ServerProcess.addUser("live", database: database, folder: folder)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let address = try ServerAddress(validating: server.url)
        let transport = HTTPSyncTransport(address: address, token: token)
        do {
            try await measure(articles: articles, edits: edits, server: server, address: address, token: token, transport: transport, folder: folder, report: report)
        } catch {
            await transport.shutdown()
            throw error
        }
        await transport.shutdown()
    }

    static func measure(
        articles: Int, edits: Int, server: ServerProcess, address: ServerAddress, token: String, transport: HTTPSyncTransport,
        folder: WorkFolder, report: Report
    ) async throws {
        let a = try ReplicaStore.open(path: folder.file("live-a.sqlite"))
        let b = try ReplicaStore.open(path: folder.file("live-b.sqlite"))
        let c = try ReplicaStore.open(path: folder.file("live-c.sqlite"))
        defer { for store in [a, b, c] { try? store.close() } }
        var generator = ArticleGenerator(seed: 8)
        let ids = try a.save((0..<articles).map { generator.article($0) }).map(\.id)
        for store in [a, b, c] { _ = try await ServerSync().run(store: store, transport: transport, partner: server.url) }

        // The baseline: a sync round with nothing to move, timed as often as the edits.
        var roundTrips: [Double] = []
        for _ in 0..<max(edits, 20) {
            let (_, elapsed) = try await seconds { try await ServerSync().run(store: c, transport: transport, partner: server.url) }
            roundTrips.append(elapsed * 1000)
        }

        let engines = [a, b].map { store in
            let push = PushChannelClient(server: address, token: token, replica: store.replicaID)
            return LiveSync(
                store: store, transport: transport, partner: server.url,
                channel: LiveSync.channel(push, store: store))
        }
        let running = engines.map { engine in Task { await engine.run() } }
        defer { for task in running { task.cancel() } }
        for engine in engines {
            for await state in engine.states() where state == .idle { break }
        }
        let arrivals = Arrivals()
        let observer = Task {
            for try await list in b.observeArticles() { arrivals.saw(list, at: ContinuousClock.now) }
        }
        defer { observer.cancel() }
        // Both channels open and the first values delivered before anything is timed.
        try await Task.sleep(for: .milliseconds(500))

        var latencies: [Double] = []
        for index in 0..<edits {
            let id = ids[index % ids.count]
            let title = "Live edit \(index)"
            arrivals.expect(id, title)
            let start = ContinuousClock.now
            _ = try a.edit(id.rawValue, [Fields.title: .string(title)])
            guard let arrived = try await arrivals.wait(timeout: .seconds(10)) else {
                throw BenchError("W8 latency: edit \(index) never reached replica B's observation")
            }
            latencies.append((arrived - start).seconds * 1000)
            // Apart: each edit is a burst of its own (coalescing is not what is timed).
            try await Task.sleep(for: .milliseconds(20))
        }
        for task in running { task.cancel() }

        // One part of the latency on its own: B's observation fetching the list again.
        var fetches: [Double] = []
        for _ in 0..<20 { fetches.append(try seconds { try b.articles() }.1 * 1000) }
        let sortedLatencies = latencies.sorted(), sortedRoundTrips = roundTrips.sorted()
        let detail = [
            "edits": "\(edits)", "articles": "\(articles)",
            "push_delay_ms": "\(LiveSync.Configuration().pushDelay.seconds * 1000)",
            "latency_max_ms": String(format: "%.2f", sortedLatencies.last ?? 0),
            "round_trip_p99_ms": String(format: "%.2f", percentile(sortedRoundTrips, 0.99)),
            "list_fetch_p50_ms": String(format: "%.2f", percentile(fetches.sorted(), 0.5)),
        ]
        report.add(Measurement(
            id: "W8-latency", name: "edit on replica A to the new value on B's observation, through the server (p50)",
            value: percentile(sortedLatencies, 0.5), unit: "ms", baseline: percentile(sortedRoundTrips, 0.5),
            baselineName: "ms one POST /v1/sync round trip (p50)", higherIsBetter: false, target: 15, targetText: "p50 <= 15 ms",
            detail: detail))
        report.add(Measurement(
            id: "W8-latency", name: "edit on replica A to the new value on B's observation, through the server (p99)",
            value: percentile(sortedLatencies, 0.99), unit: "ms", baseline: percentile(sortedRoundTrips, 0.99),
            baselineName: "ms one POST /v1/sync round trip (p99)", higherIsBetter: false, target: 60, targetText: "p99 <= 60 ms",
            detail: detail))
    }

    /// The value at fraction `p` of sorted `values` (nearest rank).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        return values[min(values.count - 1, max(0, Int((Double(values.count) * p).rounded(.up)) - 1))]
    }
}

/// When the observed list first showed the title expected.
final class Arrivals: Sendable {
    private struct Content {
        var expected: (id: ArticleID, title: String)?
        var arrived: ContinuousClock.Instant?
        var waiter: CheckedContinuation<ContinuousClock.Instant?, Never>?
    }

    private let content = Mutex(Content())

    func expect(_ id: ArticleID, _ title: String) {
        content.withLock { $0 = Content(expected: (id, title)) }
    }

    func saw(_ list: [Article], at time: ContinuousClock.Instant) {
        let waiter = content.withLock { content -> CheckedContinuation<ContinuousClock.Instant?, Never>? in
            guard let expected = content.expected, content.arrived == nil,
                  list.contains(where: { $0.id == expected.id && $0.title == expected.title }) else { return nil }
            content.arrived = time
            defer { content.waiter = nil }
            return content.waiter
        }
        waiter?.resume(returning: time)
    }

    /// The arrival of what was expected; nil after `timeout`.
    func wait(timeout: Duration) async throws -> ContinuousClock.Instant? {
        let timer = Task {
            try await Task.sleep(for: timeout)
            let waiter = content.withLock { content in
                defer { content.waiter = nil }
                return content.waiter
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let arrived = content.withLock { content -> ContinuousClock.Instant?? in
                if let arrived = content.arrived { return .some(arrived) }
                content.waiter = continuation
                return .none
            }
            if let arrived { continuation.resume(returning: arrived) }
        }
    }
}
