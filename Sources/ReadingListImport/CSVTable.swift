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

    /// Reads the header of `text`. `delimiter` is `,` or `;`.
    init(text: String, file: String, delimiter: UnicodeScalar = ",") throws(ImportError) {
        self.file = file
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
