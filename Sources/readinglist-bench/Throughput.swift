import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import ReadingListModel
import SyncCore
import SyncProtocol

/// W5: sync round trips per second against one real server process, each
/// client its own user and replica, pushing one single-field change per round
/// trip (and pulling what it lacks). The baseline is `GET /health` on the
/// same server, connections and concurrency: the HTTP stack's own ceiling.
enum Throughput {
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var ok = 0
        private var failed = 0
        private var firstError: String?
        func record(_ success: Bool, _ error: String? = nil) {
            lock.withLock {
                if success { ok += 1 } else { failed += 1; if firstError == nil { firstError = error } }
            }
        }
        var totals: (ok: Int, failed: Int, error: String?) { lock.withLock { (ok, failed, firstError) } }
    }

    static func run(levels: [Int], duration: Double, folder: WorkFolder, report: Report) async throws {
        let database = folder.file("w5.sqlite")
        let most = levels.max() ?? 1
        let tokens = try (0..<most).map { index in try ServerProcess.addUser("user\(index)", database: database, folder: folder) }
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let url = server.url
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: most + 4)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { _ = client.shutdown() }
        var round: UInt64 = 0
        for level in levels {
            round += 1
            let round = round
            let health = try await load(clients: level, duration: duration) { _, _ in
                let response = try await client.execute(HTTPClientRequest(url: url + "/health"), timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 20)
                return response.status == .ok ? nil : "health: HTTP \(response.status.code)"
            }
            var generators = (0..<level).map { SplitMix64(seed: round << 32 | UInt64($0)) }
            let replicas = (0..<level).map { ReplicaID.random(using: &generators[$0]) }
            let articles = (0..<level).map { index in ArticleID(url: try! NormalizedURL("https://example.org/w5/\(round)/\(index)")) }
            let states = (0..<level).map { _ in ClientState() }
            let sync = try await load(clients: level, duration: duration) { index, _ in
                let state = states[index]
                let replica = replicas[index]
                let counter = state.counter + 1
                let knowledge = VersionVector([replica: state.counter])
                let change = Change(
                    dot: Dot(replica, counter), entity: .article(articles[index]),
                    field: counter == 1 ? Fields.url : Fields.title,
                    value: .string(counter == 1 ? "https://example.org/w5/\(round)/\(index)" : "Title \(counter)"),
                    context: knowledge, hlc: HLC(millis: Int64(Date().timeIntervalSince1970 * 1000), logical: 0))
                var after = knowledge
                after[replica] = counter
                let request = SyncRequest(
                    replica: replica, knowledge: after, heads: [ForkCheck.Head(dot: change.dot, digest: change.digest)],
                    push: [.change(change)], pullLimit: 100)
                var http = HTTPClientRequest(url: url + "/v1/sync")
                http.method = .POST
                http.headers.add(name: "Authorization", value: "Bearer \(tokens[index])")
                http.headers.add(name: "Content-Type", value: "application/json")
                // Written and read as the real client does (WireJSON), so that the load generator
                // leaves the server as much of the two cores as it can.
                http.body = .bytes(ByteBuffer(string: WireJSON.text(request)))
                let response = try await client.execute(http, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 8 << 20)
                guard response.status == .ok else {
                    return "sync: HTTP \(response.status.code) \(String(buffer: body).prefix(200))"
                }
                let decoded = try body.withUnsafeReadableBytes { bytes throws(WireJSON.Malformed) in try WireJSON.response(from: bytes) }
                guard decoded.stored == 1 else { return "sync: stored \(decoded.stored), expected 1" }
                state.counter = counter
                return nil
            }
            report.add(Measurement(
                id: "W5", name: "sync round trips, \(level) concurrent client(s)", value: sync.rate, unit: "round trips/s",
                baseline: health.rate, baselineName: "GET /health/s", higherIsBetter: true,
                target: level == 16 ? 5000 : nil, targetText: level == 16 ? ">= 5000/s, no errors" : "no errors",
                detail: ["errors": "\(sync.failed)", "health_errors": "\(health.failed)", "seconds": "\(duration)",
                         "first_error": sync.error ?? "none"]))
            if sync.failed > 0 { report.note("W5 at \(level) clients: \(sync.failed) errors, first: \(sync.error ?? "")") }
        }
    }

    final class ClientState: @unchecked Sendable {
        var counter: UInt64 = 0
    }

    /// Runs `clients` loops of `body` for `duration` seconds; nil from body is a success, a string an error.
    static func load(
        clients: Int, duration: Double, _ body: @escaping @Sendable (Int, Int) async throws -> String?
    ) async throws -> (rate: Double, failed: Int, error: String?) {
        let counter = Counter()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: .milliseconds(Int(duration * 1000)))
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<clients {
                group.addTask {
                    var iteration = 0
                    while clock.now < deadline {
                        do {
                            let error = try await body(index, iteration)
                            counter.record(error == nil, error)
                        } catch {
                            counter.record(false, "\(error)")
                        }
                        iteration += 1
                    }
                }
            }
        }
        let elapsed = (clock.now - start).seconds
        let totals = counter.totals
        return (Double(totals.ok) / elapsed, totals.failed, totals.error)
    }
}
