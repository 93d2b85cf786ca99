import Foundation
import Testing

/// `readinglist import` and `export` through the built executable, on the
/// fixtures of ImportTests.
@Suite("readinglist import and export")
struct ImportExportEndToEndTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ImportTests/Fixtures").path

    @Test func importReportsSkippedRowsAndIsIdempotent() throws {
        let cli = try CLI()
        let pocket = Self.fixtures + "/pocket-a.csv"
        let first = try cli.on("me.sqlite", "import", pocket, Self.fixtures + "/bookmarks.html")
        #expect(first.hasPrefix("imported 2 files: 14 rows, 7 articles (7 new, 0 updated, 0 unchanged), 1 row merged, 0 highlights, 6 rows skipped\n"))
        #expect(first.contains("pocket-a.csv:6: skipped: a javascript: URL"))
        #expect(first.contains("bookmarks.html:21: skipped: unreadable date 'soon' in ADD_DATE"))
        let status = try cli.on("me.sqlite", "status")
        // Not a terminal: no progress on stderr.
        let again = try cli.run(["--db", cli.path("me.sqlite"), "import", pocket, Self.fixtures + "/bookmarks.html"])
        #expect(again.status == 0 && again.stderr.isEmpty)
        #expect(again.stdout.contains("(0 new, 0 updated, 7 unchanged)"))
        // Nothing written: the same pending changes.
        #expect(try cli.on("me.sqlite", "status") == status)
    }

    @Test func exportedJSONImportsBackAndOtherFormatsWrite() throws {
        let cli = try CLI()
        try cli.on("a.sqlite", "import", Self.fixtures + "/wallabag.json", Self.fixtures + "/instapaper-old.csv")
        let saved = try cli.on("a.sqlite", "export", "--format", "json", "--output", cli.path("list.json"))
        #expect(saved == "exported 6 articles as json to \(cli.path("list.json"))\n")
        try cli.on("b.sqlite", "import", cli.path("list.json"))
        let listA = try cli.on("a.sqlite", "list", "--json")
        let listB = try cli.on("b.sqlite", "list", "--json")
        func stable(_ text: String) throws -> [String] {
            let list = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
            return list.map { article in
                "\(article["url"]!) \(article["title"] ?? "") \(article["tags"]!) \(article["isArchived"]!) \(article["isFavorite"]!) \(article["addedAt"]!) \((article["highlights"] as? [[String: Any]])?.map { $0["quote"]! } ?? [])"
            }.sorted()
        }
        #expect(try stable(listA) == stable(listB))
        #expect(try cli.on("a.sqlite", "export", "--format", "netscape").hasPrefix("<!DOCTYPE NETSCAPE-Bookmark-file-1>"))
        #expect(try cli.on("a.sqlite", "export", "--format", "markdown").contains("### Highlights\n\n- Some HTML\n  - Note: my comment\n"))
        #expect(try cli.on("a.sqlite", "export", "--format", "csv").hasPrefix("url,title,tags,added,read,archived,favorite,progress,note\r\n"))
    }

    @Test func badFilesFailWithOneLineAndLeaveNoReplica() throws {
        let cli = try CLI()
        try Data().write(to: URL(fileURLWithPath: cli.path("empty.csv")))
        try cli.fails("new.sqlite", "import", cli.path("empty.csv"), mentioning: "empty.csv: the file is empty")
        #expect(!FileManager.default.fileExists(atPath: cli.path("new.sqlite")))
        try cli.fails("new.sqlite", "import", Self.fixtures + "/pocket-a.csv", "--format", "netscape", mentioning: "not a Netscape bookmark file")
        try cli.fails("new.sqlite", "import", cli.path("missing.csv"), mentioning: "missing.csv: no such file")
        #expect(!FileManager.default.fileExists(atPath: cli.path("new.sqlite")))
        try cli.fails("new.sqlite", "export", mentioning: "no replica database")
    }
}
