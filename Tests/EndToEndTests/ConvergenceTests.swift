import Foundation
import Testing

@Suite("readinglist executable end to end", .serialized)
struct ConvergenceTests {
    /// Three devices edit concurrently; merged with `sync --peer` in three
    /// different orders, every copy prints the identical list with exactly
    /// the winners and conflicts the merge contract promises.
    @Test func threeReplicasConvergeInAnyOrder() throws {
        let cli = try CLI()
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "Original", "--tag", "news")
        try cli.on("phone.sqlite", "add", "https://example.com/b", "--tag", "keep")
        try cli.on("phone.sqlite", "add", "https://example.com/c", "--tag", "x")
        try cli.on("laptop.sqlite", "sync", "--peer", cli.path("phone.sqlite"))
        try cli.on("tablet.sqlite", "sync", "--peer", cli.path("phone.sqlite"))

        // Concurrent edits, all offline.
        try cli.on("phone.sqlite", "edit", "https://example.com/a", "--title", "Phone title")
        try cli.on("laptop.sqlite", "edit", "https://example.com/a", "--title", "Laptop title")
        try cli.on("laptop.sqlite", "delete", "https://example.com/b")
        try cli.on("tablet.sqlite", "tag", "https://example.com/b", "fresh")
        try cli.on("phone.sqlite", "untag", "https://example.com/c", "x")
        // (The laptop removes and adds the tag again: adding a tag it already shows would write nothing.)
        try cli.on("laptop.sqlite", "untag", "https://example.com/c", "x")
        try cli.on("laptop.sqlite", "tag", "https://example.com/c", "x")
        try cli.on("phone.sqlite", "progress", "https://example.com/a", "0.6")
        try cli.on("laptop.sqlite", "progress", "https://example.com/a", "0.3")
        try cli.on("phone.sqlite", "add", "https://example.com/d?utm_source=twitter&utm_medium=social", "--title", "D")
        try cli.on("tablet.sqlite", "add", "https://EXAMPLE.com/d/#comments", "--title", "D", "--tag", "later")

        let orders: [[(String, String)]] = [
            [("phone", "laptop"), ("laptop", "tablet"), ("tablet", "phone"), ("phone", "laptop")],
            [("tablet", "laptop"), ("laptop", "phone"), ("phone", "tablet"), ("tablet", "laptop")],
            [("laptop", "tablet"), ("phone", "tablet"), ("laptop", "phone"), ("tablet", "laptop")],
        ]
        var lists: [String] = []
        for (index, order) in orders.enumerated() {
            for device in ["phone", "laptop", "tablet"] { try cli.copy("\(device).sqlite", "\(device)\(index).sqlite") }
            for (a, b) in order { try cli.on("\(a)\(index).sqlite", "sync", "--peer", cli.path("\(b)\(index).sqlite")) }
            for device in ["phone", "laptop", "tablet"] { lists.append(try cli.on("\(device)\(index).sqlite", "list", "--json")) }
        }
        #expect(Set(lists).count == 1, "every replica in every order prints the same list")

        let list = try #require(try cli.json("phone0.sqlite", "list") as? [[String: Any]])
        func article(_ suffix: String) throws -> [String: Any] {
            try #require(list.first { ($0["normalizedURL"] as? String) == "https://example.com/\(suffix)" })
        }
        #expect(list.count == 4)
        let a = try article("a")
        #expect(a["title"] as? String == "Laptop title")  // the later edit wins the tie...
        let conflicts = a["conflicts"] as? [[String: Any]]
        #expect(conflicts?.count == 1)
        #expect(conflicts?.first?["field"] as? String == "title")
        #expect(conflicts?.first?["values"] as? [String] == ["Laptop title", "Phone title"])  // ...and the loser is shown
        #expect(a["progress"] as? Double == 0.6)  // progress never moves backwards between devices
        #expect(try article("b")["tags"] as? [String] == ["fresh", "keep"])  // the edit beat the delete, with every field
        #expect(try article("c")["tags"] as? [String] == ["x"])  // add wins over a concurrent remove
        let d = try article("d")
        #expect(d["tags"] as? [String] == ["later"])
        #expect((d["conflicts"] as? [Any])?.isEmpty == true)  // one article, no conflict

        // A second round moves nothing.
        for (a, b) in orders[0] {
            let output = try cli.on("\(a)0.sqlite", "sync", "--peer", cli.path("\(b)0.sqlite"))
            #expect(output.contains("pushed 0, pulled 0"), "\(output)")
        }
        for device in ["phone", "laptop", "tablet"] { #expect(try cli.on("\(device)0.sqlite", "list", "--json") == lists[0]) }

        // Editing the field again clears the conflict everywhere.
        try cli.on("tablet0.sqlite", "edit", "https://example.com/a", "--title", "Final")
        for (a, b) in orders[0] { try cli.on("\(a)0.sqlite", "sync", "--peer", cli.path("\(b)0.sqlite")) }
        for device in ["phone", "laptop", "tablet"] {
            #expect(try cli.on("\(device)0.sqlite", "conflicts", "--json") == "[]\n")
            let shown = try #require(try cli.json("\(device)0.sqlite", "show", "https://example.com/a") as? [String: Any])
            #expect(shown["title"] as? String == "Final")
        }
    }

    @Test func theTourWorks() throws {
        let cli = try CLI()
        let content = cli.path("story.txt")
        try Data("An article's text, with “curly quotes”.".utf8).write(to: URL(fileURLWithPath: content))
        let added = try cli.on("me.sqlite", "add", "https://example.com/story?utm_source=rss", "--title", "A story", "--tag", "Swift", "--note", "for later", "--content-file", content)
        #expect(added.hasPrefix("saved "))
        let id = String(added.split(separator: " ")[1])
        try cli.on("me.sqlite", "read", id)
        try cli.on("me.sqlite", "favorite", "example.com/story")
        try cli.on("me.sqlite", "archive", "https://example.com/story#intro")
        try cli.on("me.sqlite", "highlight", "add", id, "--quote", "curly quotes", "--position", "0.8")
        let shown = try #require(try cli.json("me.sqlite", "show", id) as? [String: Any])
        #expect(shown["content"] as? String == "An article's text, with “curly quotes”.")
        #expect(shown["tags"] as? [String] == ["swift"])
        #expect(shown["isRead"] as? Bool == true && shown["isFavorite"] as? Bool == true && shown["isArchived"] as? Bool == true)
        #expect((shown["highlights"] as? [[String: Any]])?.first?["quote"] as? String == "curly quotes")
        #expect(try cli.on("me.sqlite", "list", "--unread") == "(no articles)\n")
        #expect(try cli.on("me.sqlite", "list", "--archived").contains("A story"))
        #expect(try cli.on("me.sqlite", "list", "--tag", "swift").contains("A story"))
        let listed = try #require(try cli.json("me.sqlite", "list") as? [[String: Any]])
        #expect(listed.first?["content"] == nil)
        try cli.on("me.sqlite", "unread", id)
        #expect((try cli.json("me.sqlite", "show", id) as? [String: Any])?["readEpoch"] as? Int == 1)
        let status = try #require(try cli.json("me.sqlite", "status") as? [String: Any])
        #expect(status["articles"] as? Int == 1)
        #expect((status["replicaID"] as? String)?.count == 32)
        let log = try #require(try cli.json("me.sqlite", "log") as? [[String: Any]])
        #expect(log.contains { $0["field"] as? String == "isRead" })
        // The text log shows when an article was added as a date too.
        let addedLine = try #require(try cli.on("me.sqlite", "log").split(separator: "\n").first { $0.contains("addedAt = ") })
        #expect(addedLine.contains("Z)") && addedLine.contains(" (20"), "\(addedLine)")
        // $READINGLIST_DB and the XDG default.
        let viaEnvironment = try cli.run(["list"], environment: ["READINGLIST_DB": cli.path("me.sqlite")])
        #expect(viaEnvironment.stdout.contains("A story"))
        try cli.run(["add", "https://example.com/default"])
        #expect(FileManager.default.fileExists(atPath: cli.path(".local/share/readinglist/replica.sqlite")))
    }

    @Test func badInputGetsOneClearLineAndChangesNothing() throws {
        let cli = try CLI()
        try cli.on("me.sqlite", "add", "https://example.com/a", "--title", "T")
        try cli.on("other.sqlite", "add", "https://example.com/other")
        try cli.on("me.sqlite", "sync", "--peer", cli.path("other.sqlite"))
        let before = try cli.on("me.sqlite", "list", "--json")
        let beforeLog = try cli.on("me.sqlite", "log", "--json")
        try cli.fails("me.sqlite", "add", "notaurl", mentioning: "invalid URL")
        try cli.fails("me.sqlite", "add", "ftp://example.com/file", mentioning: "only http and https")
        try cli.fails("me.sqlite", "show", "https://example.com/unknown", mentioning: "no article")
        try cli.fails("me.sqlite", "edit", "ffff0000", "--title", "x", mentioning: "no article")
        try cli.fails("me.sqlite", "progress", "https://example.com/a", "1.5", mentioning: "from 0 to 1")
        try cli.fails("me.sqlite", "progress", "https://example.com/a", "half", mentioning: "from 0 to 1")
        // A negative number is the fraction (out of range), not an unknown option.
        try cli.fails("me.sqlite", "progress", "https://example.com/a", "-0.1", mentioning: "invalid progress -0.1")
        try cli.fails("me.sqlite", "resolve", "https://example.com/a", "title", "--keep", "1", mentioning: "no conflict")
        try cli.fails("me.sqlite", "untag", "https://example.com/a", "absent", mentioning: "no tag")
        #expect(try cli.on("me.sqlite", "list", "--json") == before)
        #expect(try cli.on("me.sqlite", "log", "--json") == beforeLog)

        // Files that are not replicas, on either side of a sync, stay byte for byte the same.
        try Data("just some text, not a database at all; long enough for a header".utf8).write(to: URL(fileURLWithPath: cli.path("notes.txt")))
        let notes = cli.fileBytes("notes.txt")
        try cli.fails("notes.txt", "list", mentioning: "not a reading-list replica")
        try cli.fails("me.sqlite", "sync", "--peer", cli.path("notes.txt"), mentioning: "not a reading-list replica")
        try cli.fails("me.sqlite", "sync", "--peer", cli.path("missing.sqlite"), mentioning: "no replica database")
        #expect(cli.fileBytes("notes.txt") == notes)
        #expect(!FileManager.default.fileExists(atPath: cli.path("missing.sqlite")))
        try cli.fails("missing.sqlite", "list", mentioning: "no replica database")

        // A replica written by a newer schema version.
        try cli.copy("me.sqlite", "future.sqlite")
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["sqlite3", cli.path("future.sqlite"), "UPDATE replica_meta SET value = '99' WHERE key = 'schema_version'"]
        try sqlite.run()
        sqlite.waitUntilExit()
        if sqlite.terminationStatus == 0 {
            let future = cli.fileBytes("future.sqlite")
            try cli.fails("future.sqlite", "add", "https://example.com/z", mentioning: "newer version")
            try cli.fails("me.sqlite", "sync", "--peer", cli.path("future.sqlite"), mentioning: "newer version")
            #expect(cli.fileBytes("future.sqlite") == future)
        }
        #expect(try cli.on("me.sqlite", "list", "--json") == before)
    }

    @Test func aCopiedReplicaFileIsCaughtAndCanBeGivenItsOwnIdentity() throws {
        let cli = try CLI()
        try cli.on("phone.sqlite", "add", "https://example.com/a", "--title", "T")
        try cli.on("server.sqlite", "sync", "--peer", cli.path("phone.sqlite"))
        try cli.copy("phone.sqlite", "copy.sqlite")
        try cli.on("phone.sqlite", "edit", "https://example.com/a", "--note", "phone")
        try cli.on("copy.sqlite", "edit", "https://example.com/a", "--note", "copy")
        try cli.on("phone.sqlite", "sync", "--peer", cli.path("server.sqlite"))
        try cli.fails("copy.sqlite", "sync", "--peer", cli.path("server.sqlite"), mentioning: "reset-identity")
        #expect(try cli.on("copy.sqlite", "reset-identity").contains("new replica id"))
        try cli.on("copy.sqlite", "sync", "--peer", cli.path("server.sqlite"))
        try cli.on("phone.sqlite", "sync", "--peer", cli.path("server.sqlite"))
        let shown = try #require(try cli.json("phone.sqlite", "show", "https://example.com/a") as? [String: Any])
        let values = (shown["conflicts"] as? [[String: Any]])?.first { $0["field"] as? String == "note" }?["values"] as? [String]
        #expect(Set(values ?? []) == ["phone", "copy"], "neither device's note is lost")
    }
}
