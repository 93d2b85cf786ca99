import Foundation
import ReadingListModel
import ReplicaStore
import SyncClientHTTP
import Testing

@Suite("readinglist-server end to end", .serialized)
struct ServerEndToEndTests {
    @Test func threeReplicasConvergeThroughTheRealServer() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        #expect(token.hasPrefix("rl_") && token.count == 67)
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "Original", "--tag", "news")
        try cli.on("phone.sqlite", "add", "https://example.com/b", "--tag", "keep")
        for device in ["phone", "laptop", "tablet"] {
            try cli.on("\(device).sqlite", "sync", "--server", server.url, "--token", token)
        }
        try cli.on("phone.sqlite", "edit", "https://example.com/a", "--title", "Phone title")
        try cli.on("laptop.sqlite", "edit", "https://example.com/a", "--title", "Laptop title")
        try cli.on("laptop.sqlite", "delete", "https://example.com/b")
        try cli.on("tablet.sqlite", "tag", "https://example.com/b", "fresh")
        try cli.on("phone.sqlite", "progress", "https://example.com/a", "0.6")
        try cli.on("tablet.sqlite", "progress", "https://example.com/a", "0.2")
        try cli.on("phone.sqlite", "add", "https://example.com/c?utm_source=x", "--title", "C")
        try cli.on("tablet.sqlite", "add", "https://example.com/c/#top", "--title", "C")
        // Bare `sync`: the server and token were remembered.
        for device in ["tablet", "phone", "laptop", "tablet", "phone"] {
            let output = try cli.on("\(device).sqlite", "sync")
            #expect(output.hasPrefix("synced with \(server.url)"))
        }
        let lists = try ["phone", "laptop", "tablet"].map { try cli.on("\($0).sqlite", "list", "--json") }
        #expect(Set(lists).count == 1)
        let list = try #require(try cli.json("phone.sqlite", "list") as? [[String: Any]])
        #expect(list.count == 3)
        let a = try #require(list.first { ($0["normalizedURL"] as? String) == "https://example.com/a" })
        #expect(((a["conflicts"] as? [[String: Any]])?.first?["values"] as? [String]).map(Set.init) == ["Phone title", "Laptop title"])
        #expect(a["progress"] as? Double == 0.6)
        #expect(list.first { ($0["normalizedURL"] as? String) == "https://example.com/b" }?["tags"] as? [String] == ["fresh", "keep"])
        for device in ["phone", "laptop", "tablet"] {
            #expect(try cli.on("\(device).sqlite", "sync").contains("pushed 0, pulled 0"))
        }
        // Environment variables work too.
        let viaEnvironment = try cli.run(["--db", cli.path("fresh.sqlite"), "sync"], environment: ["READINGLIST_SERVER": server.url, "READINGLIST_TOKEN": token])
        #expect(viaEnvironment.status == 0)
        #expect(try cli.on("fresh.sqlite", "list", "--json") == lists[0])

        let (status, log) = server.stop()
        #expect(status == 0, "SIGTERM stops the server cleanly")
        #expect(!log.contains(token), "tokens never appear in logs")
        #expect(log.contains(#""path":"/v1/sync""#))
    }

    @Test func aNewDeviceStartsFromTheServersSnapshotAndThenSyncsAsAnyOther() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        let phone = try ReplicaStore.open(path: cli.path("phone.sqlite"))
        try phone.save((0..<300).map { SaveRequest(url: "https://example.com/article/\($0)", title: "Article \($0)", tags: ["t\($0 % 5)"]) })
        try phone.close()
        try cli.on("phone.sqlite", "delete", "https://example.com/article/7")
        try cli.on("phone.sqlite", "sync", "--server", server.url, "--token", token)
        try cli.on("laptop.sqlite", "sync", "--server", server.url, "--token", token, "--no-snapshot")
        try cli.on("laptop.sqlite", "edit", "https://example.com/article/1", "--title", "Laptop title")
        try cli.on("phone.sqlite", "edit", "https://example.com/article/1", "--title", "Phone title")
        try cli.on("laptop.sqlite", "sync")
        try cli.on("phone.sqlite", "sync")

        // A new file, and an empty one made before: both start from the snapshot.
        let fresh = try #require(try cli.json("tablet.sqlite", "sync", "--server", server.url, "--token", token) as? [String: Any])
        #expect(fresh["snapshot"] as? Bool == true)
        try ReplicaStore.open(path: cli.path("reader.sqlite")).close()
        #expect(try cli.on("reader.sqlite", "sync", "--server", server.url, "--token", token).contains("started from the server's snapshot"))
        // The same list as a page-by-page pull makes, the conflict shown; a device of its own.
        try cli.on("paged.sqlite", "sync", "--server", server.url, "--token", token, "--no-snapshot")
        let paged = try cli.on("paged.sqlite", "list", "--json")
        for device in ["tablet.sqlite", "reader.sqlite"] {
            #expect(try cli.on(device, "list", "--json") == paged)
            #expect(try cli.on(device, "conflicts").contains("Laptop title"))
            let replica = try ReplicaStore.open(path: cli.path(device))
            #expect(try replica.checkInvariants().isEmpty)
            try replica.close()
        }
        #expect(try cli.on("tablet.sqlite", "status").contains("299"))
        // It writes and syncs as any replica does, remembered server and token included.
        try cli.on("tablet.sqlite", "edit", "https://example.com/article/2", "--title", "Tablet title")
        #expect(try cli.on("tablet.sqlite", "sync").contains("pushed 1"))
        try cli.on("phone.sqlite", "sync")
        #expect(try cli.on("phone.sqlite", "show", "https://example.com/article/2").contains("Tablet title"))
        // A replica holding anything never starts over: it syncs page by page.
        try cli.on("busy.sqlite", "add", "https://example.com/mine", "--title", "Mine")
        let busy = try #require(try cli.json("busy.sqlite", "sync", "--server", server.url, "--token", token) as? [String: Any])
        #expect(busy["snapshot"] as? Bool == false)
        #expect(try cli.on("busy.sqlite", "status").contains("300"))
    }

    @Test func aGzippedSnapshotMakesTheSameReplicaAndACutOneIsRefused() async throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        let phone = try ReplicaStore.open(path: cli.path("phone.sqlite"))
        try phone.save((0..<500).map { SaveRequest(url: "https://example.com/article/\($0)", title: "Article \($0)", excerpt: String(repeating: "words ", count: 40)) })
        try phone.close()
        try cli.on("phone.sqlite", "sync", "--server", server.url, "--token", token)
        let transport = HTTPSyncTransport(server: server.url, token: token)
        #expect(transport.serverIsLocal, "a loopback server gets the file as it is, unless asked")
        var replicas: [String: String] = [:]
        var received: [Bool: Int] = [:]
        for compressed in [false, true] {
            let before = transport.traffic.received
            let made = try #require(try await InitialSnapshot.create(
                at: cli.path("made-\(compressed).sqlite"), transport: transport, partner: server.url, compressed: compressed))
            received[compressed] = transport.traffic.received - before
            #expect(try made.checkInvariants().isEmpty)
            try made.close()
            replicas[String(compressed)] = try cli.on("made-\(compressed).sqlite", "list", "--json")
        }
        #expect(replicas["true"] == replicas["false"])
        #expect(replicas["true"] == (try cli.on("phone.sqlite", "list", "--json")))
        #expect(try #require(received[true]) * 2 < #require(received[false]), "gzip at least halves the bytes: \(received)")
        // A file cut short (as a broken download would leave it) is refused, and no replica is made.
        #expect(try await transport.downloadSnapshot(to: cli.path("whole.sqlite"), compressed: true) != nil)
        await transport.shutdown()
        let whole = try #require(FileManager.default.contents(atPath: cli.path("whole.sqlite")))
        #expect(FileManager.default.createFile(atPath: cli.path("cut.sqlite"), contents: whole.prefix(whole.count - 4096)))
        #expect(throws: StoreError.self) { try ReplicaStore.createFromSnapshot(cli.path("cut.sqlite"), at: cli.path("never.sqlite"), partner: "p") }
        #expect(!FileManager.default.fileExists(atPath: cli.path("never.sqlite")))
    }

    @Test func aSyncKilledPartWayLosesAndDuplicatesNothing() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        // A large list made in process, then synced by the CLI in small pages.
        let big = try ReplicaStore.open(path: cli.path("big.sqlite"))
        for index in 0..<1500 {
            try big.save(SaveRequest(url: "https://example.com/article/\(index)", title: "Article \(index)", tags: ["t\(index % 7)"]))
        }
        try big.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["--db", cli.path("big.sqlite"), "sync", "--server", server.url, "--token", token, "--page-size", "50"]
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        Thread.sleep(forTimeInterval: 0.8)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal || process.terminationStatus == 0)
        // Run again: it resumes where it stopped.
        let again = try cli.run(["--db", cli.path("big.sqlite"), "sync", "--server", server.url, "--token", token, "--page-size", "200"])
        #expect(again.status == 0, "\(again.stderr)")
        try cli.on("other.sqlite", "sync", "--server", server.url, "--token", token)
        let list = try #require(try cli.json("other.sqlite", "list") as? [[String: Any]])
        #expect(list.count == 1500)
        #expect(Set(list.compactMap { $0["id"] as? String }).count == 1500)
        #expect(try cli.on("other.sqlite", "list", "--json") == cli.on("big.sqlite", "list", "--json"))
        #expect(try cli.on("big.sqlite", "sync").contains("pushed 0, pulled 0"))
    }

    @Test func usersAreIsolatedAndRevokedTokensRefused() throws {
        let cli = try CLI()
        let alice = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let bob = try ServerProcess.addUser("bob", database: cli.path("server.sqlite"))
        let duplicate = try ServerProcess.runServerCommand(["user", "add", "alice", "--db", cli.path("server.sqlite")])
        #expect(duplicate.status != 0 && duplicate.stderr.contains("already exists"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        try cli.on("alice.sqlite", "add", "https://example.com/private", "--title", "Alice only")
        try cli.on("alice.sqlite", "sync", "--server", server.url, "--token", alice)
        try cli.on("bob.sqlite", "add", "https://example.com/private", "--title", "Bob's own")
        try cli.on("bob.sqlite", "sync", "--server", server.url, "--token", bob)
        let bobList = try #require(try cli.json("bob.sqlite", "list") as? [[String: Any]])
        #expect(bobList.map { $0["title"] as? String } == ["Bob's own"])
        try cli.on("alice2.sqlite", "sync", "--server", server.url, "--token", alice)
        #expect((try cli.json("alice2.sqlite", "list") as? [[String: Any]])?.map { $0["title"] as? String } == ["Alice only"])

        let listed = try ServerProcess.runServerCommand(["user", "list", "--db", cli.path("server.sqlite")])
        #expect(listed.stdout.contains("alice") && listed.stdout.contains("bob") && !listed.stdout.contains(alice))
        #expect(try ServerProcess.runServerCommand(["user", "revoke", "bob", "--db", cli.path("server.sqlite")]).status == 0)
        let refused = try cli.run(["--db", cli.path("bob.sqlite"), "sync"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("401") && refused.stderr.split(separator: "\n").count == 1)

        // A new token lets bob back in (his list as it was); the revoked one stays refused.
        let issued = try ServerProcess.runServerCommand(["user", "token", "bob", "--db", cli.path("server.sqlite")])
        #expect(issued.status == 0 && issued.stderr.contains("shown only once"))
        let fresh = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fresh.hasPrefix("rl_") && fresh != bob)
        try cli.on("bob2.sqlite", "sync", "--server", server.url, "--token", fresh)
        #expect((try cli.json("bob2.sqlite", "list") as? [[String: Any]])?.map { $0["title"] as? String } == ["Bob's own"])
        #expect(try cli.run(["--db", cli.path("bob3.sqlite"), "sync", "--server", server.url, "--token", bob]).status != 0)
        let unknown = try ServerProcess.runServerCommand(["user", "token", "carol", "--db", cli.path("server.sqlite")])
        #expect(unknown.status != 0 && unknown.stderr.contains("no user 'carol'") && unknown.stdout.isEmpty)
    }

    @Test func aBusyPortIsReportedInOneLine() throws {
        let cli = try CLI()
        let first = try ServerProcess(database: cli.path("a.sqlite"))
        defer { first.stop() }
        let port = try #require(first.url.split(separator: ":").last.map(String.init))
        let second = try ServerProcess.runServerCommand(["serve", "--db", cli.path("b.sqlite"), "--host", "127.0.0.1", "--port", port])
        #expect(second.status != 0)
        #expect(second.stderr.contains("cannot listen on 127.0.0.1:\(port): the port is already in use"), "\(second.stderr)")
        #expect(!second.stderr.contains("errno"), "\(second.stderr)")
    }

    @Test func aServerThatIsNotThereIsRetriedThenReported() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let before = try cli.on("me.sqlite", "log", "--json")
        let result = try cli.run(["--db", cli.path("me.sqlite"), "sync", "--server", "http://127.0.0.1:9", "--token", "rl_x", "--attempts", "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot reach the server") && result.stderr.contains("after 2 attempts"))
        #expect(result.stderr.contains("retrying (attempt 2 of 2)"), "a wait for a server that is down is not silent")
        #expect(try cli.on("me.sqlite", "log", "--json") == before)
        let status = try #require(try cli.json("me.sqlite", "status") as? [String: Any])
        #expect((status["syncPartners"] as? [Any])?.isEmpty == true, "a failed first sync remembers nothing")
    }
}
