import Foundation
import ServerHarness
import Synchronization
import Testing

/// A long-running `readinglist` process (`sync --watch`, `watch`): its output
/// is collected as it comes; SIGINT ends it.
final class WatchingProcess: Sendable {
    let process: Process
    private let output = Mutex("")
    private let errors = Mutex("")

    init(_ cli: CLI, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cli.folder)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = cli.folder
        environment.removeValue(forKey: "READINGLIST_DB")
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        self.process = process
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.errors.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var stdout: String { output.withLock { $0 } }
    var stderr: String { errors.withLock { $0 } }
    var lines: [Substring] { stdout.split(separator: "\n") }

    /// Waits until `condition` holds of the output (60 s at most).
    func wait(
        for what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: @escaping @Sendable ([Substring]) -> Bool
    ) async throws {
        try await eventually(what, sourceLocation: sourceLocation) { condition(self.lines) }
    }

    /// SIGINT, then waits: the exit status.
    func interrupt() -> Int32 {
        if process.isRunning { process.interrupt() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// Polls `condition` until it holds (60 s at most: a bound for a machine running every suite at once), then expects it.
func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: @Sendable () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while try !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    #expect(try condition(), "timed out waiting for \(what)", sourceLocation: sourceLocation)
}

/// A server started on a given loopback port (to restart one where its clients expect it).
final class ServerOnPort {
    let process = Process()

    init(database: String, port: Int) throws {
        process.executableURL = URL(fileURLWithPath: ServerProcess.executable)
        process.arguments = ["serve", "--db", database, "--host", "127.0.0.1", "--port", String(port)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.terminationHandler = { ChildProcesses.ended($0.processIdentifier) }
        try process.run()
        ChildProcesses.started(process.processIdentifier)
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("listening on"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(text.contains("listening on http://127.0.0.1:\(port)"), "the restarted server: \(text)")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite("Live sync end to end: sync --watch and watch with the real server", .serialized)
struct LiveSyncEndToEndTests {
    /// The title `show --json` gives for `article` on `replica`.
    static func title(_ cli: CLI, _ replica: String, _ article: String) throws -> String? {
        let result = try cli.run(["--db", cli.path(replica), "show", article, "--json"])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else { return nil }
        return object["title"] as? String
    }

    @Test func twoWatchersSeeAnEditMadeByAThirdProcess() async throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        let url = "https://example.com/live"
        try cli.on("phone.sqlite", "add", url, "--title", "First")
        for device in ["phone", "laptop", "tablet"] { try cli.on("\(device).sqlite", "sync", "--server", server.url, "--token", token) }

        let phone = try WatchingProcess(cli, ["--db", cli.path("phone.sqlite"), "sync", "--watch"])
        let laptop = try WatchingProcess(cli, ["--db", cli.path("laptop.sqlite"), "sync", "--watch"])
        let list = try WatchingProcess(cli, ["--db", cli.path("laptop.sqlite"), "watch"])
        let serverURL = server.url
        for watcher in [phone, laptop] {
            try await watcher.wait(for: "the first round") { $0.contains { $0.hasPrefix("synced with \(serverURL)") } }
        }
        try await list.wait(for: "the list") { $0.contains { $0.contains("First") } }

        // The tablet edits and syncs once (a third process): both watchers pull it when the server announces it.
        try cli.on("tablet.sqlite", "edit", url, "--title", "From the tablet")
        try cli.on("tablet.sqlite", "sync")
        for replica in ["phone.sqlite", "laptop.sqlite"] {
            try await eventually("the tablet's edit on \(replica)") { try Self.title(cli, replica, url) == "From the tablet" }
        }
        try await list.wait(for: "the watch to show the tablet's edit") { $0.contains { $0.hasPrefix("~ ") && $0.contains("From the tablet") } }
        #expect(laptop.stdout.contains("(server notice)"), "\(laptop.stdout)")

        // An edit from another shell on the phone's file: its watcher pushes it, the laptop's pulls it.
        try cli.on("phone.sqlite", "edit", url, "--title", "From the phone's shell")
        try await eventually("the phone's edit on the laptop") { try Self.title(cli, "laptop.sqlite", url) == "From the phone's shell" }
        try await phone.wait(for: "the phone's push") { $0.contains { $0.contains("(local change): pushed 1") } }
        // A new article saved on the laptop appears in the laptop's watch as it is saved.
        try cli.on("laptop.sqlite", "add", "https://example.com/second", "--title", "Second")
        try await list.wait(for: "the new article in the watch") { $0.contains { $0.hasPrefix("+ ") && $0.contains("Second") } }
        try await eventually("the laptop's new article on the phone") { try Self.title(cli, "phone.sqlite", "https://example.com/second") == "Second" }

        for watcher in [phone, laptop, list] { #expect(watcher.interrupt() == 0, "SIGINT ends it cleanly: \(watcher.stderr)") }
        let lists = try ["phone", "laptop", "tablet"].map { device in
            try cli.on("\(device).sqlite", "sync")
            return try cli.on("\(device).sqlite", "list", "--json")
        }
        #expect(Set(lists).count == 1)
    }

    @Test func watchersSurviveTheServerBeingKilledAndLoseNothing() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let token = try ServerProcess.addUser("alice", database: database)
        var first: ServerProcess? = try ServerProcess(database: database)
        let serverURL = try #require(first?.url)
        let port = try #require(Int(serverURL.split(separator: ":").last ?? ""))
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "A")
        for device in ["phone", "laptop"] { try cli.on("\(device).sqlite", "sync", "--server", serverURL, "--token", token) }
        let phone = try WatchingProcess(cli, ["--db", cli.path("phone.sqlite"), "sync", "--watch"])
        let laptop = try WatchingProcess(cli, ["--db", cli.path("laptop.sqlite"), "sync", "--watch"])
        for watcher in [phone, laptop] {
            try await watcher.wait(for: "the first round") { $0.contains { $0.hasPrefix("synced with") } }
        }

        // Killed (no graceful shutdown): both watchers find it gone.
        kill(first!.process.processIdentifier, SIGKILL)
        first!.process.waitUntilExit()
        first = nil
        // Edits made while the server is down wait in the replicas.
        try cli.on("phone.sqlite", "add", "https://example.com/offline-phone", "--title", "Saved offline on the phone")
        try cli.on("laptop.sqlite", "edit", "https://example.com/a", "--title", "Edited offline on the laptop")
        try await eventually("the phone watcher to notice it is offline") { phone.stderr.contains("offline") }

        // Back on the same port: the watchers reconnect by themselves and catch up.
        let restarted = try ServerOnPort(database: database, port: port)
        defer { restarted.stop() }
        try await eventually("the phone's offline save on the laptop") {
            try Self.title(cli, "laptop.sqlite", "https://example.com/offline-phone") == "Saved offline on the phone"
        }
        try await eventually("the laptop's offline edit on the phone") {
            try Self.title(cli, "phone.sqlite", "https://example.com/a") == "Edited offline on the laptop"
        }
        for watcher in [phone, laptop] { #expect(watcher.interrupt() == 0, "\(watcher.stderr)") }
        // Nothing lost: a new device gets both.
        try cli.on("fresh.sqlite", "sync", "--server", serverURL, "--token", token)
        #expect(try Self.title(cli, "fresh.sqlite", "https://example.com/offline-phone") == "Saved offline on the phone")
        #expect(try Self.title(cli, "fresh.sqlite", "https://example.com/a") == "Edited offline on the laptop")
    }

    /// With nothing edited, the server killed: `sync --watch` says so at once
    /// in one line (with when it retries), not one per retry, and one line
    /// when the server is back.
    @Test func aWatcherSaysOnceThatTheServerIsAwayAndOnceThatItIsBack() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let token = try ServerProcess.addUser("alice", database: database)
        var first: ServerProcess? = try ServerProcess(database: database)
        let serverURL = try #require(first?.url)
        let port = try #require(Int(serverURL.split(separator: ":").last ?? ""))
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "A")
        try cli.on("phone.sqlite", "sync", "--server", serverURL, "--token", token)
        let phone = try WatchingProcess(cli, ["--db", cli.path("phone.sqlite"), "sync", "--watch"])
        try await phone.wait(for: "the first round") { $0.contains { $0.hasPrefix("synced with") } }

        kill(first!.process.processIdentifier, SIGKILL)
        first!.process.waitUntilExit()
        first = nil
        // The lost channel tells the watcher: no edit needed for it to notice.
        try await eventually("the watcher to say it is offline") { phone.stderr.contains("offline: ") }
        let said = phone.stderr.split(separator: "\n").filter { $0.hasPrefix("offline: ") }
        #expect(said.count == 1 && said[0].contains("retrying at "), "\(phone.stderr)")
        // Retries at about 0.5-1 s, 1-2 s, 2-4 s: a few pass, and no line more.
        try await Task.sleep(for: .seconds(4))
        #expect(phone.stderr.split(separator: "\n").filter { $0.hasPrefix("offline") }.count == 1, "\(phone.stderr)")
        // (The one offline line names why; no other line may.)
        let others = phone.stderr.split(separator: "\n").filter { !$0.hasPrefix("offline: ") }
        #expect(!others.contains { $0.contains("failed") || $0.contains("cannot reach") }, "a retry printed its failure: \(phone.stderr)")

        let restarted = try ServerOnPort(database: database, port: port)
        defer { restarted.stop() }
        try await eventually("the watcher to say the server is back") { phone.stderr.contains("back online") }
        try await Task.sleep(for: .milliseconds(500))
        #expect(phone.stderr.split(separator: "\n").filter { $0.hasPrefix("back online") }.count == 1, "\(phone.stderr)")
        #expect(phone.stderr.split(separator: "\n").filter { $0.hasPrefix("offline") }.count == 1, "\(phone.stderr)")
        #expect(phone.interrupt() == 0, "\(phone.stderr)")
    }

    @Test func aWatcherWhoseTokenIsRevokedStopsWithOneLine() async throws {
        let cli = try CLI()
        let database = cli.path("server.sqlite")
        let token = try ServerProcess.addUser("alice", database: database)
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        try cli.on("phone.sqlite", "add", "https://example.com/a")
        try cli.on("phone.sqlite", "sync", "--server", server.url, "--token", token)
        let phone = try WatchingProcess(cli, ["--db", cli.path("phone.sqlite"), "sync", "--watch"])
        try await phone.wait(for: "the first round") { $0.contains { $0.hasPrefix("synced with") } }
        let revoked = try ServerProcess.runServerCommand(["user", "revoke", "alice", "--db", database])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        // The channel is closed by the server; the next round is refused: the watcher ends, saying why.
        try cli.on("phone.sqlite", "edit", "https://example.com/a", "--title", "After the revocation")
        let process = phone.process
        try await eventually("the watcher to end") { !process.isRunning }
        #expect(phone.interrupt() == 1)
        let last = phone.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("error: ") && last.contains("--token TOKEN --watch"), "\(phone.stderr)")
    }

    @Test func watchFollowsWritesOfOtherProcessesAndStopsOnSIGTERM() async throws {
        let cli = try CLI()
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "A", "--tag", "swift")
        let watch = try WatchingProcess(cli, ["--db", cli.path("phone.sqlite"), "watch", "--tag", "swift", "--unread"])
        try await watch.wait(for: "the list") { $0.count == 1 && $0[0].contains("A  #swift") }
        try cli.on("phone.sqlite", "add", "https://example.com/b", "--title", "B", "--tag", "swift")
        try await watch.wait(for: "B entering") { $0.contains { $0.hasPrefix("+ ") && $0.contains("B  #swift") } }
        try cli.on("phone.sqlite", "read", "https://example.com/a")
        try await watch.wait(for: "A leaving") { $0.contains { $0.hasPrefix("- ") && $0.contains("A  #swift") } }
        // Outside the filter: nothing printed.
        let before = watch.lines.count
        try cli.on("phone.sqlite", "add", "https://example.com/c", "--title", "C")
        try await Task.sleep(for: .milliseconds(300))
        #expect(watch.lines.count == before, "\(watch.stdout)")
        watch.process.terminate()
        watch.process.waitUntilExit()
        #expect(watch.process.terminationStatus == 0, "\(watch.stderr)")
        // A bad filter: one line, before anything is watched.
        try cli.fails("phone.sqlite", "watch", "--sort", "sideways", mentioning: "--sort takes one of")
    }
}
