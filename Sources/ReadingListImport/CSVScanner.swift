/// CSV rows read from a text's UTF-8 bytes, by the rules of CSV.swift's
/// `CSVReader` (yaslab, 2.5) with `trimFields: false`:
///
/// - a field that begins with `"` is quoted: it runs to a `"` followed by the
///   delimiter, a line break or the end of the text; inside, `""` is one `"`,
///   and a `"` followed by anything else is kept while the character after it
///   is dropped (CSV.swift's reading of a malformed field);
/// - elsewhere a `"` is text, and spaces are kept;
/// - `\r\n`, `\r` and `\n` end a row; a row of one empty field is a blank line.
///
/// Hand-written for a measured reason: `CSVReader` reads scalar by scalar and
/// appends each to a `String`, which took 0.63 s of CPU for the 15 MB,
/// 100 000-row Pocket export of benchmark W9 (`perf record` of `readinglist
/// import`), a tenth of the whole import; this scanner reads the same file in
/// under 0.1 s, most fields being one copy of their bytes. Every special
/// character is ASCII, and UTF-8 never uses an ASCII byte inside a multi-byte
/// character, so reading bytes finds the fields reading scalars finds.
/// `CSVScannerTests` holds it to `CSVReader` itself on generated texts full of
/// quotes, delimiters, line breaks and non-ASCII characters.
struct CSVScanner {
    /// The text read (contiguous UTF-8).
    let text: String
    let delimiter: UInt8
    /// The byte offset of the next row.
    private(set) var offset = 0

    private static let quote = UInt8(ascii: "\"")
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    init(_ text: String, delimiter: UInt8) {
        var text = text
        text.makeContiguousUTF8()
        self.text = text
        self.delimiter = delimiter
    }

    /// The next row's fields, or nil at the end of the text.
    mutating func next() -> [String]? {
        var row: [String] = []
        let found = scanRow { bytes, field in row.append(field.string(in: bytes)) }
        return found ? row : nil
    }

    /// Passes over the next row without making its fields; false at the end of the text.
    mutating func skipRow() -> Bool { scanRow { _, _ in } }

    /// Where a field's bytes are: `start..<end`, and whether they hold `""`
    /// or a malformed quote to be rewritten.
    private struct Field {
        var start: Int
        var end: Int
        var rewritten = false

        func string(in bytes: UnsafeBufferPointer<UInt8>) -> String {
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<end])
            guard rewritten else { return String(decoding: raw, as: UTF8.self) }
            // The quoted field's bytes between its quotes: `""` is one `"`; a `"` before anything else
            // stays and the character after it goes.
            var out: [UInt8] = []
            out.reserveCapacity(raw.count)
            var at = 0
            while at < raw.count {
                let byte = raw[at]
                at += 1
                out.append(byte)
                guard byte == CSVScanner.quote, at < raw.count else { continue }
                at += raw[at] == CSVScanner.quote ? 1 : CSVScanner.scalarLength(raw[at])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The bytes a UTF-8 character starting with `lead` takes.
    private static func scalarLength(_ lead: UInt8) -> Int {
        if lead < 0xC0 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }

    /// Reads one row, handing each field to `field`; false (and nothing handed) at the end of the text.
    private mutating func scanRow(_ field: (UnsafeBufferPointer<UInt8>, Field) -> Void) -> Bool {
        let delimiter = delimiter
        var offset = offset
        let found: Bool = text.utf8.withContiguousStorageIfAvailable { bytes in
            let end = bytes.count
            guard offset < end else { return false }
            fields: while true {
                // After a delimiter at the very end of the text: one more, empty, field.
                guard offset < end else { field(bytes, Field(start: end, end: end)); return true }
                if bytes[offset] == Self.quote {
                    var current = Field(start: offset + 1, end: end)
                    offset += 1
                    while offset < end {
                        let byte = bytes[offset]
                        offset += 1
                        guard byte == Self.quote else { continue }
                        guard offset < end else {
                            current.end = offset - 1
                            field(bytes, current)
                            return true
                        }
                        let next = bytes[offset]
                        if next == Self.cr || next == Self.lf || next == delimiter {
                            current.end = offset - 1
                            field(bytes, current)
                            offset += 1
                            if next == delimiter { continue fields }
                            if next == Self.cr, offset < end, bytes[offset] == Self.lf { offset += 1 }
                            return true
                        }
                        // `""`, or a stray character after a quote: still inside the quotes.
                        current.rewritten = true
                        offset += next == Self.quote ? 1 : Self.scalarLength(next)
                    }
                    // The text ended inside the quotes: the field runs to the end.
                    field(bytes, current)
                    return true
                }
                let start = offset
                while offset < end {
                    let byte = bytes[offset]
                    if byte == delimiter {
                        field(bytes, Field(start: start, end: offset))
                        offset += 1
                        continue fields
                    }
                    if byte == Self.cr || byte == Self.lf {
                        field(bytes, Field(start: start, end: offset))
                        offset += 1
                        if byte == Self.cr, offset < end, bytes[offset] == Self.lf { offset += 1 }
                        return true
                    }
                    offset += 1
                }
                field(bytes, Field(start: start, end: end))
                return true
            }
        }!
        self.offset = offset
        return found
    }

    /// The line (1-based) each of `offsets` (ascending) is on: line breaks before it, `\r\n` once.
    func lines(before offsets: [Int]) -> [Int] {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            var lines: [Int] = []
            var line = 1
            var at = 0
            for offset in offsets {
                while at < offset {
                    let byte = bytes[at]
                    if byte == Self.lf || (byte == Self.cr && !(at + 1 < bytes.count && bytes[at + 1] == Self.lf)) { line += 1 }
                    at += 1
                }
                lines.append(line)
            }
            return lines
        }!
    }
}
