import Foundation
import Testing

/// The failures of the hardening issue (items 5, 6, 7 and a busy port), run
/// through the built executables: each is one clear line on stderr, a
/// non-zero exit status, none of the HTTP client's, TLS library's or NIO's own
/// text, no build path, and no file left behind.
@Suite("failures are one line and leave nothing behind", .serialized)
struct HardeningTests {
    /// Text that must never reach the user.
    static let raw = ["HTTPClientError", "NIOSSL", "BoringSSL", "SocketAddressError", "IOError", "NIOConnectionError", ".build/", "Fatal error", "Backtrac"]

    /// Every file and folder under `folder`.
    static func listing(_ folder: String) -> Set<String> {
        Set(FileManager.default.subpaths(atPath: folder) ?? [])
    }

    /// Expects `result` to be a failure: a non-zero status, exactly one line on stderr containing `phrase`, no raw text.
    static func expectOneLine(
        _ result: CLI.Result, _ phrase: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status != 0, "\(what) should fail", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1, "\(what): one line on stderr, got: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(phrase), "\(what): stderr should say '\(phrase)': \(result.stderr)", sourceLocation: sourceLocation)
        for text in raw {
            #expect(!result.stderr.contains(text), "\(what): no '\(text)' on stderr: \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    /// Runs `readinglist ARGS` in the test's folder and expects one line with `phrase`, and no file created or removed.
    static func refuses(
        _ cli: CLI, _ arguments: [String], environment: [String: String] = [:], saying phrase: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = listing(cli.folder)
        let result = try cli.run(arguments, environment: environment)
        expectOneLine(result, phrase, "readinglist \(arguments.joined(separator: " "))", sourceLocation: sourceLocation)
        #expect(listing(cli.folder) == before, "readinglist \(arguments.joined(separator: " ")) changed the files: \(listing(cli.folder).symmetricDifference(before).sorted())", sourceLocation: sourceLocation)
    }

    /// Runs `readinglist-server ARGS` and expects one line with `phrase`, and no file created or removed in `folder`.
    static func serverRefuses(
        _ folder: String, _ arguments: [String], saying phrase: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = listing(folder)
        let result = try ServerProcess.runServerCommand(arguments)
        expectOneLine(result, phrase, "readinglist-server \(arguments.joined(separator: " "))", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(result.stdout)", sourceLocation: sourceLocation)
        #expect(listing(folder) == before, "readinglist-server \(arguments.joined(separator: " ")) changed the files: \(listing(folder).symmetricDifference(before).sorted())", sourceLocation: sourceLocation)
    }

    @Test func aServerURLIsCheckedCompletelyBeforeAnythingElse() throws {
        let cli = try CLI()
        let cases: [(String, String)] = [
            ("http://127.0.0.1:99999", "invalid server URL 'http://127.0.0.1:99999': the port 99999 is out of range (1 to 65535)"),
            ("http://127.0.0.1:0", "the port 0 is out of range"),
            ("http://127.0.0.1:", "the port is empty"),
            ("http://127.0.0.1:80a", "the port '80a' is not a number"),
            ("http://", "invalid server URL 'http://': it has no host"),
            ("http://[::1", "the IPv6 address is not closed with ']'"),
            ("http://::1:8080", "an IPv6 address must be in brackets"),
            ("http://999.1.1.1:8080", "'999.1.1.1' is not a valid IPv4 address"),
            ("127.0.0.1:8080", "it must start with http:// or https://"),
            ("ftp://127.0.0.1:8080", "the scheme 'ftp' is not supported"),
            ("http://me:secret@127.0.0.1:8080", "credentials"),
            ("http://127.0.0.1:8080/?x=1", "a query (?...) is not allowed"),
            ("http://127.0.0.1:8080/#top", "a fragment (#...) is not allowed"),
            ("http://127.0.0.1 :8080", "a space"),
        ]
        for (url, phrase) in cases {
            // A new replica, and through the environment: nothing is created either way.
            try Self.refuses(cli, ["--db", cli.path("new.sqlite"), "sync", "--server", url, "--token", "rl_x"], saying: phrase)
            try Self.refuses(
                cli, ["--db", cli.path("new.sqlite"), "sync"], environment: ["READINGLIST_SERVER": url, "READINGLIST_TOKEN": "rl_x"], saying: phrase)
        }
        // An existing replica is not changed (not even opened for writing).
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let bytes = cli.fileBytes("me.sqlite")
        try Self.refuses(cli, ["--db", cli.path("me.sqlite"), "sync", "--server", "http://127.0.0.1:99999", "--token", "rl_x"], saying: "out of range")
        #expect(cli.fileBytes("me.sqlite") == bytes)
    }

    @Test func aFirstSyncToAServerThatIsDownFailsAtOnceAndLeavesNothing() throws {
        let cli = try CLI()
        let started = Date()
        try Self.refuses(
            cli, ["--db", cli.path("new.sqlite"), "sync", "--server", "http://127.0.0.1:9", "--token", "rl_x"],
            saying: "cannot reach the server: nothing is answering at http://127.0.0.1:9 (connection refused)")
        #expect(Date().timeIntervalSince(started) < 5, "a first sync does not retry for long")
        // Also with --no-snapshot (page by page from the start), and into a replica that never synced.
        try Self.refuses(
            cli, ["--db", cli.path("new.sqlite"), "sync", "--server", "http://127.0.0.1:9", "--token", "rl_x", "--no-snapshot"],
            saying: "(connection refused)")
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let bytes = cli.fileBytes("me.sqlite")
        try Self.refuses(cli, ["--db", cli.path("me.sqlite"), "sync", "--server", "http://127.0.0.1:9", "--token", "rl_x"], saying: "(connection refused)")
        #expect(cli.fileBytes("me.sqlite") == bytes)
        #expect(Date().timeIntervalSince(started) < 15)
        // A name that does not resolve.
        try Self.refuses(
            cli, ["--db", cli.path("new.sqlite"), "sync", "--server", "http://nosuch.invalid:8080", "--token", "rl_x"],
            saying: "the host name 'nosuch.invalid' does not resolve")
    }

    @Test func aURLThatReachesSomethingElseSaysWhatIsWrong() throws {
        let cli = try CLI()
        let token = try ServerProcess.addUser("alice", database: cli.path("server.sqlite"))
        let server = try ServerProcess(database: cli.path("server.sqlite"))
        defer { server.stop() }
        // A path prefix the server does not have: not "HTTP 404:" and nothing after it.
        try Self.refuses(
            cli, ["--db", cli.path("new.sqlite"), "sync", "--server", server.url + "/readinglist", "--token", token],
            saying: "\(server.url)/readinglist is not a readinglist server (HTTP 404 for /readinglist/v1/sync); check the URL's path")
        // HTTPS to the plain-HTTP port.
        let https = "https://" + server.url.dropFirst("http://".count)
        try Self.refuses(
            cli, ["--db", cli.path("new.sqlite"), "sync", "--server", https, "--token", token],
            saying: "\(https) does not speak HTTPS on this port; try \(server.url)")
        // The right URL (spelt with a trailing slash) works, and is remembered as the canonical one.
        let output = try cli.on("new.sqlite", "sync", "--server", server.url + "/", "--token", token)
        #expect(output.hasPrefix("synced with \(server.url):"), "\(output)")
        #expect(try cli.on("new.sqlite", "sync").hasPrefix("synced with \(server.url):"))
    }

    @Test func adminCommandsThatOnlyReadDoNotCreateAServerDatabase() throws {
        let cli = try CLI()
        let typo = cli.path("typo.sqlite")
        for arguments in [["user", "list"], ["user", "revoke", "bob"], ["user", "token", "bob"]] {
            try Self.serverRefuses(cli.folder, arguments + ["--db", typo], saying: "no server database at '\(typo)'; `user add` creates one")
        }
    }

    @Test func aBusyPortOrABadHostIsOneLineAndLeavesNothing() throws {
        let cli = try CLI()
        let first = try ServerProcess(database: cli.path("a.sqlite"))
        defer { first.stop() }
        let port = try #require(first.url.split(separator: ":").last.map(String.init))
        try Self.serverRefuses(
            cli.folder, ["serve", "--db", cli.path("b.sqlite"), "--host", "127.0.0.1", "--port", port],
            saying: "cannot listen on 127.0.0.1:\(port): the port is already in use")
        // A database that was there before stays.
        _ = try ServerProcess.addUser("carol", database: cli.path("c.sqlite"))
        try Self.serverRefuses(
            cli.folder, ["serve", "--db", cli.path("c.sqlite"), "--host", "127.0.0.1", "--port", port], saying: "the port is already in use")
        #expect(FileManager.default.fileExists(atPath: cli.path("c.sqlite")))
        try Self.serverRefuses(
            cli.folder, ["serve", "--db", cli.path("b.sqlite"), "--host", "999.1.1.1", "--port", "0"],
            saying: "--host 999.1.1.1 is not a valid IPv4 address")
        try Self.serverRefuses(
            cli.folder, ["serve", "--db", cli.path("b.sqlite"), "--host", "nosuch.invalid", "--port", "0"],
            saying: "--host 'nosuch.invalid' is not an address of this machine")
    }

    @Test func anEmptyFileOrAMissingFolderIsRefusedUntouched() throws {
        let cli = try CLI()
        let empty = cli.path("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty, contents: nil))
        for arguments in [["list"], ["add", "https://example.com/a"], ["status"], ["sync", "--server", "http://127.0.0.1:9", "--token", "rl_x"]] {
            try Self.refuses(cli, ["--db", empty] + arguments, saying: "'\(empty)' is empty, not a replica")
            #expect(cli.fileBytes("empty.sqlite")?.isEmpty == true, "the empty file stays empty")
        }
        try cli.on("me.sqlite", "add", "https://example.com/a")
        try Self.refuses(cli, ["--db", cli.path("me.sqlite"), "sync", "--peer", empty], saying: "is empty, not a replica")
        #expect(cli.fileBytes("empty.sqlite")?.isEmpty == true)

        let missing = cli.path("no/such/folder/x.sqlite")
        for arguments in [["add", "https://example.com/a"], ["sync", "--server", "http://127.0.0.1:9", "--token", "rl_x"], ["sync", "--peer", cli.path("me.sqlite")]] {
            try Self.refuses(cli, ["--db", missing] + arguments, saying: "no folder '\(cli.path("no/such/folder"))'")
        }
        try Self.refuses(cli, ["add", "https://example.com/a"], environment: ["READINGLIST_DB": missing], saying: "no folder")
        // The default location is the replicas' home: its folder is made for the first article.
        let saved = try cli.run(["add", "https://example.com/a"])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(FileManager.default.fileExists(atPath: cli.path(".local/share/readinglist/replica.sqlite")))
    }

    @Test func aFailedCommandAtTheDefaultLocationRemovesTheFoldersItMade() throws {
        let cli = try CLI()
        try Self.refuses(cli, ["add", "not a url"], saying: "invalid URL")
        try Self.refuses(cli, ["sync", "--server", "http://127.0.0.1:9", "--token", "rl_x"], saying: "(connection refused)")
        #expect(!FileManager.default.fileExists(atPath: cli.path(".local")))
    }

    @Test func negativeNumbersAreValuesWithAMessageAboutThem() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let db = ["--db", cli.path("me.sqlite")]
        let cases: [([String], String)] = [
            (db + ["resolve", "example.com/a", "title", "--keep", "-1"], "--keep must be at least 1 (the value `conflicts` shows first), not -1"),
            (db + ["log", "--limit", "-1"], "--limit must be at least 1, not -1"),
            (db + ["log", "--limit", "0"], "--limit must be at least 1, not 0"),
            (db + ["edit", "example.com/a", "--word-count", "-5"], "--word-count must be at least 0, not -5"),
            (db + ["sync", "--page-size", "-1", "--server", "http://127.0.0.1:9", "--token", "rl_x"], "--page-size must be at least 1, not -1"),
            (db + ["sync", "--attempts", "-2", "--server", "http://127.0.0.1:9", "--token", "rl_x"], "--attempts must be at least 1, not -2"),
            (["simulate", "--seed", "-5"], "--seed must be a whole number from 0 to 18446744073709551615, not -5"),
            (["simulate", "--count", "-1"], "--count must be at least 1, not -1"),
            (["simulate", "--replicas", "-3"], "--replicas must be 1 to 16, not -3"),
            (["simulate", "--ops", "-1"], "--ops must be at least 0, not -1"),
        ]
        let bytes = cli.fileBytes("me.sqlite")
        for (arguments, phrase) in cases {
            try Self.refuses(cli, arguments, saying: phrase)
        }
        #expect(cli.fileBytes("me.sqlite") == bytes)

        let server = cli.path("server.sqlite")
        let serverCases: [([String], String)] = [
            (["--retention-days", "-3"], "--retention-days must be 1 to 36500, not -3"),
            (["--port", "-1"], "--port must be 0 to 65535, not -1"),
            (["--port", "70000"], "--port must be 0 to 65535, not 70000"),
            (["--max-push", "-1"], "--max-push must be at least 1, not -1"),
            (["--max-body-bytes", "-1"], "--max-body-bytes must be at least 1024, not -1"),
        ]
        for (arguments, phrase) in serverCases {
            try Self.serverRefuses(cli.folder, ["serve", "--db", server, "--host", "127.0.0.1"] + arguments, saying: phrase)
        }
    }

    @Test func progressAfterADoubleDashDoesNotEchoADatabaseNobodyTyped() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let result = try cli.run(["--db", cli.path("me.sqlite"), "progress", "example.com/a", "--", "-0.1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("-0.1"), "\(result.stderr)")
        #expect(!result.stderr.contains(cli.path("me.sqlite")), "the --db given before the command is not shown as a fraction: \(result.stderr)")
        #expect(!result.stderr.split(separator: "\n").contains { $0.hasPrefix("Error") && $0.contains("--db") }, "\(result.stderr)")
    }
}
