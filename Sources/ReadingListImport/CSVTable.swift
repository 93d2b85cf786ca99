import CSV
import Foundation

/// A CSV file read with CSV.swift (yaslab), row by row, its columns looked
/// up by header name (case-insensitive, surrounding spaces ignored), never by
/// position: Pocket shipped two header layouts.
///
/// CSV.swift rather than SwiftCSV: it streams rows instead of building every
/// row up front, works on Unicode scalars (so `\r\n` is two characters, as RFC
/// 4180 means, and a quoted field keeps its line breaks verbatim), and keeps
/// leading spaces of unquoted fields (SwiftCSV drops them). The tests check
/// quoted multi-line fields, a byte-order mark, `\r\n` and `;` delimiters.
struct CSVTable {
    let file: String
    let header: [String]
    private let columns: [String: Int]
    private let reader: CSVReader
    /// The line the next row starts on (1-based; the header is line 1).
    private var nextLine: Int
    /// The whole file and its delimiter, for ``parts(_:)``.
    private let text: String
    private let delimiter: UnicodeScalar

    /// Reads the header of `text`. `delimiter` is `,` or `;`.
    init(text: String, file: String, delimiter: UnicodeScalar = ",") throws(ImportError) {
        self.file = file
        self.text = text
        self.delimiter = delimiter
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: false, delimiter: delimiter)
        } catch {
            throw ImportError(file: file, "no CSV header row")
        }
        let header = (reader.headerRow ?? []).map { $0.trimmed }
        guard header.contains(where: { !$0.isEmpty }) else { throw ImportError(file: file, "no CSV header row") }
        self.header = header
        var columns: [String: Int] = [:]
        for (index, name) in header.enumerated() where columns[name.lowercased()] == nil { columns[name.lowercased()] = index }
        self.columns = columns
        nextLine = 2 + Self.lineBreaks(in: reader.headerRow ?? [])
    }

    /// Reads one part of a file (see ``parts(_:)``): its rows, by the header of the whole file.
    init(part: Part) {
        file = part.file
        header = part.header
        columns = part.columns
        text = part.text
        delimiter = part.delimiter
        // A part holds whole rows only, so the reader starts at a row; the header was read from the whole file.
        // (`CSVReader` throws only when it cannot read a header row, which it is not asked to read here.)
        reader = try! CSVReader(string: part.text, hasHeaderRow: false, trimFields: false, delimiter: part.delimiter)
        nextLine = part.firstLine
    }

    /// A run of whole rows of a file, with what reading them needs: parts
    /// are read on several cores (`CSVReader` reads scalar by scalar, a
    /// sixth of a large import), then their rows joined in order.
    struct Part: Sendable {
        let file: String
        let header: [String]
        let columns: [String: Int]
        let delimiter: UnicodeScalar
        let text: String
        /// The line its first row starts on.
        let firstLine: Int
    }

    /// The rows after the header cut into at most `count` parts of about
    /// equal size, each starting where `CSVReader` starts a row, or nil when
    /// the file is too small to be worth cutting (or not read from the start).
    ///
    /// Hand-written, and only to find where rows start: a byte scan with
    /// CSV.swift's own rules (a field that begins with a quote runs to a quote
    /// followed by the delimiter, a line break or the end, `""` and any other
    /// quoted byte staying inside; elsewhere a quote is text; `\r\n`, `\r` and
    /// `\n` end a row), so that reading the parts gives the rows reading
    /// the whole file gives. The fields themselves are still CSV.swift's.
    func parts(_ count: Int, minimumRows: Int = 2000) -> [Part]? {
        guard count > 1, nextLine == 2 + Self.lineBreaks(in: reader.headerRow ?? []), delimiter.isASCII else { return nil }
        let delimiterByte = UInt8(delimiter.value)
        var text = text
        text.makeContiguousUTF8()
        let utf8 = text.utf8
        guard let (starts, lines) = utf8.withContiguousStorageIfAvailable({ bytes in
            let starts = Self.rowStarts(bytes, delimiter: delimiterByte)
            // A part per `minimumRows` rows at least, the header (starts[0]) not in any.
            let parts = min(count, (starts.count - 1) / minimumRows)
            guard parts > 1 else { return ([Int](), [Int]()) }
            let cuts = (0..<parts).map { starts[1 + (starts.count - 1) * $0 / parts] }
            return (cuts, Self.lines(before: cuts, in: bytes))
        }), starts.count > 1 else { return nil }
        return starts.indices.map { index in
            let start = utf8.index(utf8.startIndex, offsetBy: starts[index])
            let end = index + 1 < starts.count ? utf8.index(utf8.startIndex, offsetBy: starts[index + 1]) : utf8.endIndex
            return Part(
                file: file, header: header, columns: columns, delimiter: delimiter,
                text: String(Substring(utf8[start..<end])), firstLine: lines[index])
        }
    }

    /// The byte offset of every row's start (the header's, 0, first), by CSV.swift's rules (see ``parts(_:)``).
    private static func rowStarts(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8) -> [Int] {
        let (quote, cr, lf): (UInt8, UInt8, UInt8) = (34, 13, 10)
        let end = bytes.count
        var starts: [Int] = []
        var at = 0
        rows: while at < end {
            starts.append(at)
            fields: while at < end {
                if bytes[at] == quote {
                    at += 1
                    while at < end {
                        let byte = bytes[at]
                        at += 1
                        guard byte == quote else { continue }
                        guard at < end else { break rows }
                        let next = bytes[at]
                        at += 1
                        if next == cr {
                            if at < end && bytes[at] == lf { at += 1 }
                            continue rows
                        }
                        if next == lf { continue rows }
                        if next == delimiter { continue fields }
                        // `""`, or a stray byte after a quote: still inside the quotes.
                    }
                    break rows
                }
                while at < end {
                    let byte = bytes[at]
                    at += 1
                    if byte == cr {
                        if at < end && bytes[at] == lf { at += 1 }
                        continue rows
                    }
                    if byte == lf { continue rows }
                    if byte == delimiter { continue fields }
                }
                break rows
            }
        }
        return starts
    }

    /// The line (1-based) each of `offsets` (ascending) is on: line breaks before it, `\r\n` once.
    private static func lines(before offsets: [Int], in bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        var lines: [Int] = []
        var line = 1
        var at = 0
        for offset in offsets {
            while at < offset {
                let byte = bytes[at]
                if byte == 10 || (byte == 13 && !(at + 1 < bytes.count && bytes[at + 1] == 10)) { line += 1 }
                at += 1
            }
            lines.append(line)
        }
        return lines
    }

    /// Whether the header names every column of `names`.
    func has(_ names: String...) -> Bool { names.allSatisfy { columns[$0.lowercased()] != nil } }

    /// The next row and the line it starts on, or nil at the end. Blank lines are passed over.
    mutating func next() -> (line: Int, row: Row)? {
        while let fields = reader.next() {
            let line = nextLine
            nextLine += 1 + Self.lineBreaks(in: fields)
            if fields.count == 1 && fields[0].trimmed.isEmpty { continue }
            // Pocket repeats its header in every part; a header row in the middle is no article.
            if fields.count == header.count, fields.first?.trimmed == header.first,
               fields.map({ $0.trimmed }) == header {
                continue
            }
            return (line, Row(fields: fields, columns: columns))
        }
        return nil
    }

    /// Line breaks inside quoted fields (a `\r\n` counts once).
    private static func lineBreaks(in fields: [String]) -> Int {
        var count = 0
        for field in fields {
            var previousCR = false
            for byte in field.utf8 {
                if byte == 10 { if !previousCR { count += 1 } } else if byte == 13 { count += 1 }
                previousCR = byte == 13
            }
        }
        return count
    }

    /// One row: fields by column name.
    struct Row {
        let fields: [String]
        let columns: [String: Int]

        /// The field of column `name`, nil when the column is missing or the field empty.
        subscript(_ name: String) -> String? {
            guard let index = columns[name.lowercased()], index < fields.count else { return nil }
            let value = fields[index]
            return value.isEmpty ? nil : value
        }
    }
}
