import ArgumentParser
import Foundation
import ReadingListCommands
import ReadingListModel
import ReplicaStore
import Testing

/// `readinglist search` and `show --text`, parsed and performed as the CLI does, on a real replica.
@Suite("The search and show commands")
struct SearchCommandTests {
    func store() throws -> ReplicaStore {
        let store = try ReplicaStore.inMemory()
        try store.save(SaveRequest(url: "https://example.com/bread", title: "Rye sourdough, the slow way", tags: ["baking"]))
        try store.save(SaveRequest(url: "https://example.com/note", content: "Buy rye flour\nand a proving basket before the weekend"))
        return store
    }

    func run(_ arguments: [String], on store: ReplicaStore) throws -> String {
        var output = CommandOutput()
        let command: any ReplicaCommand = arguments[0] == "search" ? try Search.parse(Array(arguments.dropFirst())) : try Show.parse(Array(arguments.dropFirst()))
        try command.check()
        try command.perform(on: store, output: &output)
        return output.text
    }

    @Test func searchPrintsEachHitWithItsSnippet() throws {
        let store = try store()
        let text = try run(["search", "rye"], on: store)
        // Each hit: its list line, then its snippet with the matched words between stars.
        #expect(text.split(separator: "\n").count == 4)
        #expect(text.contains("Rye sourdough, the slow way  #baking\n          *Rye* sourdough, the slow way\n"))
        #expect(try run(["search", "nothing-like-this"], on: store) == "(no matches)\n")
    }

    @Test func searchAsJSON() throws {
        let store = try store()
        let text = try run(["search", "rye", "-flour", "--json", "--limit", "5"], on: store)
        let hits = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(hits.count == 1)
        #expect((hits[0]["article"] as? [String: Any])?["url"] as? String == "https://example.com/bread")
        #expect(hits[0]["snippet"] as? String == "Rye sourdough, the slow way")
        #expect(hits[0]["matches"] as? [[Int]] == [[0, 3]])
    }

    @Test func aQueryWithoutWordsIsAOneLineError() throws {
        let store = try store()
        for query in [["search", "\"(*"], ["search", "rye", "--limit", "0"]] {
            #expect(throws: CLIError.self) { try run(query, on: store) }
        }
    }

    @Test func editWithAContentFileFillsTheMetadata() throws {
        let store = try store()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("edit-\(UUID().uuidString).html")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("""
            <html lang="en"><head><title>Proving baskets | Crumb Weekly</title><meta property="og:site_name" content="Crumb Weekly">
            <meta name="author" content="Ada Baker"></head><body><nav>Home · Recipes · Subscribe</nav>
            <article><h1>Proving baskets</h1><p>A banneton holds the dough's shape while it proves, and wicks a little moisture from its skin.</p>
            <p>Dust it with rice flour, which does not absorb water, so the loaf releases cleanly.</p></article></body></html>
            """.utf8).write(to: file)
        var output = CommandOutput()
        let edit = try Edit.parse(["https://example.com/note", "--content-file", file.path, "--language", "fr"])
        try edit.check()
        try edit.perform(on: store, output: &output)
        let article = try store.article("https://example.com/note")
        // The title and word count the note holds (from its first content) stay; what it lacks is
        // filled from the new page; the language is as given.
        #expect(article.title == "Buy rye flour" && article.wordCount == 10)
        #expect(article.siteName == "Crumb Weekly" && article.author == "Ada Baker" && article.language == "fr")
        #expect(article.excerpt?.contains("banneton") == true)
        #expect(try run(["search", "banneton"], on: store).contains("Buy rye flour"))
    }

    @Test func showPrintsTheReadableText() throws {
        let store = try store()
        #expect(try run(["show", "https://example.com/note", "--text"], on: store) == "Buy rye flour\n\nand a proving basket before the weekend\n")
        let json = try run(["show", "https://example.com/note", "--json"], on: store)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["readableText"] as? String == "Buy rye flour\n\nand a proving basket before the weekend")
        #expect(object["title"] as? String == "Buy rye flour")
        #expect(throws: CLIError.self) { try run(["show", "https://example.com/bread", "--text"], on: store) }
    }
}
