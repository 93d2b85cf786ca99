import Foundation
import Testing

/// `/metrics` and the user list of a real `readinglist-server` process.
@Suite("readinglist-server metrics end to end")
struct MetricsEndToEndTests {
    @Test func theServerServesItsAndHummingbirdsMetrics() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "A")
        try cli.on("phone.sqlite", "sync", "--server", server.url, "--token", token)

        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-s", "-D", "-", server.url + "/metrics"]
        let response = try CLI.capture(curl)
        #expect(response.status == 0, "\(response.stderr)")
        // Headers end in CRLF, which Swift counts as one newline character.
        let lines = response.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.first == "HTTP/1.1 200 OK")
        #expect(lines.contains { $0.lowercased() == "content-type: text/plain; version=0.0.4; charset=utf-8" })
        for prefix in [
            #"readinglist_http_requests_total{route="/v1/sync",status="200"} "#,
            #"readinglist_http_request_duration_seconds_count{route="/v1/sync"} "#,
            "readinglist_sync_round_trips_total ",
            "readinglist_changes_stored_total ",
            "readinglist_log_lines_dropped_total 0",
            #"hb_requests{http_route="/v1/sync",http_request_method="POST",http_response_status_code="200"} "#,
            #"http_server_request_duration_count{http_route="/v1/sync",http_request_method="POST",http_response_status_code="200"} "#,
        ] {
            #expect(lines.contains { $0.hasPrefix(prefix) }, "\(prefix)\n\(response.stdout)")
        }
        let stored = lines.first { $0.hasPrefix("readinglist_changes_stored_total ") }
        #expect(stored.flatMap { Int($0.split(separator: " ").last!) }.map { $0 > 0 } == true, "the sync pushed the add")
    }

    /// `user list` writes times as everything else does (`Timestamp.iso8601`: UTC, milliseconds).
    @Test func theUserListWritesTimesTheProjectsWay() throws {
        let cli = try CLI()
        _ = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let listed = try ServerProcess.runServerCommand(["user", "list", "--db", cli.path("server.sqlite")])
        #expect(listed.status == 0, "\(listed.stderr)")
        let line = listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.wholeMatch(of: /alice\tcreated \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\tactive/) != nil, "\(line)")
    }
}
