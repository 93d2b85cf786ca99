import Foundation
import ReadingListModel
@testable import ReadingListImport
import ReplicaStore
import SyncCore
import Testing
import ZIPFoundation

/// Every fixture that names pages, as one import.
func allFixtures(in folder: URL) throws -> [String] {
    [
        fixture("pocket-a.csv"), fixture("pocket-b.csv"), try zipFixture("pocket-zip", in: folder), fixture("ril_export.html"),
        fixture("instapaper-old.csv"), fixture("instapaper-new.csv"), try zipFixture("omnivore-zip", in: folder),
        fixture("omnivore-community.json"), fixture("wallabag.json"), fixture("wallabag.csv"), fixture("bookmarks.html"),
        fixture("readwise-reader.csv"), fixture("readwise-highlights.csv"), fixture("karakeep.json"),
    ]
}

/// What a list holds, apart from what a replica assigns (ids of highlights, update times).
struct ListEntry: Equatable {
    var id: ArticleID
    var url, title, excerpt, content, author, siteName, imageURL, language, note: String?
    var wordCount: Int?
    var tags: [String]
    var read, archived, favorite: Bool
    var progress: Double
    var readEpoch: Int
    var addedAt: Int64
    var highlights: [String]

    init(_ article: Article) {
        id = article.id
        url = article.url
        title = article.title
        excerpt = article.excerpt
        content = article.content
        author = article.author
        siteName = article.siteName
        imageURL = article.imageURL
        language = article.language
        note = article.note
        wordCount = article.wordCount
        tags = article.tags.sorted()
        read = article.isRead
        archived = article.isArchived
        favorite = article.isFavorite
        progress = article.progress.position
        readEpoch = article.progress.epoch
        addedAt = article.addedAt
        highlights = article.highlights.map { "\($0.id)|\($0.quote)|\($0.note ?? "")|\($0.color ?? "")|\($0.position.map { String($0) } ?? "")|\($0.createdAt)" }.sorted()
    }
}

func snapshot(_ store: ReplicaStore) throws -> [ListEntry] {
    try store.articles(includeContent: true).map(ListEntry.init).sorted { $0.id.rawValue < $1.id.rawValue }
}

@Suite struct BehaviourTests {
    @Test func importingTheSameFilesTwiceWritesNothing() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        let files = try allFixtures(in: folder)
        let first = try Importer.importFiles(files, into: store, batchSize: 7)
        #expect(first.created > 30)
        let before = try changeCount(store)
        let list = try snapshot(store)
        let second = try Importer.importFiles(files, into: store, batchSize: 7)
        #expect(second.created == 0 && second.updated == 0)
        #expect(second.unchanged == first.created)
        #expect(try changeCount(store) == before)
        #expect(try snapshot(store) == list)
    }

    @Test func jsonExportImportsBackToTheSameList() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let original = try makeStore()
        try Importer.importFiles(try allFixtures(in: folder), into: original)
        // Things only the app itself writes: a word count, a highlight with a position and colour, an edited note with blank lines.
        let some = try #require(try original.find("https://ns.example.com/one"))
        try original.edit(some.id.rawValue, [Fields.wordCount: 1234, Fields.note: "  indented\n\n\tnote  "])
        try original.addHighlight(some.id.rawValue, quote: "quoted", position: 0.5, note: "n", color: "green")
        // Two highlights of one quote stay two, each with its note; a second read-through keeps its number.
        try original.addHighlight(some.id.rawValue, quote: "quoted", position: 0.9, note: "the other one", color: "red")
        try original.setRead(some.id.rawValue, true)
        try original.setRead(some.id.rawValue, false)
        try original.setProgress(some.id.rawValue, 0.75)
        #expect(try original.article(some.id.rawValue).progress.epoch == 1)

        let exported = try Exporter.export(original, format: .json, now: 1_800_000_000_000)
        let path = try write(exported, "export.json", in: folder)
        let copy = try makeStore()
        let report = try Importer.importFiles([path], into: copy)
        #expect(report.skipped.isEmpty && report.warnings.isEmpty)
        let a = try snapshot(original)
        let b = try snapshot(copy)
        #expect(a.count == b.count)
        for (left, right) in zip(a, b) { #expect(left == right) }
        // And idempotent against itself.
        let count = try changeCount(copy)
        #expect(try Importer.importFiles([path], into: copy).unchanged == a.count)
        #expect(try changeCount(copy) == count)
    }

    @Test func rowsNamingAPageInTheListMergeIntoIt() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        try Importer.importFiles([fixture("pocket-a.csv")], into: store)
        let article = try #require(try store.find("https://example.com/a?x=1&y=2"))
        try store.edit(article.id.rawValue, [Fields.title: "My own title", Fields.note: "first note"])
        let csv = """
            URL,Title,Selection,Folder,Timestamp,Tags
            https://example.com/a?x=1&y=2#section,Another title,,Starred,1400000000,"[""new""]"
            https://example.com/a?x=1&y=2&fbclid=abc,,,Unread,1900000000,"[""reading""]"

            """
        let path = try write(csv, "instapaper.csv", in: folder)
        let report = try Importer.importFiles([path], into: store)
        #expect(report.merged == 1 && report.updated == 1 && report.created == 0)
        let merged = try #require(try store.find(article.url))
        #expect(merged.title == "My own title")
        #expect(Set(merged.tags) == ["reading", "longform", "extra", "new"])
        #expect(merged.isFavorite && merged.isArchived)
        #expect(merged.addedAt == 1_400_000_000_000)
        #expect(merged.note == "first note")

        // A note the list lacks is added after the one it has, once.
        let karakeep = try write(#"{"bookmarks": [{"createdAt": 1700000000, "title": "t", "tags": [], "content": {"type": "link", "url": "https://example.com/a?x=1&y=2"}, "note": "from karakeep", "archived": false}]}"#, "kk.json", in: folder)
        try Importer.importFiles([karakeep], into: store)
        try Importer.importFiles([karakeep], into: store)
        #expect(try store.find(article.url)?.note == "first note\n\n---\n\nfrom karakeep")
    }

    @Test func aDeletedArticleIsSavedAfresh() throws {
        let store = try makeStore()
        try Importer.importFiles([fixture("instapaper-old.csv")], into: store)
        let starred = try #require(try store.find("https://insta.example.com/starred"))
        try store.delete(starred.id.rawValue)
        let report = try Importer.importFiles([fixture("instapaper-old.csv")], into: store)
        #expect(report.created == 1 && report.unchanged == 3)
        let again = try #require(try store.find("https://insta.example.com/starred"))
        #expect(again.isFavorite && again.highlights.count == 1)
    }

    @Test func rowsTheListRefusesAreSkippedAndTheRestIsWritten() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let big = String(repeating: "x", count: 70_000)
        let json = #"{"format": "readinglist-export", "version": 1, "articles": ["#
            + #"{"url": "https://ok.example.com/", "title": "fine", "tags": []},"#
            + #"{"url": "https://big.example.com/", "note": "\#(big)", "tags": []},"#
            + #"{"url": "javascript:alert(1)", "tags": []}]}"#
        let path = try write(json, "list.json", in: folder)
        let store = try makeStore()
        let report = try Importer.importFiles([path], into: store)
        #expect(report.created == 1)
        #expect(report.skipped.count == 2)
        // Every row read is counted once: written, merged or skipped (whether the reading or the list refused it).
        #expect(report.rows == 3)
        #expect(report.rows == report.created + report.updated + report.unchanged + report.merged + report.skipped.count)
        #expect(report.skipped.allSatisfy { !$0.reason.hasPrefix("skipped") })
        #expect(report.skipped.first?.location.line == 2)
        #expect(report.skipped.first?.reason.contains("more than the 64.0 KB") == true)
        #expect(try store.articles().map(\.url) == ["https://ok.example.com/"])
    }

    @Test func eachBatchIsOneTransactionAndASecondImportFinishesTheRest() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("list.sqlite").path
        let plan = try Importer.read([fixture("instapaper-old.csv")])
        #expect(plan.articles.count == 4)
        let store = try ReplicaStore.open(path: path)
        // The replica goes away after the first batch, as in a crash: the second batch fails whole.
        #expect {
            try Importer.write(plan, into: store, batchSize: 2) { progress in
                if progress.written == 2 { try? store.close() }
            }
        } throws: { error in
            (error as? ImportError)?.reason.contains("articles 3 to 4 were not written; the 2 before them were") == true
        }
        let reopened = try ReplicaStore.open(path: path)
        #expect(try reopened.articles().count == 2)
        let report = try Importer.write(plan, into: reopened, batchSize: 2)
        #expect(report.created == 2 && report.unchanged == 2)
        #expect(try reopened.articles().count == 4)
        try reopened.close()
    }

    @Test func contentFillsWhatTheFileLeavesEmpty() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let html = "<html><head><title>Title from the page</title></head><body><article><p>"
            + String(repeating: "A sentence of the story itself, long enough to be the body. ", count: 20) + "</p></article></body></html>"
        let entry: [String: Any] = ["url": "https://content.example.com/story", "content": html, "is_archived": 0, "tags": [String]()]
        let path = folder.appendingPathComponent("wallabag.json")
        try JSONSerialization.data(withJSONObject: [entry]).write(to: path)
        let store = try makeStore()
        try Importer.importFiles([path.path], into: store)
        let article = try #require(try store.find("https://content.example.com/story"))
        #expect(article.title == "Title from the page")
        #expect((article.wordCount ?? 0) > 100)
        // And it stays idempotent.
        let count = try changeCount(store)
        try Importer.importFiles([path.path], into: store)
        #expect(try changeCount(store) == count)
    }

    // MARK: Bad files: a clear error, nothing written

    func expectRefused(_ paths: [String], format: ImportFormat = .auto, _ message: String) throws {
        let store = try makeStore()
        #expect {
            try Importer.importFiles(paths, format: format, into: store)
        } throws: { error in
            guard let error = error as? ImportError else { return false }
            return error.reason.contains(message)
        }
        #expect(try store.articles().isEmpty)
        #expect(try changeCount(store) == 0)
    }

    @Test func emptyFiles() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectRefused([try write("", "empty.csv", in: folder)], "the file is empty")
        try expectRefused([try write(" \n\n ", "blank.csv", in: folder)], "the file is empty")
    }

    @Test func truncatedZIP() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let zip = try Data(contentsOf: URL(fileURLWithPath: try zipFixture("pocket-zip", in: folder)))
        let cut = folder.appendingPathComponent("cut.zip")
        try zip.prefix(zip.count / 2).write(to: cut)
        try expectRefused([cut.path], "not a readable ZIP archive")
    }

    @Test func wrongFormatForced() throws {
        try expectRefused([fixture("bookmarks.html")], format: .pocket, "not a Pocket CSV")
        try expectRefused([fixture("pocket-a.csv")], format: .instapaper, "not an Instapaper CSV")
        try expectRefused([fixture("pocket-a.csv")], format: .netscape, "not a Netscape bookmark file")
        try expectRefused([fixture("pocket-a.csv")], format: .omnivore, "not a JSON file")
        try expectRefused([fixture("wallabag.json")], format: .karakeep, "not a Karakeep export")
        try expectRefused([fixture("karakeep.json")], format: .json, "not a reading-list JSON export")
    }

    @Test func binaryFiles() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[10] = 0
        let path = folder.appendingPathComponent("random.bin")
        try Data(bytes).write(to: path)
        try expectRefused([path.path], "binary")
        let nul = folder.appendingPathComponent("nul.csv")
        try Data("title,url\u{0}\u{1}\u{2},x\n".utf8).write(to: nul)
        try expectRefused([nul.path], "binary")
    }

    @Test func oneBadFileAmongGoodOnesWritesNothing() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try expectRefused([fixture("pocket-a.csv"), try write("", "empty.csv", in: folder)], "the file is empty")
    }

    // MARK: Export formats

    @Test func netscapeExportReadsBackAsBookmarks() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        try Importer.importFiles([fixture("pocket-a.csv"), fixture("bookmarks.html"), fixture("wallabag.json")], into: store)
        let html = try Exporter.export(store, format: .netscape)
        #expect(html.hasPrefix("<!DOCTYPE NETSCAPE-Bookmark-file-1>"))
        let path = try write(html, "bookmarks.html", in: folder)
        let copy = try makeStore()
        let report = try Importer.importFiles([path], into: copy)
        #expect(report.skipped.isEmpty)
        let a = try store.articles().sorted { $0.id.rawValue < $1.id.rawValue }
        let b = try copy.articles().sorted { $0.id.rawValue < $1.id.rawValue }
        #expect(a.map(\.url) == b.map(\.url))
        #expect(a.map { $0.title ?? $0.url } == b.map { $0.title ?? $0.url })
        #expect(a.map { $0.tags.sorted() } == b.map { $0.tags.sorted() })
        #expect(a.map(\.isArchived) == b.map(\.isArchived))
        #expect(a.map { $0.addedAt / 1000 } == b.map { $0.addedAt / 1000 })
    }

    @Test func markdownListsHighlights() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        try Importer.importFiles([try zipFixture("omnivore-zip", in: folder)], into: store)
        let markdown = try Exporter.export(store, format: .markdown)
        #expect(markdown.contains("## [Half read](https://omni.example.com/half)"))
        #expect(markdown.contains("### Highlights\n\n- The first highlighted passage\n  - Note: My note on it.\n- A second passage, no note\n")
            || markdown.contains("### Highlights\n\n- A second passage, no note\n- The first highlighted passage\n  - Note: My note on it.\n"))
    }

    @Test func markdownKeepsHTMLInEveryTextAsText() throws {
        let store = try makeStore()
        let (article, _) = try store.save(SaveRequest(
            url: "https://example.com/e", title: "<b>t</b>", tags: ["<img src=x onerror=alert(1)>"], note: "<script>alert(\"note\")</script>"))
        try store.addHighlight(article.id.rawValue, quote: "<iframe src=javascript:alert(1)>", note: "<b>n</b>")
        let markdown = try Exporter.export(store, format: .markdown)
        // No `<` is left unescaped (an escaped one is `\<`).
        #expect(!markdown.replacingOccurrences(of: "\\<", with: "").contains("<"), "HTML left in:\n\(markdown)")
        #expect(markdown.contains("\\<script\\>"))
        #expect(markdown.contains("- \\<iframe src=javascript:alert(1)\\>"))
    }

    @Test func csvExportQuotesAndDefusesFormulas() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        try store.save(SaveRequest(url: "https://csv.example.com/", title: "=cmd, \"quoted\"", tags: ["a", "b c"], note: "two\nlines"))
        let csv = try Exporter.export(store, format: .csv)
        var table = try CSVTable(text: csv, file: "export.csv")
        let rowNext = table.next()
        let row = try #require(rowNext)
        #expect(row.row["url"] == "https://csv.example.com/")
        #expect(row.row["title"] == "'=cmd, \"quoted\"")
        #expect(row.row["tags"] == "a|b c")
        #expect(row.row["note"] == "two\nlines")
        let end = table.next()
        #expect(end == nil)
    }

    /// The CSV export holds less than the JSON one (no highlights, content or
    /// read-through), but what it holds imports back, defused fields included.
    @Test func csvExportImportsBackWhatItHolds() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let original = try makeStore()
        try original.save(SaveRequest(url: "https://csv.example.com/a", title: "=cmd, \"quoted\"", tags: ["-draft", "b c"], note: "@two\nlines"))
        try original.edit("https://csv.example.com/a", [Fields.isArchived: true, Fields.isFavorite: true])
        try original.setRead("https://csv.example.com/a", true)
        try original.setProgress("https://csv.example.com/a", 0.4)
        try original.save(SaveRequest(url: "https://csv.example.com/b?q=1", title: "Plain"))
        try original.save(SaveRequest(url: "https://csv.example.com/c", title: "'=not a formula", note: "'quoted'"))
        let path = try write(try Exporter.export(original, format: .csv), "export.csv", in: folder)
        let copy = try makeStore()
        let report = try Importer.importFiles([path], into: copy)
        #expect(report.created == 3 && report.skipped.isEmpty && report.warnings.isEmpty)
        for url in ["https://csv.example.com/a", "https://csv.example.com/b?q=1", "https://csv.example.com/c"] {
            let (before, after) = (try original.article(url), try copy.article(url))
            #expect(after.title == before.title && after.tags == before.tags && after.note == before.note, "\(url)")
            #expect(after.addedAt == before.addedAt, "\(url)")
            #expect((after.isRead, after.isArchived, after.isFavorite) == (before.isRead, before.isArchived, before.isFavorite), "\(url)")
            #expect(after.progress.position == before.progress.position, "\(url)")
        }
        #expect(try copy.article("https://csv.example.com/a").title == "=cmd, \"quoted\"")
        #expect(try Importer.importFiles([path], into: copy).unchanged == 3)
    }

    @Test func ownCSVWithBadValuesSkipsTheirRows() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = """
            url,title,tags,added,read,archived,favorite,progress,note
            https://o.example.com/1,One,,2024-05-01T10:00:00.000Z,maybe,false,false,0.0,
            https://o.example.com/2,Two,,2024-05-01T10:00:00.000Z,false,false,false,1.5,
            https://o.example.com/3,Three,,yesterday,false,false,false,0.0,
            https://o.example.com/4,Four,a|b,2024-05-01T10:00:00.000Z,true,false,false,0.5,n
            """
        let path = try write(csv, "mine.csv", in: folder)
        let store = try makeStore()
        let report = try Importer.importFiles([path], into: store)
        #expect(report.created == 1)
        #expect(report.skipped.map(\.location.line) == [2, 3, 4])
        #expect(report.skipped[0].reason.contains("'maybe' in read"))
        #expect(report.skipped[1].reason.contains("progress '1.5'"))
        #expect(report.skipped[2].reason.contains("unreadable date 'yesterday'"))
        let four = try store.article("https://o.example.com/4")
        #expect(four.isRead && four.tags == ["a", "b"] && four.progress.position == 0.5 && four.note == "n")
        // Forced on another export, the format says what it expected.
        let pocket = try write("title,url,time_added\nA,https://p.example.com/,1600000000\n", "pocket.csv", in: folder)
        #expect(throws: ImportError.self) { try Importer.read([pocket], format: .csv) }
    }

    // MARK: The CSV library on the traps

    @Test func csvReaderHandlesQuotedLineBreaksByteOrderMarksAndSemicolons() throws {
        let bytes = Data([0xEF, 0xBB, 0xBF]) + Data("a;b\r\n\"x;\r\ny\";\"z\"\"\"\r\n\r\nlast;row\r\n".utf8)
        let text = try Importer.decodeText(bytes, name: "t.csv")
        var table = try CSVTable(text: text, file: "t.csv", delimiter: ";")
        #expect(table.header == ["a", "b"])
        let firstNext = table.next()
        let first = try #require(firstNext)
        #expect(first.line == 2)
        #expect(first.row["a"] == "x;\r\ny" && first.row["B"] == "z\"")
        let secondNext = table.next()
        let second = try #require(secondNext)
        #expect(second.line == 5)
        #expect(second.row["a"] == "last" && second.row["b"] == "row")
        let end = table.next()
        #expect(end == nil)
    }

    @Test func datesInEveryExporterForm() {
        #expect(DateParse.iso("2024-10-29T16:30:11.000Z") == 1_730_219_411_000)
        #expect(DateParse.iso("2016-09-08T11:55:58+0200") == 1_473_328_558_000)
        #expect(DateParse.iso("2026-03-14 23:55:23.291000+00:00") == DateParse.iso("2026-03-14T23:55:23.291Z"))
        #expect(DateParse.iso("2024-02-30T00:00:00Z") == nil)
        // Every millisecond reads back exactly (summed digit by digit in floating point, .035 came out as 34).
        for millis in 0..<1000 {
            let digits = String(String(millis + 1000).dropFirst())
            #expect(DateParse.iso("2024-10-29T16:30:11.\(digits)Z") == 1_730_219_411_000 + Int64(millis), "\(digits)")
        }
        #expect(DateParse.iso("2024-10-29T16:30:11.5Z") == 1_730_219_411_500)
        #expect(DateParse.iso("2024-10-29T16:30:11.123999Z") == 1_730_219_411_123)
        #expect(DateParse.unix("1600322788") == 1_600_322_788_000)
        #expect(DateParse.unix("1600322788123") == 1_600_322_788_123)
        #expect(DateParse.wallabagCSV("08/09/2016 11:55:58") == DateParse.iso("2016-09-08T11:55:58Z"))
        #expect(FieldParse.pythonStringList(#"['a', "it's", 'b\'c']"#) == ["a", "it's", "b'c"])
        #expect(FieldParse.pythonStringList("a, b") == nil)
    }
}
