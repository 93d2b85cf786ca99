import CSV
@testable import ReadingListImport
import SyncCore
import Testing

/// ``CSVScanner`` reads CSV from bytes by the rules of CSV.swift's
/// `CSVReader`; these tests hold it to `CSVReader` itself.
@Suite struct CSVScannerTests {
    /// Every row `CSVReader` reads from `text`.
    static func referenceRows(_ text: String, delimiter: UnicodeScalar) throws -> [[String]] {
        let reader = try CSVReader(string: text, hasHeaderRow: false, trimFields: false, delimiter: delimiter)
        var rows: [[String]] = []
        while let row = reader.next() { rows.append(row) }
        return rows
    }

    static func scannedRows(_ text: String, delimiter: UnicodeScalar) -> [[String]] {
        var scanner = CSVScanner(text, delimiter: UInt8(delimiter.value))
        var rows: [[String]] = []
        while let row = scanner.next() { rows.append(row) }
        return rows
    }

    /// The pieces generated texts are made of: every character the rules tell
    /// apart, in runs, and characters of two, three and four UTF-8 bytes
    /// (after a stray quote, CSV.swift drops a whole character).
    static let pieces = [
        "\"", "\"\"", ",", ";", "\r", "\n", "\r\n", " ", "a", "bc", "é", "日本", "😀", "\t", "\"x", "\"é", "\"😀", "x\"", ",\"", "\"\r", "\"\n",
    ]

    @Test(arguments: [UnicodeScalar(","), UnicodeScalar(";")])
    func readsWhatCSVReaderReadsFromGeneratedTexts(delimiter: UnicodeScalar) throws {
        var random = SplitMix64(seed: 0x00C5_5CA7)
        for round in 0..<4000 {
            var text = ""
            for _ in 0..<Int(random.next() % 24) { text += Self.pieces[Int(random.next() % UInt64(Self.pieces.count))] }
            let expected = try Self.referenceRows(text, delimiter: delimiter)
            let scanned = Self.scannedRows(text, delimiter: delimiter)
            #expect(scanned == expected, "round \(round): \(text.debugDescription)")
            if scanned != expected { return }
        }
    }

    @Test func readsTheTrapsAsCSVReaderDoes() throws {
        let texts = [
            "", "\n", "\r", "\r\n\r\n", ",", ",,\n,", "a,b\nc,d", "a,b\r\nc,d\r\n", "a,b\rc,d\r",
            "\"quoted, comma\",plain\n", "\"two\nlines\",x", "\"esc \"\"aped\"\"\",y", "\"stray\"x after\",z",
            "\"stray before multibyte\"é\",z", "\"stray\"😀 emoji\",z", "\"unterminated", "\"ends with quote\"",
            "\"quote then CR\"\rnext", "mid\"dle,quote", " leading, spaces ", "\"\"", "\"\"\"\"", "a,\"\"\n", "\"a\"\"\"",
        ]
        for text in texts {
            #expect(Self.scannedRows(text, delimiter: ",") == (try Self.referenceRows(text, delimiter: ",")), "\(text.debugDescription)")
        }
    }

    @Test func skippingRowsEndsWhereReadingThemEnds() {
        let text = "a,\"b\nc\"\r\n\"d\"\"\",e\rf\n\n\"g"
        var reading = CSVScanner(text, delimiter: UInt8(ascii: ","))
        var skipping = CSVScanner(text, delimiter: UInt8(ascii: ","))
        var rows = 0
        while reading.next() != nil {
            let skipped = skipping.skipRow()
            #expect(skipped)
            #expect(skipping.offset == reading.offset)
            rows += 1
        }
        #expect(rows == 5)
        let atEnd = skipping.skipRow()
        #expect(!atEnd)
    }
}
