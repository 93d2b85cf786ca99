import Foundation

/// A CSV file read row by row, its columns looked up by header name
/// (case-insensitive, surrounding spaces ignored), never by position: Pocket
/// shipped two header layouts.
///
/// The rows come from ``CSVScanner``, which reads fields the way CSV.swift's
/// `CSVReader` does (RFC 4180 quoting, `\r\n`, `\r` and `\n` ending a row, a
/// quoted field keeping its line breaks verbatim, leading spaces of unquoted
/// fields kept), from the UTF-8 bytes instead of scalar by scalar.
struct CSVTable {
    let file: String
    let header: [String]
    private let columns: [String: Int]
    private var scanner: CSVScanner
    /// Where the first row after the header starts, for ``parts(_:)``.
    private let bodyStart: Int
    /// The line the next row starts on (1-based; the header is line 1).
    private var nextLine: Int

    /// Reads the header of `text`. `delimiter` is `,` or `;`.
    init(text: String, file: String, delimiter: UnicodeScalar = ",") throws(ImportError) {
        self.file = file
        guard delimiter.isASCII, delimiter != "\"", delimiter != "\r", delimiter != "\n" else {
            throw ImportError(file: file, "'\(delimiter)' cannot separate CSV fields")
        }
        scanner = CSVScanner(text, delimiter: UInt8(delimiter.value))
        guard let headerRow = scanner.next() else { throw ImportError(file: file, "no CSV header row") }
        let header = headerRow.map { $0.trimmed }
        guard header.contains(where: { !$0.isEmpty }) else { throw ImportError(file: file, "no CSV header row") }
        self.header = header
        var columns: [String: Int] = [:]
        for (index, name) in header.enumerated() where columns[name.lowercased()] == nil { columns[name.lowercased()] = index }
        self.columns = columns
        bodyStart = scanner.offset
        nextLine = 2 + Self.lineBreaks(in: headerRow)
    }

    /// Reads one part of a file (see ``parts(_:)``): its rows, by the header of the whole file.
    init(part: Part) {
        file = part.file
        header = part.header
        columns = part.columns
        // A part holds whole rows only, so the scanner starts at a row; the header was read from the whole file.
        scanner = CSVScanner(part.text, delimiter: part.delimiter)
        bodyStart = 0
        nextLine = part.firstLine
    }

    /// A run of whole rows of a file, with what reading them needs: parts
    /// are read on several cores, then their rows joined in order.
    struct Part: Sendable {
        let file: String
        let header: [String]
        let columns: [String: Int]
        let delimiter: UInt8
        let text: String
        /// The line its first row starts on.
        let firstLine: Int
    }

    /// The rows after the header cut into at most `count` parts of about
    /// equal size, each starting where a row starts (found by the scanner
    /// itself, so reading the parts gives the rows reading the whole file
    /// gives), or nil when the file is too small to be worth cutting (or
    /// not read from the start).
    func parts(_ count: Int, minimumRows: Int = 2000) -> [Part]? {
        guard count > 1, scanner.offset == bodyStart else { return nil }
        var scanner = scanner
        var starts: [Int] = []
        while scanner.skipRow() { starts.append(scanner.offset) }
        // `starts` holds where each row ends, which is where the next starts.
        starts.insert(bodyStart, at: 0)
        starts.removeLast()
        // A part per `minimumRows` rows at least.
        let parts = min(count, starts.count / minimumRows)
        guard parts > 1 else { return nil }
        let cuts = (0..<parts).map { starts[starts.count * $0 / parts] }
        let lines = scanner.lines(before: cuts)
        let text = scanner.text
        let utf8 = text.utf8
        return cuts.indices.map { index in
            let start = utf8.index(utf8.startIndex, offsetBy: cuts[index])
            let end = index + 1 < cuts.count ? utf8.index(utf8.startIndex, offsetBy: cuts[index + 1]) : utf8.endIndex
            return Part(
                file: file, header: header, columns: columns, delimiter: scanner.delimiter,
                text: String(Substring(utf8[start..<end])), firstLine: lines[index])
        }
    }

    /// Whether the header names every column of `names`.
    func has(_ names: String...) -> Bool { names.allSatisfy { columns[$0.lowercased()] != nil } }

    /// The next row and the line it starts on, or nil at the end. Blank lines are passed over.
    mutating func next() -> (line: Int, row: Row)? {
        while let fields = scanner.next() {
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
            // The formats name their columns in lower case, as `columns` holds them: lowering is the rare path.
            guard let index = columns[name] ?? columns[name.lowercased()], index < fields.count else { return nil }
            let value = fields[index]
            return value.isEmpty ? nil : value
        }
    }
}
