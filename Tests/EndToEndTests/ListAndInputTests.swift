import Foundation
import Testing

/// The CLI's list filters, the rule for blank text, re-saves and commands
/// that change nothing, through the built executable.
@Suite("readinglist list and input rules")
struct ListAndInputTests {
    func ids(_ cli: CLI, _ arguments: String...) throws -> [String] {
        let result = try cli.run(["--db", cli.path("me.sqlite"), "list", "--json"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        return list.compactMap { ($0["normalizedURL"] as? String)?.replacingOccurrences(of: "https://example.com/", with: "") }
    }

    @Test func listFiltersCombineSortAndLimit() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "Banana", "--tag", "swift")
        try cli.on("me.sqlite", "add", "https://example.com/b", "--title", "apple", "--tag", "swift", "--tag", "long")
        try cli.on("me.sqlite", "add", "https://example.com/c", "--title", "Cherry")
        try cli.on("me.sqlite", "add", "https://example.com/d", "--tag", "swift")
        try cli.on("me.sqlite", "favorite", "https://example.com/a")
        try cli.on("me.sqlite", "favorite", "https://example.com/b")
        try cli.on("me.sqlite", "read", "https://example.com/b")
        try cli.on("me.sqlite", "archive", "https://example.com/d")

        #expect(try ids(cli) == ["d", "c", "b", "a"])
        #expect(try ids(cli, "--unread", "--favorites") == ["a"])
        #expect(try ids(cli, "--tag", "swift", "--favorites") == ["b", "a"])
        #expect(try ids(cli, "--tag", "swift", "--tag", "long") == ["b"])
        #expect(try ids(cli, "--read", "--tag", "swift") == ["b"])
        #expect(try ids(cli, "--unread", "--archived") == ["d"])
        #expect(try ids(cli, "--sort", "oldest") == ["a", "b", "c", "d"])
        #expect(try ids(cli, "--sort", "title") == ["b", "a", "c", "d"])  // apple, Banana, Cherry, then by URL
        #expect(try ids(cli, "--sort", "oldest", "--limit", "2") == ["a", "b"])
        try cli.fails("me.sqlite", "list", "--limit", "0", mentioning: "--limit must be at least 1, not 0")
        try cli.fails("me.sqlite", "list", "--limit", "-3", mentioning: "--limit must be at least 1, not -3")
        try cli.fails("me.sqlite", "list", "--sort", "random", mentioning: "--sort takes one of")
        try cli.fails("me.sqlite", "list", "--unread", "--read", mentioning: "exclude each other")
        try cli.fails("me.sqlite", "list", "--tag", "", mentioning: "--tag needs a tag name")
        try cli.fails("me.sqlite", "watch", "--tag", " # ", mentioning: "--tag needs a tag name")
        try cli.fails("me.sqlite", "show", "d9", mentioning: "give at least 4 characters of its id")
    }

    @Test func blankTextIsRefusedAndClearingIsExplicit() throws {
        let cli = try CLI()
        for blank in ["", "   "] {
            try cli.fails("me.sqlite", "add", "https://example.com/a", "--title", blank, mentioning: "title is empty or only spaces")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.path("me.sqlite")), "a refused first add leaves no file")
        try Data().write(to: URL(fileURLWithPath: cli.path("empty.txt")))
        try cli.fails("me.sqlite", "add", "https://example.com/a", "--content-file", cli.path("empty.txt"), mentioning: "content is empty")
        try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "T", "--note", "n")
        try cli.fails("me.sqlite", "edit", "https://example.com/a", "--title", "", mentioning: "title is empty or only spaces")
        try cli.fails("me.sqlite", "edit", "https://example.com/a", "--clear", "colour", mentioning: "--clear takes one of")
        try cli.on("me.sqlite", "edit", "https://example.com/a", "--clear", "note")
        let article = try #require(try cli.json("me.sqlite", "show", "https://example.com/a") as? [String: Any])
        #expect(article["title"] as? String == "T")
        #expect(article["note"] is NSNull || article["note"] == nil)
        let big = String(repeating: "x", count: 2 << 20 + 1)
        try Data(big.utf8).write(to: URL(fileURLWithPath: cli.path("big.txt")))
        try cli.fails("me.sqlite", "add", "https://example.com/b", "--content-file", cli.path("big.txt"), mentioning: "holds at most 2.0 MB")
    }

    @Test func aReSaveSaysWhatItWroteAndANoOpWritesNothing() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "T")
        #expect(try cli.on("me.sqlite", "add", "https://example.com/a").contains("already saved"))
        #expect(try cli.on("me.sqlite", "add", "https://example.com/a", "--tag", "x").contains("wrote #x"))
        try cli.on("me.sqlite", "read", "https://example.com/a")
        try cli.on("me.sqlite", "archive", "https://example.com/a")
        let log = try cli.on("me.sqlite", "log", "--json")
        try cli.on("me.sqlite", "read", "https://example.com/a")
        try cli.on("me.sqlite", "archive", "https://example.com/a")
        try cli.on("me.sqlite", "unfavorite", "https://example.com/a")
        try cli.on("me.sqlite", "tag", "https://example.com/a", "x")
        try cli.on("me.sqlite", "edit", "https://example.com/a", "--clear", "word-count")  // never set
        #expect(try cli.on("me.sqlite", "log", "--json") == log)  // none of the above wrote anything
        try cli.on("me.sqlite", "add", "https://example.com/b")
        let logB = try cli.on("me.sqlite", "log", "--json")
        try cli.on("me.sqlite", "progress", "https://example.com/b", "0")  // where it starts
        #expect(try cli.on("me.sqlite", "log", "--json") == logB)
        #expect(try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "T").contains("kept it in the list (a save always says keep this)"))
    }

    @Test func controlCharactersAndAnEmptyPathAreRefused() throws {
        let cli = try CLI()
        try cli.fails("me.sqlite", "add", "https://example.com/a", "--title", "evil\u{1B}[2Jtitle", mentioning: "control character (U+001B)")
        try cli.fails("me.sqlite", "add", "https://example.com/a", "--title", "two\nlines", mentioning: "a title is one line of text")
        try cli.on("me.sqlite", "add", "https://example.com/a", "--note", "two\nlines\tare fine in a note")
        let empty = try cli.run(["--db", "", "add", "https://example.com/z"])
        #expect(empty.status != 0 && empty.stderr.contains("the replica's path is empty"))
        // A right-to-left override is kept (it is text), but shown escaped: it cannot turn the rest of a line around.
        try cli.on("me.sqlite", "add", "https://example.com/rtl", "--title", "txt.\u{202E}exe.doc 👨‍👩‍👧")
        let list = try cli.on("me.sqlite", "list")
        #expect(list.contains("txt.\\u{202E}exe.doc 👨‍👩‍👧") && !list.unicodeScalars.contains("\u{202E}"))
    }

    @Test func theServerRefusesMissingFoldersAndOtherFilesLeavingNothing() throws {
        let cli = try CLI()
        let missing = try ServerProcess.runServerCommand(["user", "add", "x", "--db", cli.path("nodir/s.sqlite")])
        #expect(missing.status != 0 && missing.stderr.contains("no folder"))
        #expect(!FileManager.default.fileExists(atPath: cli.path("nodir")))
        try cli.on("replica.sqlite", "add", "https://example.com/a")
        let notServer = try ServerProcess.runServerCommand(["user", "add", "x", "--db", cli.path("replica.sqlite")])
        #expect(notServer.status != 0 && notServer.stderr.contains("is not a readinglist server database"))
        #expect(!FileManager.default.fileExists(atPath: cli.path("replica.sqlite.spaces")))
        let empty = try ServerProcess.runServerCommand(["user", "add", "x", "--db", ""])
        #expect(empty.status != 0 && empty.stderr.contains("--db is empty"))
    }

    @Test func credentialsInAURLAreNotKept() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://alice:s3cret@example.com/a")
        let article = try #require(try cli.json("me.sqlite", "show", "https://example.com/a") as? [String: Any])
        #expect(article["url"] as? String == "https://example.com/a")
        #expect(!(try cli.on("me.sqlite", "log", "--json")).contains("s3cret"))
        try cli.fails("me.sqlite", "add", "mailto:someone@example.com", mentioning: "only http and https URLs can be saved, not 'mailto'")
        try cli.fails("me.sqlite", "add", "javascript:alert(1)", mentioning: "not 'javascript'")
        // A refused URL's error does not print the password either.
        let refused = try cli.run(["--db", cli.path("me.sqlite"), "add", "https://u:s3cret@exa mple.com/"])
        #expect(refused.status != 0 && !refused.stderr.contains("s3cret"))
    }
}
