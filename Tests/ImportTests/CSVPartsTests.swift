import Foundation
import ReadingListModel
@testable import ReadingListImport
import ReplicaStore
import Testing

/// A large CSV is read in parts on several cores (``CSVTable/parts(_:minimumRows:)``):
/// the rows, the lines they start on and what is skipped must be what
/// reading the file from start to end gives, every shape of row included.
@Suite struct CSVPartsTests {
    /// 6 001 rows cycling through the shapes CSV.swift's reader tells apart:
    /// quoted commas and line breaks, `""`, a lone `\r` ending a row, stray
    /// quotes in and after fields, blank lines, a repeated header, rows to
    /// skip, non-ASCII text, and no line break after the last row.
    static let text: String = {
        var text = "title,url,time_added,tags,status\r\n"
        for index in 0..<6000 {
            let url = "https://example.com/\(index)"
            switch index % 12 {
            case 0: text += "\"Quoted, with a comma\",\(url),1600000000,a|b,unread\n"
            case 1: text += "\"Two\nlines\r\nand CRLF\",\(url),1600000000,,archive\r\n"
            case 2: text += "\"An \"\"escaped\"\" quote\",\(url),1600000000,,unread\r"
            case 3: text += "A stray \" quote,\(url),1600000000,,unread\n"
            case 4: text += "\"A stray byte\"x after a quote, \"still quoted\n\",\(url),1600000000,,unread\n"
            case 5: text += "\n"
            case 6: text += "title,url,time_added,tags,status\n"
            case 7: text += "Bad,javascript:alert(1),1600000000,,unread\n"
            case 8: text += "Bad date,\(url),yesterday,,unread\n"
            case 9: text += "Ünïcödé — 日本語,\(url),1600000000,ü|日本,unread\n"
            case 10: text += "\"Ends in CR\r\",\(url),1600000000,,unread\n"
            default: text += "Plain,\(url),1600000000,x,unread\n"
            }
        }
        return text + "Last row,https://example.com/last,1600000000,,unread"
    }()

    static func rows(_ table: inout CSVTable) -> [(line: Int, fields: [String])] {
        var rows: [(line: Int, fields: [String])] = []
        while let (line, row) = table.next() { rows.append((line, row.fields)) }
        return rows
    }

    @Test func partsHoldTheRowsOfTheWholeFile() throws {
        var whole = try CSVTable(text: Self.text, file: "big.csv")
        let expected = Self.rows(&whole)
        #expect(expected.count > 4000)
        let parts = try #require(try CSVTable(text: Self.text, file: "big.csv").parts(3))
        #expect(parts.count == 3)
        var joined: [(line: Int, fields: [String])] = []
        for part in parts {
            var table = CSVTable(part: part)
            joined += Self.rows(&table)
        }
        #expect(joined.map(\.line) == expected.map(\.line))
        #expect(joined.map(\.fields) == expected.map(\.fields))
    }

    @Test func readingOnSeveralCoresGivesWhatOneCoreGives() throws {
        let build: @Sendable (CSVTable.Row, inout RowBuilder) -> ImportedArticle? = { row, builder in
            guard let url = CSVFormats.url(row["url"], &builder) else { return nil }
            guard let added = row["time_added"].flatMap(DateParse.unix) else { builder.skip("unreadable date"); return nil }
            return ImportedArticle(
                request: SaveRequest(url: url, title: row["title"], tags: builder.tags(FieldParse.split(row["tags"], by: "|"))),
                addedAt: added)
        }
        var one = try CSVTable(text: Self.text, file: "big.csv")
        let sequential = CSVFormats.read(&one, cores: 1, build)
        var several = try CSVTable(text: Self.text, file: "big.csv")
        let parallel = CSVFormats.read(&several, cores: 3, build)
        #expect(parallel.rows.map(\.location) == sequential.rows.map(\.location))
        #expect(parallel.rows.map(\.article) == sequential.rows.map(\.article))
        #expect(parallel.skipped == sequential.skipped)
        #expect(parallel.warnings == sequential.warnings)
        #expect(sequential.skipped.count == 2 * 500)
    }

    /// Each row's page is worked out on the core that read it, and the
    /// importer hands it to the store as the article's id: it must be the id
    /// the store would derive from the URL.
    @Test func eachArticleCarriesTheIDOfItsURL() throws {
        let path = try Self.file()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let plan = try Importer.read([path], format: .pocket)
        #expect(plan.articles.count > 3000)
        for article in plan.articles {
            #expect(article.knownID == ArticleID(url: try NormalizedURL(article.request.url)), "\(article.request.url)")
        }
    }

    /// ``text`` in a file of its own.
    static func file() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parts-\(UUID().uuidString).csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aSmallFileIsReadWhole() throws {
        let table = try CSVTable(text: "title,url\nA,https://example.com/a\n", file: "small.csv")
        #expect(table.parts(4) == nil)
        var read = try CSVTable(text: Self.text, file: "big.csv")
        _ = read.next()
        // Once rows are read, the rest is not cut (the parts start after the header).
        #expect(read.parts(4) == nil)
    }
}
