import Foundation
import ReadingListModel
@testable import ReadingListImport
import ReplicaStore
import Testing

/// Each format and shape, from a fixture with its traps; every import runs
/// with `--format auto` (detection) and writes into a real in-memory replica.
@Suite struct FormatTests {
    func run(_ paths: [String], format: ImportFormat = .auto) throws -> (ReplicaStore, ImportReport) {
        let store = try makeStore()
        let report = try Importer.importFiles(paths, format: format, into: store, batchSize: 2)
        return (store, report)
    }

    func skipped(_ report: ImportReport) -> [Int: String] {
        Dictionary(report.skipped.map { ($0.location.line, $0.reason) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func formatNamesAreTheCommandLineNames() {
        #expect(ImportFormat(rawValue: "pocket-html") == .pocketHTML)
        #expect(ImportFormat.allCases.map(\.rawValue) == ["auto", "pocket", "pocket-html", "instapaper", "omnivore", "wallabag", "netscape", "readwise", "karakeep", "json", "csv"])
    }

    @Test func pocketVariantAWithByteOrderMarkCRLFAndMergedRows() throws {
        let (store, report) = try run([fixture("pocket-a.csv")])
        #expect(report.rows == 7)  // 3 written + 1 merged + 3 skipped
        #expect(report.merged == 1)
        #expect(report.created == 3)
        let skips = skipped(report)
        #expect(skips.count == 3)
        #expect(skips[6]?.contains("javascript: URL") == true)
        #expect(skips[7]?.contains("no URL") == true)
        #expect(skips[8]?.contains("unreadable date 'yesterday'") == true)
        #expect(report.skipped.allSatisfy { $0.location.file.hasSuffix("pocket-a.csv") })

        let jquery = try #require(try store.find("http://youmightnotneedjquery.com/"))
        #expect(jquery.title == "You Might Not Need jQuery")
        #expect(jquery.addedAt == 1_600_322_788_000)
        #expect(!jquery.isArchived && !jquery.isRead && jquery.tags.isEmpty)

        // Line 3 and line 9 name one page (the tracking parameter aside): merged.
        let merged = try #require(try store.find("https://example.com/a?x=1&y=2"))
        #expect(merged.title == "Commas, quotes \"and\" more")
        #expect(Set(merged.tags) == ["reading", "longform", "extra"])
        #expect(merged.isArchived && merged.isRead)
        #expect(merged.addedAt == 1_500_000_000_000)

        // Pocket puts the URL as the title when it has none: no title.
        #expect(try store.find("https://example.org/untitled")?.title == nil)
    }

    @Test func pocketVariantBWithCursorColumnAndMultiLineTitle() throws {
        let (store, report) = try run([fixture("pocket-b.csv")])
        #expect(report.created == 3)
        // The quoted title spans lines 3-4, so the data: URL row is line 5.
        #expect(skipped(report) == [5: "a data: URL (only web pages are imported)"])
        let hoarder = try #require(try store.find("https://github.com/hoarder-app/hoarder"))
        #expect(hoarder.title == "hoarder-app/hoarder: A self-hostable bookmark app")
        #expect(Set(hoarder.tags) == ["opensource", "withäumlaut", "with space"])
        #expect(hoarder.addedAt == 1_728_576_752_000)
        let archived = try #require(try store.find("https://blog.example.net/post/42"))
        #expect(archived.isArchived && archived.tags == ["blog"])
    }

    @Test func pocketZIPOfPartsWithAnnotations() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (store, report) = try run([try zipFixture("pocket-zip", in: folder)])
        #expect(report.files.count == 3)
        #expect(report.created == 3)
        #expect(report.merged == 2)
        let shared = try #require(try store.find("https://zip.example.com/shared"))
        #expect(shared.title == "Shared page")
        #expect(Set(shared.tags) == ["first", "second"])
        #expect(shared.isArchived)
        #expect(shared.addedAt == 1_720_000_000_000)
        let one = try #require(try store.find("https://zip.example.com/1"))
        #expect(one.highlights.map(\.quote) == ["A line worth keeping."])
        #expect(one.highlights.first?.createdAt == 1_730_000_500_000)
    }

    @Test func pocketLegacyHTMLSectionsAreStates() throws {
        let (store, report) = try run([fixture("ril_export.html")])
        #expect(report.created == 2)
        let skips = skipped(report)
        #expect(skips[12]?.contains("javascript: URL") == true)
        #expect(skips[18]?.contains("unreadable date 'not-a-time'") == true)
        let unread = try #require(try store.find("https://pocket.example.com/unread-1"))
        #expect(unread.title == "First & unread")
        #expect(Set(unread.tags) == ["ifttt", "new_entry_simple"])
        #expect(!unread.isArchived)
        let read = try #require(try store.find("https://pocket.example.com/read-1"))
        #expect(read.isArchived && read.isRead && read.addedAt == 1_588_628_695_000)
    }

    @Test func instapaperOlderColumnsFoldersAndSelection() throws {
        let (store, report) = try run([fixture("instapaper-old.csv")])
        #expect(report.created == 4 && report.skipped.isEmpty)
        #expect(try store.find("https://redditblog.com/2016/09/20/amp-and-reactredux/")?.isArchived == true)
        let starred = try #require(try store.find("https://insta.example.com/starred"))
        #expect(starred.isFavorite && !starred.isArchived)
        #expect(starred.highlights.map(\.quote) == ["The passage I\nhighlighted, over two lines."])
        #expect(try store.find("https://insta.example.com/folder")?.tags == ["cooking"])
        #expect(try store.find("https://insta.example.com/unread")?.isArchived == false)
    }

    @Test func instapaperNewerColumnsJSONTags() throws {
        let (store, report) = try run([fixture("instapaper-new.csv")])
        #expect(report.created == 2)
        #expect(skipped(report)[4]?.contains("Tags is not a JSON array") == true)
        #expect(skipped(report)[5]?.contains("invalid URL 'notaurl/path'") == true)
        let archived = try #require(try store.find("https://archived.example"))
        #expect(archived.isArchived && archived.addedAt == 1_700_000_000_000)
        #expect(Set(try store.find("https://tagged.example/post")?.tags ?? []) == ["swift", "long reads"])
    }

    @Test func omnivoreOfficialZIPWithContentAndHighlights() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (store, report) = try run([try zipFixture("omnivore-zip", in: folder)])
        #expect(report.created == 2)
        #expect(report.skipped.count == 1)
        #expect(report.skipped.first?.location.isItem == true && report.skipped.first?.location.line == 3)
        #expect(report.skipped.first?.reason.contains("unreadable date") == true)
        let lemonde = try #require(try store.find("https://www.lemonde.fr/economie/article/2024/10/29/malgre-la-crise.html"))
        #expect(lemonde.title == "Malgré la crise")
        #expect(lemonde.excerpt == "Un résumé.")
        #expect(lemonde.author == "Juliette Garnier")
        #expect(lemonde.imageURL == "https://img.lemonde.fr/thumb.jpg")
        #expect(Set(lemonde.tags) == ["rss", "économie"])
        #expect(lemonde.isArchived && lemonde.isRead && lemonde.progress.position == 1)
        #expect(lemonde.content == "<div><p>Le texte lisible de l'article.</p></div>")
        #expect(lemonde.addedAt == millis("2024-10-29T16:30:11.000Z"))
        let half = try #require(try store.find("https://omni.example.com/half"))
        #expect(half.progress.position == 0.45 && !half.isRead)
        let highlights = half.highlights.sorted { $0.quote < $1.quote }
        #expect(highlights.map(\.quote) == ["A second passage, no note", "The first highlighted passage"])
        #expect(highlights.map(\.note) == [nil, "My note on it."])
    }

    @Test func omnivoreCommunityShape() throws {
        let (store, report) = try run([fixture("omnivore-community.json")])
        #expect(report.created == 2)
        let a = try #require(try store.find("https://community.example.com/a"))
        #expect(Set(a.tags) == ["exported", "tools"])
        #expect(a.isArchived && a.progress.position == 0.3)
        #expect(a.highlights.map(\.quote) == ["Inline highlight"] && a.highlights.first?.note == "with a note")
        #expect(try store.find("https://community.example.com/b")?.isArchived == false)
    }

    @Test func wallabagJSON() throws {
        let (store, report) = try run([fixture("wallabag.json")])
        #expect(report.created == 2)
        #expect(report.skipped.map(\.location.line) == [3])
        let one = try #require(try store.find("https://wb.example.com/one"))
        #expect(one.isArchived && !one.isFavorite)
        #expect(one.content == "<p>Some <b>HTML</b> content.</p>")
        #expect(Set(one.tags) == ["wb", "reading"])
        #expect(one.language == "en" && one.siteName == "wb.example.com" && one.author == "A. Writer")
        #expect(one.imageURL == "https://wb.example.com/p.png")
        #expect(one.highlights.map(\.quote) == ["Some HTML"] && one.highlights.first?.note == "my comment")
        #expect(one.addedAt == millis("2016-09-08T09:55:58Z"))
        #expect(try store.find("https://wb.example.com/two")?.isFavorite == true)
    }

    @Test func wallabagSemicolonCSV() throws {
        let (store, report) = try run([fixture("wallabag.csv")])
        #expect(report.created == 2)
        #expect(skipped(report)[4]?.contains("unreadable date '2019-13-45'") == true)
        let one = try #require(try store.find("https://wbcsv.example.com/one"))
        #expect(one.title == "Semicolons; in a title")
        #expect(one.content == "<p>Content with \"quotes\" and; semicolons</p>")
        #expect(Set(one.tags) == ["one", "two words"])
        #expect(one.language == "fr")
        #expect(one.addedAt == millis("2016-09-08T11:55:58Z"))
        #expect(try store.find("https://wbcsv.example.com/two")?.addedAt == millis("2019-12-31T01:02:03Z"))
    }

    @Test func netscapeFoldersAsTagsNotesAndLinkding() throws {
        let (store, report) = try run([fixture("bookmarks.html")])
        #expect(report.created == 4)
        let skips = skipped(report)
        #expect(skips[19]?.contains("javascript: URL") == true)
        #expect(skips[20]?.contains("data: URL") == true)
        #expect(skips[21]?.contains("unreadable date 'soon'") == true)
        let one = try #require(try store.find("https://ns.example.com/one"))
        #expect(one.title == "One & only")
        #expect(Set(one.tags) == ["reading", "swift", "tools"])
        #expect(one.note == "A description\nspanning two lines")
        #expect(one.addedAt == 1_600_000_100_000 && !one.isRead)
        let deep = try #require(try store.find("https://ns.example.com/deep"))
        #expect(Set(deep.tags) == ["reading", "deep"])
        let linkding = try #require(try store.find("https://ns.example.com/linkding"))
        #expect(linkding.isArchived && linkding.tags == ["misc"])
        #expect(linkding.note == "Intro text\n\nA linkding note")
        #expect(Set(try store.find("https://ns.example.com/bad-tag")?.tags ?? []) == ["ok", "hash"])
    }

    @Test func bookmarksWithoutTheDoctypeAreReadWhenDetected() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try write("<html><body><DL><p>\n<DT><A HREF=\"https://plain.example/\" ADD_DATE=\"1600000000\">Plain</A>\n</DL></body></html>\n", "plain.html", in: folder)
        let (store, report) = try run([path])
        #expect(report.created == 1)
        #expect(try store.find("https://plain.example/")?.title == "Plain")
        // Forced, the doctype is required.
        #expect(throws: ImportError.self) { try Importer.read([path], format: .netscape) }
    }

    @Test func readwiseReaderLibrary() throws {
        let (store, report) = try run([fixture("readwise-reader.csv")])
        #expect(report.created == 4)
        let skips = skipped(report)
        #expect(skips[6]?.contains("feed item") == true)
        #expect(skips[7]?.contains("Document tags is not a list") == true)
        let example = try #require(try store.find("https://example.com"))
        #expect(Set(example.tags) == ["tag1", "tag2"])
        #expect(example.addedAt == millis("2026-03-14T23:55:23.291Z"))
        #expect(Set(try store.find("https://rw.example.com/q")?.tags ?? []) == ["it's", "double"])
        #expect(try store.find("https://rw.example.com/q")?.progress.position == 0.57)
        let archived = try #require(try store.find("https://rw.example.com/archived"))
        #expect(archived.isArchived && archived.isRead)
        let short = try #require(try store.find("https://rw.example.com/short"))
        #expect(short.isFavorite && short.progress.position == 0.25)
    }

    @Test func readwiseHighlightsGroupedByPage() throws {
        let (store, report) = try run([fixture("readwise-highlights.csv")])
        #expect(report.created == 1 && report.merged == 1)
        #expect(skipped(report)[4]?.contains("no URL") == true)
        let article = try #require(try store.find("https://rwh.example.com/article"))
        #expect(article.title == "An Article" && article.author == "Some Author")
        #expect(article.isFavorite && article.tags == ["essays"])
        let highlights = article.highlights.sorted { $0.createdAt < $1.createdAt }
        #expect(highlights.map(\.quote) == ["First highlight", "Second highlight"])
        #expect(highlights.map(\.note) == ["note one", nil])
        #expect(highlights.map(\.color) == ["yellow", "blue"])
    }

    @Test func readwiseBookHighlightsAreRefused() throws {
        let store = try makeStore()
        #expect {
            try Importer.importFiles([fixture("readwise-books.csv")], into: store)
        } throws: { error in
            (error as? ImportError)?.reason.contains("without a 'URL' column") == true
        }
        #expect(try store.articles().isEmpty)
    }

    @Test func karakeepListsAsTags() throws {
        let (store, report) = try run([fixture("karakeep.json")])
        #expect(report.created == 2)
        #expect(report.skipped.map(\.location.line) == [2, 3])
        let one = try #require(try store.find("https://kk.example.com/one"))
        #expect(Set(one.tags) == ["kk", "self hosted", "favourites list"])
        #expect(one.note == "a note" && one.isArchived && one.isFavorite)
        #expect(one.addedAt == 1_700_000_000_000)
        #expect(try store.find("https://kk.example.com/two")?.tags == ["later"])
    }

    @Test(arguments: [
        ("pocket-a.csv", ImportFormat.pocket), ("pocket-b.csv", .pocket), ("ril_export.html", .pocketHTML),
        ("instapaper-old.csv", .instapaper), ("instapaper-new.csv", .instapaper), ("omnivore-community.json", .omnivore),
        ("wallabag.json", .wallabag), ("wallabag.csv", .wallabag), ("bookmarks.html", .netscape),
        ("readwise-reader.csv", .readwise), ("readwise-highlights.csv", .readwise), ("karakeep.json", .karakeep),
    ])
    func autoDetection(name: String, format: ImportFormat) throws {
        let text = try Importer.decodeText(Data(contentsOf: URL(fileURLWithPath: fixture(name))), name: name)
        #expect(try Detection.detect(text: text, name: name).format == format)
        // Forcing the right format reads the same as detecting it.
        let auto = try Importer.read([fixture(name)])
        let forced = try Importer.read([fixture(name)], format: format)
        #expect(auto.articles == forced.articles)
    }
}
