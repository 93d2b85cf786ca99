import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ReadingListModel
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import Testing

/// `GET /metrics`: swift-prometheus's text, one registry per server.
@Suite("Metrics")
struct MetricsTests {
    /// The names, labels and latency buckets dashboards use, with their help
    /// and type lines, and the names Hummingbird's `MetricsMiddleware` adds.
    @Test func theMetricsKeepTheirNamesAndLabels() async throws {
        let fixture = try await ServerFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let replica = try makeReplica().replicaID
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(
                uri: "/v1/sync", method: .post, headers: bearer(fixture.alice),
                body: try body(SyncRequest(replica: replica, knowledge: VersionVector(), heads: [], push: []))
            ) { #expect($0.status == .ok) }
            try await client.execute(
                uri: "/v1/sync", method: .post, headers: bearer("rl_unknown"),
                body: try body(SyncRequest(replica: replica, knowledge: VersionVector(), heads: [], push: []))
            ) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/nowhere", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                let lines = Set(text.split(separator: "\n").map(String.init))
                let help: [String: String] = [
                    "readinglist_http_requests_total": "HTTP requests by route and status.",
                    "readinglist_http_request_duration_seconds": "HTTP request latency by route.",
                    "readinglist_sync_round_trips_total": "Sync round trips served.",
                    "readinglist_changes_stored_total": "Changes stored from pushes (new to the server).",
                    "readinglist_entries_pulled_total": "Log entries sent to clients.",
                    "readinglist_garbage_collections_total": "Sync round trips that forgot deleted articles.",
                    "readinglist_sync_errors_total": "Refused or failed sync requests by error code.",
                    "readinglist_log_lines_dropped_total": "Log lines dropped: the log's reader fell behind (a full queue) or went away.",
                ]
                for (name, text) in help {
                    #expect(lines.contains("# HELP \(name) \(text)"))
                    let type = name.hasSuffix("_seconds") ? "histogram" : "counter"
                    #expect(lines.contains("# TYPE \(name) \(type)"))
                }
                for line in [
                    #"readinglist_http_requests_total{route="/health",status="200"} 1"#,
                    #"readinglist_http_requests_total{route="/v1/sync",status="200"} 1"#,
                    #"readinglist_http_requests_total{route="/v1/sync",status="401"} 1"#,
                    #"readinglist_http_requests_total{route="other",status="404"} 1"#,
                    #"readinglist_sync_errors_total{code="unauthorized"} 1"#,
                    "readinglist_sync_round_trips_total 1",
                    "readinglist_changes_stored_total 0",
                    "readinglist_entries_pulled_total 0",
                    "readinglist_garbage_collections_total 0",
                    #"readinglist_http_request_duration_seconds_bucket{route="/v1/sync",le="+Inf"} 2"#,
                    #"readinglist_http_request_duration_seconds_count{route="/v1/sync"} 2"#,
                    // Hummingbird's, by route pattern and method (what it adds to the server's own).
                    #"hb_requests{http_route="/v1/sync",http_request_method="POST",http_response_status_code="200"} 1"#,
                    #"hb_requests{http_route="/v1/sync",http_request_method="POST",http_response_status_code="401"} 1"#,
                    "# TYPE hb_requests counter",
                    "# TYPE http_server_request_duration histogram",
                    "# TYPE http_server_active_requests gauge",
                ] {
                    #expect(lines.contains(line), "\(line)\n\(text)")
                }
                // The same buckets as ever (seconds), so that stored series go on.
                let bounds = lines.filter { $0.hasPrefix(#"readinglist_http_request_duration_seconds_bucket{route="/v1/sync","#) }
                    .compactMap { $0.split(separator: "le=\"").last?.split(separator: "\"").first.map(String.init) }
                #expect(Set(bounds) == ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf"])
                #expect(lines.contains { $0.hasPrefix(#"readinglist_http_request_duration_seconds_sum{route="/v1/sync"} "#) })
            }
        }
    }

    /// Servers in one process (as the tests run) count apart: nothing goes
    /// through swift-metrics' process-wide system.
    @Test func eachServerCountsItsOwnRequests() async throws {
        let first = try await ServerFixture()
        let second = try await ServerFixture()
        defer {
            try? FileManager.default.removeItem(atPath: first.folder)
            try? FileManager.default.removeItem(atPath: second.folder)
        }
        async let firstText = Self.metrics(after: 3, healthChecksOn: first)
        async let secondText = Self.metrics(after: 5, healthChecksOn: second)
        let (one, two) = try await (firstText, secondText)
        #expect(one.contains(#"readinglist_http_requests_total{route="/health",status="200"} 3"#), "\(one)")
        #expect(one.contains(#"hb_requests{http_route="/health",http_request_method="GET",http_response_status_code="200"} 3"#), "\(one)")
        #expect(two.contains(#"readinglist_http_requests_total{route="/health",status="200"} 5"#), "\(two)")
        #expect(two.contains(#"hb_requests{http_route="/health",http_request_method="GET",http_response_status_code="200"} 5"#), "\(two)")
    }

    /// Dropped log lines counted by the writer reach the counter, once each, however often `/metrics` is read.
    @Test func droppedLogLinesAreCountedOnce() throws {
        let writer = LogWriter(fileDescriptor: -1, capacity: 1, byteBudget: 64)
        let metrics = ServerMetrics(logWriter: writer)
        let logger = Logger(label: "test") { JSONLogHandler(label: $0, writer: writer) }
        for index in 0..<50 { logger.info("line", metadata: ["n": .stringConvertible(index)]) }
        #expect(writer.stop(timeout: .seconds(30)))
        let dropped = writer.droppedLines
        #expect(dropped == 50, "a descriptor that fails loses every line")
        for _ in 0..<3 {
            #expect(metrics.render().contains("\nreadinglist_log_lines_dropped_total \(dropped)\n"))
        }
    }

    static func metrics(after count: Int, healthChecksOn fixture: ServerFixture) async throws -> String {
        try await fixture.app.test(.router) { client in
            for _ in 0..<count {
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            }
            return try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
        }
    }
}

/// Bearer tokens hash with swift-crypto to what the model's SHA-256 gave, so
/// that the tokens stored before still authenticate.
@Suite("Token hashes")
struct TokenHashTests {
    @Test func theHashIsTheOneStoredBefore() {
        // FIPS 180-2's "abc".
        #expect(Tokens.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Across the padding boundaries (55, 56, 64 bytes), several blocks, and UTF-8 beyond ASCII.
        let inputs = [
            "", "rl_", String(repeating: "a", count: 55), String(repeating: "b", count: 56), String(repeating: "c", count: 64),
            String(repeating: "d", count: 1_000), "héllo wörld ✓ 📚", Tokens.generate(), Tokens.generate(),
        ]
        for input in inputs {
            #expect(Tokens.hash(input) == SHA256.hex(input), "\(input)")
        }
    }

    @Test func aTokenStoredByTheOldHashStillAuthenticates() async throws {
        let fixture = try await ServerFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let token = Tokens.generate()
        // What a server stored before swift-crypto: the model's hash.
        _ = try await fixture.storage.addUser(name: "carol", tokenHash: SHA256.hex(token))
        let replica = try makeReplica().replicaID
        try await fixture.app.test(.router) { client in
            try await client.execute(
                uri: "/v1/sync", method: .post, headers: bearer(token),
                body: try body(SyncRequest(replica: replica, knowledge: VersionVector(), heads: [], push: []))
            ) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(
                uri: "/v1/sync", method: .post, headers: bearer(token + "0"),
                body: try body(SyncRequest(replica: replica, knowledge: VersionVector(), heads: [], push: []))
            ) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
