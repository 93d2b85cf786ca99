import Foundation
import Testing

let postgresURL = ProcessInfo.processInfo.environment["READINGLIST_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// Creates a fresh database on the test cluster and returns its URL.
func freshDatabase() throws -> String {
    let base = try #require(postgresURL)
    let name = "rl_e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", base, "-q", "-c", "CREATE DATABASE \(name)"]
    process.standardOutput = Pipe()
    process.standardError = Pipe()
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "psql could not create a database")
    return String(base[..<base.lastIndex(of: "/")!]) + "/" + name
}

@Suite("Several servers on one PostgreSQL", .serialized,
       .enabled(if: postgresURL != nil || inCI, "no PostgreSQL server: run scripts/with-postgres swift test (CI always does)"))
struct PostgresEndToEndTests {
    /// Two server processes started at the same moment on a fresh database
    /// (both migrate it), five CLI replicas syncing one user through both at
    /// once, with concurrent edits: every replica ends with the same list.
    @Test func fiveReplicasThroughTwoServersConverge() throws {
        let cli = try CLI()
        let database = try freshDatabase()
        let started = Started()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in started.add(try? ServerProcess(database: database)) }
        let servers = try started.all.map { try #require($0, "both servers start on the same fresh database") }
        let urls = servers.map(\.url)
        defer { for server in servers { server.stop() } }
        let token = try ServerProcess.addUser("alice", database: database)
        let devices = (0..<5).map { "device\($0).sqlite" }
        try cli.on(devices[0], "add", "https://example.com/shared", "--title", "Shared", "--tag", "common")
        try cli.on(devices[0], "add", "https://example.com/doomed", "--title", "Doomed")
        for (index, device) in devices.enumerated() {
            let output = try cli.on(device, "sync", "--server", servers[index % 2].url, "--token", token)
            // PostgreSQL keeps no replica files to copy: new devices pull page by page, without a word.
            #expect(!output.contains("snapshot"))
        }
        try cli.on(devices[0], "sync")
        // Concurrent edits on every device.
        for (index, device) in devices.enumerated() {
            try cli.on(device, "edit", "https://example.com/shared", "--title", "Title from \(index)")
            try cli.on(device, "tag", "https://example.com/shared", "tag\(index)")
            try cli.on(device, "add", "https://example.com/own/\(index)?utm_source=x", "--title", "Own \(index)")
            try cli.on(device, "progress", "https://example.com/shared", String(Double(index + 1) / 10))
        }
        try cli.on(devices[1], "delete", "https://example.com/doomed")
        try cli.on(devices[2], "edit", "https://example.com/doomed", "--note", "concurrent edit wins")
        // Rounds of simultaneous syncs, each device through the other server than before.
        for round in 0..<3 {
            let failures = Failures()
            DispatchQueue.concurrentPerform(iterations: devices.count) { index in
                // (A remembered token goes only to the address it was given for: each address gets it explicitly.)
                let result = try? cli.run(["--db", cli.path(devices[index]), "sync", "--server", urls[(index + round) % 2], "--token", token, "--page-size", "3"])
                if result?.status != 0 { failures.add("\(devices[index]): \(result?.stderr ?? "did not run")") }
            }
            #expect(failures.all.isEmpty, "\(failures.all)")
        }
        let lists = try devices.map { try cli.on($0, "list", "--json") }
        #expect(Set(lists).count == 1, "all five replicas show the same list")
        let list = try #require(try cli.json(devices[0], "list") as? [[String: Any]])
        #expect(list.count == 7)
        let shared = try #require(list.first { ($0["normalizedURL"] as? String) == "https://example.com/shared" })
        #expect(shared["tags"] as? [String] == ["common", "tag0", "tag1", "tag2", "tag3", "tag4"])
        #expect(shared["progress"] as? Double == 0.5)
        #expect(((shared["conflicts"] as? [[String: Any]])?.first?["values"] as? [String])?.count == 5)
        #expect(list.contains { ($0["note"] as? String) == "concurrent edit wins" })
        // Nothing moves any more, through either server.
        for (index, device) in devices.enumerated() {
            #expect(try cli.on(device, "sync", "--server", servers[index % 2].url).contains("pushed 0, pulled 0"))
        }
        // Each server process answers its own metrics.
        for server in servers {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            curl.arguments = ["curl", "-s", server.url + "/metrics"]
            let output = Pipe()
            curl.standardOutput = output
            try curl.run()
            let metrics = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            curl.waitUntilExit()
            #expect(metrics.contains("readinglist_sync_round_trips_total"))
        }
    }

    @Test func aDatabaseFromANewerSchemaIsRefusedAtStart() throws {
        let database = try freshDatabase()
        _ = try ServerProcess.addUser("bob", database: database)
        let bump = Process()
        bump.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        bump.arguments = ["psql", database, "-q", "-c", "UPDATE rl_meta SET value = '9' WHERE key = 'schema_version'"]
        try bump.run()
        bump.waitUntilExit()
        let result = try ServerProcess.runServerCommand(["serve", "--postgres", database, "--port", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("newer readinglist-server"))
        let wrong = database.replacingOccurrences(of: "://readinglist:", with: "://readinglist:wrong")
        let refused = try ServerProcess.runServerCommand(["user", "list", "--postgres", wrong])
        #expect(refused.status != 0 && refused.stderr.contains("password authentication failed"))
        #expect(refused.stderr.split(separator: "\n").count == 1)
    }
}

final class Failures: @unchecked Sendable {
    // Guarded by `lock`: written from concurrentPerform's threads.
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ item: String) { lock.lock(); items.append(item); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

final class Started: @unchecked Sendable {
    // Guarded by `lock`: written from concurrentPerform's threads.
    private let lock = NSLock()
    private var items: [ServerProcess?] = []
    func add(_ item: ServerProcess?) { lock.lock(); items.append(item); lock.unlock() }
    var all: [ServerProcess?] { lock.lock(); defer { lock.unlock() }; return items }
}
