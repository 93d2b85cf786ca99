import Foundation
import ServerHarness
import Testing

/// Several users on one real server, and two servers: a replica's list never
/// reaches another account, and moving one is deliberate.
@Suite("accounts end to end", .serialized)
struct AccountEndToEndTests {
    func urls(_ cli: CLI, _ db: String) throws -> Set<String> {
        let list = try #require(try cli.json(db, "list") as? [[String: Any]])
        return Set(list.compactMap { $0["url"] as? String })
    }

    @Test func anotherUsersTokenIsRefusedAndNothingLeaks() throws {
        let cli = try CLI()
        let carol = try ServerProcess.addUser("carol", database: cli.path("server.sqlite"))
        let alice = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        try cli.on("carol.sqlite", "add", "https://example.com/carol", "--note", "carol's private note")
        try cli.on("carol.sqlite", "sync", "--server", server.url, "--token", carol)
        try cli.on("alice.sqlite", "add", "https://example.com/alice")
        try cli.on("alice.sqlite", "sync", "--server", server.url, "--token", alice)

        try cli.on("carol.sqlite", "add", "https://example.com/carol-2", "--note", "also private")
        try cli.fails("carol.sqlite", "sync", "--token", alice, mentioning: "this replica belongs to 'carol'")
        // User names are one per person, whatever their case, and never blank.
        #expect(try ServerProcess.runServerCommand(["user", "add", "Alice", "--db", cli.path("server.sqlite")]).stderr.contains("already exists"))
        #expect(try ServerProcess.runServerCommand(["user", "add", "   ", "--db", cli.path("server.sqlite")]).stderr.contains("not only spaces"))
        // The refusal was not remembered: a plain sync is carol's again, and still pushes nothing to alice.
        try cli.fails("carol.sqlite", "sync", "--token", alice, mentioning: "readinglist move")
        try cli.on("carol.sqlite", "sync")
        try cli.on("alice.sqlite", "sync")
        #expect(try urls(cli, "alice.sqlite") == ["https://example.com/alice"])
        #expect(try urls(cli, "carol.sqlite") == ["https://example.com/carol", "https://example.com/carol-2"])
        #expect(!(try cli.on("alice.sqlite", "log", "--json")).contains("private"))

        // Moving is deliberate: without --yes it says what it would merge and changes nothing.
        let preview = try cli.on("carol.sqlite", "move", "--server", server.url, "--token", alice)
        #expect(preview.contains("belongs to 'carol'") && preview.contains("--yes"))
        try cli.on("alice.sqlite", "sync")
        #expect(try urls(cli, "alice.sqlite") == ["https://example.com/alice"])
        let moved = try cli.on("carol.sqlite", "move", "--server", server.url, "--token", alice, "--yes")
        #expect(moved.contains("now belongs to 'alice'"))
        try cli.on("alice.sqlite", "sync")
        #expect(try urls(cli, "alice.sqlite") == ["https://example.com/alice", "https://example.com/carol", "https://example.com/carol-2"])
        // And now the replica is alice's: carol's token is the other account.
        try cli.fails("carol.sqlite", "sync", "--token", carol, mentioning: "this replica belongs to 'alice'")
    }

    @Test func anotherServerIsRefusedAndTwoSpellingsOfOneServerAreOnePartner() throws {
        let cli = try CLI()
        let first = try ServerProcess.addUser("me", database: cli.path("one.sqlite"))
        let second = try ServerProcess.addUser("me", database: cli.path("two.sqlite"))
        let one = try ServerProcess(database: cli.path("one.sqlite"))
        defer { one.stop() }
        let two = try ServerProcess(database: cli.path("two.sqlite"))
        defer { two.stop() }
        try cli.on("me.sqlite", "add", "https://example.com/a")
        try cli.on("me.sqlite", "sync", "--server", one.url, "--token", first)
        try cli.fails("me.sqlite", "sync", "--server", two.url, "--token", second, mentioning: "this replica belongs to 'me' on server")
        // The remembered token is for the first server: it is never sent to another address.
        try cli.fails("me.sqlite", "sync", "--server", two.url, mentioning: "the token this replica remembers is for \(one.url)")
        // The same server under another spelling of its address is the same partner.
        let localhost = one.url.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/"
        #expect(try cli.on("me.sqlite", "sync", "--server", localhost, "--token", first).contains("pushed 0, pulled 0"))
        let status = try #require(try cli.json("me.sqlite", "status") as? [String: Any])
        #expect((status["syncPartners"] as? [Any])?.count == 1)
    }

    @Test func anArticleTooLargeForTheServerIsNamedAndTheRestSyncs() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("me", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"), arguments: ["--max-body-bytes", "65536"])
        defer { server.stop() }
        try cli.on("phone.sqlite", "sync", "--server", server.url, "--token", token)
        try cli.on("phone.sqlite", "add", "https://example.com/before")
        try Data(String(repeating: "x", count: 100_000).utf8).write(to: URL(fileURLWithPath: cli.path("big.txt")))
        try cli.on("phone.sqlite", "add", "https://example.com/big", "--content-file", cli.path("big.txt"))
        try cli.on("phone.sqlite", "add", "https://example.com/after")
        // (Progress lines come first on stderr; the error is the last line.)
        let refused = try cli.run(["--db", cli.path("phone.sqlite"), "sync"])
        #expect(refused.status != 0)
        let last = refused.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("error: article ") && last.contains("content") && last.contains("--content-file SMALLER"), "\(refused.stderr)")
        try cli.on("laptop.sqlite", "sync", "--server", server.url, "--token", token)
        #expect(try urls(cli, "laptop.sqlite") == ["https://example.com/before"])
        try Data("a short text".utf8).write(to: URL(fileURLWithPath: cli.path("small.txt")))
        try cli.on("phone.sqlite", "edit", "https://example.com/big", "--content-file", cli.path("small.txt"))
        try cli.on("phone.sqlite", "sync")
        try cli.on("laptop.sqlite", "sync")
        #expect(try urls(cli, "laptop.sqlite") == ["https://example.com/before", "https://example.com/big", "https://example.com/after"])
    }
}
