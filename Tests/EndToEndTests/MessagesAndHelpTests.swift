import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore
import Testing

/// The hardening issue's items 9, 12 and 14, through the built executables:
/// messages that say what happened, tag and image-URL rules, and help texts.
@Suite("messages, tags and help", .serialized)
struct MessagesAndHelpTests {
    // MARK: - Item 9: messages

    @Test func syncingAReplicaWithItsOwnFileSaysSoAndACopyIsToldToResetIdentity() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "A")
        try FileManager.default.createSymbolicLink(atPath: cli.path("link.sqlite"), withDestinationPath: cli.path("me.sqlite"))
        try FileManager.default.linkItem(atPath: cli.path("me.sqlite"), toPath: cli.path("hard.sqlite"))
        let bytes = cli.fileBytes("me.sqlite")
        // The same path, the same file under other names: "this replica's own file", no reset-identity advice.
        for peer in [cli.path("me.sqlite"), cli.folder + "/./me.sqlite", "me.sqlite", cli.path("link.sqlite"), cli.path("hard.sqlite")] {
            let result = try cli.run(["--db", cli.path("me.sqlite"), "sync", "--peer", peer])
            HardeningTests.expectOneLine(result, "'\(peer)' is this replica's own file", "sync --peer \(peer)")
            #expect(result.stderr.hasPrefix("error: "), "\(result.stderr)")
            #expect(!result.stderr.contains("reset-identity"), "the same file is no copy: \(result.stderr)")
            #expect(!result.stderr.contains("copy"), "\(result.stderr)")
        }
        #expect(cli.fileBytes("me.sqlite") == bytes)
        // A genuine copy (same replica id, another file) is told to reset its identity, both ways.
        try cli.copy("me.sqlite", "copy.sqlite")
        try cli.fails("me.sqlite", "sync", "--peer", cli.path("copy.sqlite"), mentioning: "is a copy of this replica's file")
        try cli.fails("copy.sqlite", "sync", "--peer", cli.path("me.sqlite"), mentioning: "reset-identity")
        // After reset-identity the copy syncs.
        try cli.on("copy.sqlite", "reset-identity")
        #expect(try cli.on("copy.sqlite", "sync", "--peer", cli.path("me.sqlite")).contains("synced with"))
    }

    @Test func serverRuntimeErrorsAreOneLowercaseLineWithoutUsage() throws {
        let cli = try CLI()
        let db = cli.path("server.sqlite")
        _ = try ServerProcess.addUser("alice", database: db)
        let cases: [([String], String)] = [
            (["serve", "--db", db, "--log-level", "loud"], "error: unknown log level 'loud'"),
            (["serve", "--db", db, "--postgres", "postgres://u@127.0.0.1:1/x"], "error: use either --db or --postgres, not both"),
            (["serve", "--db", db, "--port", "70000"], "error: --port must be 0 to 65535, not 70000"),
            (["user", "add", "", "--db", db], "error: a user name is 1 to 100 characters on one line"),
            (["user", "add", "alice", "--db", db], "error: user 'alice' already exists"),
            (["user", "list", "--db", cli.path("typo.sqlite")], "error: no server database at"),
            (["user", "revoke", "bob", "--db", db], "error: no active user 'bob'"),
            (["user", "token", "bob", "--db", db], "error: no user 'bob'"),
        ]
        for (arguments, phrase) in cases {
            let result = try ServerProcess.runServerCommand(arguments)
            HardeningTests.expectOneLine(result, phrase, "readinglist-server \(arguments.joined(separator: " "))")
            #expect(result.status == 1, "\(arguments): \(result.status)")
            #expect(result.stderr.hasPrefix("error: "), "\(result.stderr)")
            #expect(!result.stderr.contains("Usage") && !result.stderr.contains("Error:"), "\(result.stderr)")
        }
        // A malformed command line still gets ArgumentParser's message and the usage.
        for arguments in [["serve", "--bogus"], ["user", "add"], ["serve", "--port"], ["serve", "--port", "abc"]] {
            let result = try ServerProcess.runServerCommand(arguments + ["--db", db])
            #expect(result.status == 64, "\(arguments): \(result.status)")
            #expect(result.stderr.contains("Usage: readinglist-server"), "\(arguments): \(result.stderr)")
        }
    }

    @Test func clientErrorsAreLowercaseAndOnlyAMalformedCommandLineShowsUsage() throws {
        let cli = try CLI()
        let result = try cli.run(["--db", cli.path("missing.sqlite"), "list"])
        HardeningTests.expectOneLine(result, "error: no replica database", "list of a missing replica")
        #expect(result.stderr.hasPrefix("error: "))
        let malformed = try cli.run(["--db", cli.path("missing.sqlite"), "list", "--bogus"])
        #expect(malformed.status == 64 && malformed.stderr.contains("Usage: readinglist list"), "\(malformed.stderr)")
    }

    // MARK: - Item 12: tags and image URLs

    @Test func tagsAreNormalisedShownUnambiguouslyAndRefusedWithTheRuleThatFailed() throws {
        let cli = try CLI()
        let added = try cli.on("me.sqlite", "add", "https://example.com/a", "--tag", "#Hash", "--tag", "  Two \t Words ", "--tag", "SWIFT", "--tag", "say \"hi\"")
        #expect(added.hasPrefix("saved "))
        let line = try cli.on("me.sqlite", "list")
        #expect(line.hasSuffix("  #hash #\"say \\\"hi\\\"\" #swift #\"two words\"\n"), "\(line)")
        #expect(try cli.on("me.sqlite", "show", "example.com/a").contains("tags        #hash #\"say \\\"hi\\\"\" #swift #\"two words\"\n"))
        // --json: plain names.
        let list = try #require(try cli.json("me.sqlite", "list") as? [[String: Any]])
        #expect(list.first?["tags"] as? [String] == ["hash", "say \"hi\"", "swift", "two words"])
        // A tag is named the same way everywhere: `#Swift` is swift.
        #expect(try cli.on("me.sqlite", "list", "--tag", "#Swift").contains("example.com/a"))
        #expect(try cli.on("me.sqlite", "list", "--tag", "TWO   words").contains("example.com/a"))
        // Saving again says what it wrote as the list shows it.
        let again = try cli.on("me.sqlite", "add", "https://example.com/a", "--tag", "#Café", "--tag", "new  one")
        #expect(again.contains("wrote #café, #\"new one\""), "\(again)")
        // A decomposed é is the same tag.
        try cli.on("me.sqlite", "untag", "example.com/a", "CAFE\u{301}", "#New one")
        #expect(!(try cli.on("me.sqlite", "list")).contains("café"))
        // Refusals name the rule; nothing is written.
        let bytes = cli.fileBytes("me.sqlite")
        let refusals: [(String, String)] = [
            ("#", "invalid tag '#': a tag needs at least one character besides spaces and a leading '#'"),
            ("   ", "a tag needs at least one character"),
            ("a,b", "invalid tag 'a,b': a tag cannot contain ','"),
            ("a\u{1B}[31mb", "invalid tag 'a\\u{1B}[31mb': a tag cannot contain a control character (U+001B)"),
            ("a\u{200B}b", "an invisible formatting character (U+200B)"),
            ("a\u{202E}b", "(U+202E)"),
            (String(repeating: "x", count: 101), "a tag has at most 100 characters, this one 101"),
        ]
        for (tag, phrase) in refusals {
            try cli.fails("me.sqlite", "tag", "example.com/a", tag, mentioning: phrase)
            try cli.fails("me.sqlite", "add", "https://example.com/b", "--tag", tag, mentioning: phrase)
        }
        #expect(cli.fileBytes("me.sqlite") == bytes)
        // 100 characters are fine, emoji with joiners too.
        try cli.on("me.sqlite", "tag", "example.com/a", String(repeating: "y", count: 100), "👩‍💻")
        #expect(try cli.on("me.sqlite", "list").contains("#👩‍💻"))
    }

    @Test func tagsSavedBeforeTheRulesStillShowUnambiguouslyAndSync() throws {
        let cli = try CLI()
        try cli.on("old.sqlite", "add", "https://example.com/a", "--tag", "swift")
        // Tags an earlier version let through, arriving from another replica (received changes are not checked).
        let store = try ReplicaStore.open(path: cli.path("old.sqlite"))
        let id = try store.resolve("https://example.com/a")
        let writer = try #require(ReplicaID(String(repeating: "ab", count: 16)))
        var context = try store.knowledge()
        var entries: [LogEntry] = []
        for (counter, name) in ["#hash", "two\nlines", "Mixed"].enumerated() {
            let dot = Dot(writer, UInt64(counter + 1))
            entries.append(.change(Change(
                dot: dot, entity: .article(id), field: Fields.tag(name), value: true, context: context,
                hlc: HLC(millis: 1_800_000_000_000, logical: UInt16(counter)))))
            context[writer] = dot.counter
        }
        _ = try store.apply(entries)
        try store.close()
        let line = try cli.on("old.sqlite", "list")
        #expect(line.hasSuffix("  #\"#hash\" #Mixed #swift #\"two\\nlines\"\n"), "\(line)")
        // They sync as they are, and new tags still add to them.
        try cli.on("new.sqlite", "sync", "--peer", cli.path("old.sqlite"))
        let tags = try #require(try cli.json("new.sqlite", "show", "example.com/a") as? [String: Any])["tags"] as? [String]
        #expect(tags == ["#hash", "Mixed", "swift", "two\nlines"])
        try cli.on("new.sqlite", "tag", "example.com/a", "fresh")
        #expect(try cli.on("new.sqlite", "list").contains("#\"#hash\" #Mixed #fresh #swift"))
    }

    @Test func anImageURLMustBeHTTPAndIsStoredTrimmedWithoutCredentials() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a")
        let bytes = cli.fileBytes("me.sqlite")
        try cli.fails("me.sqlite", "edit", "example.com/a", "--image-url", "not a url", mentioning: "invalid image URL 'not a url'")
        try cli.fails("me.sqlite", "edit", "example.com/a", "--image-url", "javascript:alert(1)", mentioning: "invalid image URL 'javascript:alert(1)'")
        try cli.fails("me.sqlite", "edit", "example.com/a", "--image-url", "/images/a.png", mentioning: "invalid image URL")
        try cli.fails("me.sqlite", "edit", "example.com/a", "--image-url", "  ", mentioning: "empty or only spaces")
        #expect(cli.fileBytes("me.sqlite") == bytes)
        try cli.on("me.sqlite", "edit", "example.com/a", "--image-url", "  https://me:pw@IMG.example.com/A.png?w=1  ")
        let article = try #require(try cli.json("me.sqlite", "show", "example.com/a") as? [String: Any])
        #expect(article["imageURL"] as? String == "https://IMG.example.com/A.png?w=1")
        try cli.on("me.sqlite", "edit", "example.com/a", "--clear", "image-url")
    }

    @Test func resolvingAnImageURLConflictChecksTheValueToo() throws {
        let cli = try CLI()
        try cli.on("a.sqlite", "add", "https://example.com/a")
        try cli.on("b.sqlite", "sync", "--peer", cli.path("a.sqlite"))
        try cli.on("a.sqlite", "edit", "example.com/a", "--image-url", "https://example.com/1.png")
        try cli.on("b.sqlite", "edit", "example.com/a", "--image-url", "https://example.com/2.png")
        try cli.on("a.sqlite", "sync", "--peer", cli.path("b.sqlite"))
        try cli.fails("a.sqlite", "resolve", "example.com/a", "imageURL", "--value", "nope", mentioning: "invalid image URL 'nope'")
        try cli.on("a.sqlite", "resolve", "example.com/a", "imageURL", "--value", " http://example.com/3.png ")
        let article = try #require(try cli.json("a.sqlite", "show", "example.com/a") as? [String: Any])
        #expect(article["imageURL"] as? String == "http://example.com/3.png")
    }

    // MARK: - Item 14: help, wording, numbering

    /// Every command's arguments, options and flags, from ArgumentParser's own description of the command tree.
    static func undescribed(_ executable: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--experimental-dump-help"]
        let result = try CLI.capture(process)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        var missing: [String] = []
        var commands = 0
        func walk(_ command: [String: Any], _ path: String) {
            commands += 1
            if (command["abstract"] as? String ?? "").isEmpty { missing.append("\(path): no abstract") }
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["shouldDisplay"] as? Bool ?? true {
                let abstract = argument["abstract"] as? String ?? ""
                let name = (argument["preferredName"] as? [String: Any])?["name"] as? String ?? argument["valueName"] as? String ?? "?"
                // A help text that only repeats the value's name in capitals (ID-OR-URL, TAG...) describes nothing.
                if abstract.isEmpty || abstract == abstract.uppercased() { missing.append("\(path) \(name)") }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                let name = sub["commandName"] as? String ?? "?"
                guard name != "help" else { continue } // ArgumentParser's own
                walk(sub, path + " " + name)
            }
        }
        walk(try #require(root["command"] as? [String: Any]), (executable as NSString).lastPathComponent)
        #expect(commands > 5)
        return missing
    }

    @Test func everyOptionFlagAndArgumentOfBothExecutablesIsDescribed() throws {
        #expect(try Self.undescribed(CLI.executable) == [])
        #expect(try Self.undescribed(ServerProcess.executable) == [])
        // The text help too: no option line of `edit --help` stands alone.
        let cli = try CLI()
        let help = try cli.run(["edit", "--help"]).stdout
        for phrase in ["--title <title>         A new title.", "--image-url <image-url>", "http or https", "--word-count <word-count>", "The article: its id"] {
            #expect(help.contains(phrase), "edit --help: \(phrase)")
        }
        for command in [["conflicts"], ["status"], ["log"], ["sync"], ["highlight", "list"]] {
            let text = try cli.run(command + ["--help"]).stdout
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("  --json") }, "\(command)")
            #expect(line.count > "  --json".count + 10, "\(command): \(line)")
        }
        #expect(try cli.run(["tag", "--help"]).stdout.contains("lowercased"))
    }

    @Test func helpAndVersionStillWorkEveryWay() throws {
        let cli = try CLI()
        for arguments in [["--help"], ["help"], ["help", "tag"], ["tag", "--help"], ["highlight", "add", "-h"], ["--version"]] {
            let result = try cli.run(arguments)
            #expect(result.status == 0 && !result.stdout.isEmpty && result.stderr.isEmpty, "readinglist \(arguments): \(result.stderr)")
        }
        for arguments in [["--help"], ["help", "user"], ["serve", "--help"], ["user", "add", "--help"], ["--version"]] {
            let result = try ServerProcess.runServerCommand(arguments)
            #expect(result.status == 0 && !result.stdout.isEmpty && result.stderr.isEmpty, "readinglist-server \(arguments): \(result.stderr)")
        }
    }

    @Test func serveHelpShowsEveryDefault() throws {
        let result = try ServerProcess.runServerCommand(["serve", "--help"])
        let text = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for phrase in [
            "$READINGLIST_SERVER_MAX_BODY_BYTES, else 8388608 = 8 MiB", "$READINGLIST_SERVER_MAX_PUSH, else 5000",
            "$READINGLIST_SERVER_LOG_LEVEL, else info", "$READINGLIST_SERVER_RETENTION_DAYS, else 90",
            "$READINGLIST_SERVER_PORT, else 8080", "$READINGLIST_SERVER_HOST, else 127.0.0.1",
        ] {
            #expect(text.contains(phrase), "serve --help should say '\(phrase)': \(result.stdout)")
        }
    }

    @Test func showNumbersReadThroughsAsTheJSONDoes() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a")
        try cli.on("me.sqlite", "progress", "example.com/a", "0.4")
        #expect(try cli.on("me.sqlite", "show", "example.com/a").contains("progress    40% (readEpoch 0)"))
        #expect((try cli.json("me.sqlite", "show", "example.com/a") as? [String: Any])?["readEpoch"] as? Int == 0)
        try cli.on("me.sqlite", "read", "example.com/a")
        try cli.on("me.sqlite", "unread", "example.com/a")
        #expect(try cli.on("me.sqlite", "show", "example.com/a").contains("progress    0% (readEpoch 1)"))
        #expect((try cli.json("me.sqlite", "show", "example.com/a") as? [String: Any])?["readEpoch"] as? Int == 1)
    }

    @Test func theSimulatorCallsReorderedRequestsByTheFaultsName() throws {
        let cli = try CLI()
        let result = try cli.run(["simulate", "--seed", "3", "--count", "2", "--replicas", "3", "--ops", "30", "--faults", "reorder"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("reordered (stale) requests"), "\(result.stdout)")
        #expect(!result.stdout.contains("stale replays"))
        let help = try cli.run(["simulate", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("reorder (an earlier request delivered again late: reordered, stale requests;"), "\(help)")
    }
}
