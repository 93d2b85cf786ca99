import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

/// Where in an import a row came from: the file (`archive.zip/part_000000.csv`
/// inside a ZIP), and the line (CSV, HTML) or the item number (JSON).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file's name.
    public var file: String
    /// 1-based.
    public var line: Int
    /// Whether `line` counts lines of text or items of a JSON array.
    public var isItem: Bool

    package init(file: String, line: Int, isItem: Bool = false) {
        self.file = file
        self.line = line
        self.isItem = isItem
    }

    /// `file:12` for a line, `file#3` for the third item of a JSON array.
    public var description: String { isItem ? "\(file)#\(line)" : "\(file):\(line)" }
}

/// A row an import left out (or wrote with something dropped), and why.
public struct ImportIssue: Sendable, Hashable, CustomStringConvertible {
    /// Where the row is.
    public var location: SourceLocation
    /// What is wrong with it, for a person.
    public var reason: String

    package init(_ location: SourceLocation, _ reason: String) {
        self.location = location
        self.reason = reason
    }

    /// `pocket.csv:12: a javascript: URL`.
    public var description: String { "\(location): \(reason)" }
}

/// Why an import could not read a file at all. Nothing is written when any
/// file of an import fails this way.
public struct ImportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (nil: the failure is the list's, not a file's).
    public var file: String?
    /// What is wrong, for a person.
    public var reason: String

    package init(file: String?, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    /// `file: reason` (or the reason alone).
    public var description: String { file.map { "\($0): \(reason)" } ?? reason }
}

/// One article a parser read from a file, with where it came from.
struct ParsedRow: Sendable {
    var article: ImportedArticle
    var location: SourceLocation
    /// The page the row names: the article id of its URL, or why the URL
    /// does not normalise. Worked out where the row is built, so that the
    /// rows of a large CSV get theirs on every core
    /// (``CSVFormats/read(_:cores:_:)``) rather than one by one in the merge,
    /// and handed to the store with the article (``ImportedArticle/knownID``).
    let page: Result<ArticleID, ModelError>

    init(article: ImportedArticle, location: SourceLocation) {
        self.article = article
        self.location = location
        do { page = .success(ArticleID(url: try NormalizedURL(article.request.url))) } catch { page = .failure(error) }
    }
}

/// What parsing one file gave: its rows, the rows it skipped and the
/// warnings about rows it kept (a tag dropped, content too large...).
struct ParsedFile: Sendable {
    var rows: [ParsedRow] = []
    var skipped: [ImportIssue] = []
    var warnings: [ImportIssue] = []

    mutating func append(_ other: ParsedFile) {
        // Taking the first file's (or part's) rows whole shares their storage instead of copying every row.
        if rows.isEmpty { rows = other.rows } else { rows += other.rows }
        skipped += other.skipped
        warnings += other.warnings
    }

    /// Runs `build` on each row of a file (`rows` gives each with its
    /// location) and collects what it gave: the article, or the reason the
    /// builder was told to skip the row, and the builder's warnings about a
    /// row it kept. The one loop every row-by-row format shares.
    static func collect<Rows: Sequence<(SourceLocation, Row)>, Row>(
        _ rows: Rows, _ build: (Row, inout RowBuilder) -> ImportedArticle?
    ) -> ParsedFile {
        var parsed = ParsedFile()
        for (location, row) in rows {
            var builder = RowBuilder(location)
            let article = build(row, &builder)
            if let reason = builder.skipReason {
                parsed.skipped.append(ImportIssue(location, reason))
                continue
            }
            parsed.warnings += builder.warnings
            if let article { parsed.rows.append(ParsedRow(article: article, location: location)) }
        }
        return parsed
    }
}

/// Builds one ``ImportedArticle`` from the loosely typed fields of a row,
/// applying the rules every format shares: URL checks, blank and control
/// characters, tag names, size limits. A row-level failure is a `skip`.
struct RowBuilder {
    var location: SourceLocation
    var warnings: [ImportIssue] = []
    /// Why the row is left out, once a check said so (the first reason given).
    private(set) var skipReason: String?

    init(_ location: SourceLocation) { self.location = location }

    /// Leaves the row out, for `reason` (the builder then returns nil).
    mutating func skip(_ reason: String) {
        if skipReason == nil { skipReason = reason }
    }

    /// Why a URL is not importable (nil: it may be). The message is the skip
    /// reason. Whether it normalises is checked once, when rows are merged.
    static func urlProblem(_ raw: String?) -> String? {
        guard let raw, !raw.trimmed.isEmpty else { return "no URL" }
        let trimmed = raw.trimmed
        let scheme = trimmed.prefix(while: { $0 != ":" }).lowercased()
        if scheme == "javascript" || scheme == "data" || scheme == "vbscript" || scheme == "file" {
            return "a \(scheme): URL (only web pages are imported)"
        }
        return nil
    }

    /// The time `text` gives, read by `parse`; nil when there is none. A
    /// text `parse` cannot read skips the row (the article built after it
    /// is not kept).
    mutating func time(_ text: String?, in column: String, _ parse: (String) -> Int64?) -> Int64? {
        guard let text else { return nil }
        guard let time = parse(text) else {
            skip("unreadable date '\(text)' in \(column)")
            return nil
        }
        return time
    }

    /// One-line text: trimmed, control characters and line breaks made
    /// spaces, runs of spaces collapsed; nil when blank. Over `limit` bytes
    /// it is cut at a character boundary (with a warning).
    mutating func line(_ raw: String?, field: String, limit: Int) -> String? {
        guard let raw else { return nil }
        if Self.isOneLine(raw) { return cut(raw, field: field, limit: limit) }
        var out = ""
        out.reserveCapacity(raw.utf8.count)
        var space = false
        for scalar in raw.unicodeScalars {
            if scalar.isSpaceLike || scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                space = true
            } else {
                if space && !out.isEmpty { out.unicodeScalars.append(" ") }
                space = false
                out.unicodeScalars.append(scalar)
            }
        }
        guard !out.isEmpty else { return nil }
        return cut(out, field: field, limit: limit)
    }

    /// Whether `text` is already what ``line(_:field:limit:)`` makes of it:
    /// printable ASCII, single spaces between words. Most titles are; the
    /// check is one pass over the bytes where cleaning is a pass over the
    /// scalars building a copy.
    static func isOneLine(_ text: String) -> Bool {
        var afterSpace = true
        for byte in text.utf8 {
            if byte == 0x20 {
                if afterSpace { return false }
                afterSpace = true
            } else if byte < 0x21 || byte > 0x7E {
                return false
            } else {
                afterSpace = false
            }
        }
        return !afterSpace
    }

    /// Multi-line text: control characters other than line breaks and tabs
    /// removed, trimmed; nil when blank. Over `limit`: dropped, with a warning
    /// (half a note or half a page would mislead), or cut when `cuts`.
    mutating func text(_ raw: String?, field: String, limit: Int, cuts: Bool = false) -> String? {
        guard let raw else { return nil }
        var out = String.UnicodeScalarView()
        for scalar in raw.unicodeScalars where !((scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) && scalar != "\n" && scalar != "\t" && scalar != "\r") {
            out.append(scalar)
        }
        let trimmed = String(out).trimmed
        guard !trimmed.isEmpty else { return nil }
        if trimmed.utf8.count > limit {
            if cuts { return cut(trimmed, field: field, limit: limit) }
            warnings.append(ImportIssue(location, "\(field) left out: \(FieldLimits.describeBytes(trimmed.utf8.count)), over the \(FieldLimits.describeBytes(limit)) limit"))
            return nil
        }
        return trimmed
    }

    private mutating func cut(_ text: String, field: String, limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var end = text.startIndex
        var bytes = 0
        for index in text.indices {
            let size = text[index].utf8.count
            if bytes + size > limit { break }
            bytes += size
            end = text.index(after: index)
        }
        warnings.append(ImportIssue(location, "\(field) cut to \(FieldLimits.describeBytes(limit))"))
        return String(text[..<end])
    }

    /// Tag names as the list stores them; a name that is not a tag is dropped with a warning.
    mutating func tags(_ raws: [String]) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for raw in raws where !raw.trimmed.isEmpty {
            switch Tag.check(raw) {
            case let .success(tag): if seen.insert(tag).inserted { out.append(tag) }
            case let .failure(problem): warnings.append(ImportIssue(location, "tag '\(raw)' left out: \(problem.reason)"))
            }
        }
        return out
    }

    /// A highlight, cleaned; nil when its quote is blank.
    mutating func highlight(quote: String?, note: String? = nil, color: String? = nil, position: Double? = nil, createdAt: Int64? = nil) -> ImportedHighlight? {
        guard let quote = text(quote, field: "highlight", limit: FieldLimits.note, cuts: true) else { return nil }
        let clamped = position.flatMap { $0.isFinite ? min(max($0, 0), 1) : nil }
        return ImportedHighlight(
            quote: quote, note: text(note, field: "highlight note", limit: FieldLimits.note, cuts: true),
            color: line(color, field: "highlight colour", limit: FieldLimits.short), position: clamped, createdAt: createdAt)
    }
}

extension FieldLimits {
    static func describeBytes(_ bytes: Int) -> String { describe(bytes: bytes) }
}

// MARK: Field formats shared by several exporters

enum FieldParse {
    /// Tags separated by `separator` (Pocket: `|`, Wallabag: `,`).
    static func split(_ text: String?, by separator: Character) -> [String] {
        guard let text else { return [] }
        return text.split(separator: separator).map(String.init)
    }

    /// A JSON array of strings (Instapaper's `Tags`): `["a","b"]`; also accepts a bare name.
    static func jsonStringArray(_ text: String?) -> [String]? {
        guard let text = text?.trimmed, !text.isEmpty else { return [] }
        guard text.hasPrefix("[") else { return nil }
        guard let data = text.data(using: .utf8), let value = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return nil }
        return value.compactMap { element in
            if let name = element as? String { return name }
            if let object = element as? [String: Any] { return object["name"] as? String }
            return nil
        }
    }

    /// A Python list literal of strings (Readwise's `Document tags`):
    /// `['a', "it's"]`, with `\'`, `\"` and `\\` escapes; nil when it is not one.
    static func pythonStringList(_ text: String?) -> [String]? {
        guard let text = text?.trimmed, !text.isEmpty else { return [] }
        var scalars = Array(text.unicodeScalars)[...]
        guard scalars.first == "[", scalars.last == "]" else { return nil }
        scalars = scalars.dropFirst().dropLast()
        var out: [String] = []
        while true {
            scalars = scalars.drop { $0 == " " || $0 == "," || $0 == "\t" }
            guard let quote = scalars.first else { return out }
            guard quote == "'" || quote == "\"" else { return nil }
            scalars = scalars.dropFirst()
            var item = String.UnicodeScalarView()
            var closed = false
            while let scalar = scalars.first {
                scalars = scalars.dropFirst()
                if scalar == "\\", let next = scalars.first {
                    scalars = scalars.dropFirst()
                    item.append(next)
                } else if scalar == quote {
                    closed = true
                    break
                } else {
                    item.append(scalar)
                }
            }
            guard closed else { return nil }
            out.append(String(item))
        }
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no` (any case); nil otherwise.
    static func bool(_ text: String?) -> Bool? {
        switch text?.trimmed.lowercased() {
        case "true", "1", "yes", "y": true
        case "false", "0", "no", "n", "": false
        default: nil
        }
    }
}

/// Dates as the exporters write them, to milliseconds since 1970.
enum DateParse {
    /// Why a date could not be read, as a skip reason.
    struct Failure: Error { var reason: String }

    /// Unix seconds (`1600322788`, Pocket, Instapaper, Netscape); also
    /// milliseconds when the number is too large to be seconds.
    static func unix(_ text: String) -> Int64? {
        let trimmed = text.trimmed
        guard !trimmed.isEmpty, let value = Double(trimmed), value.isFinite, value >= 0 else { return nil }
        // Seconds until the year 5138; above that, a count of milliseconds (or microseconds: Firefox's dateAdded).
        if value >= 1e15 { return Int64(value / 1000) }
        if value >= 1e11 { return Int64(value) }
        return Int64(value * 1000)
    }

    /// ISO 8601 and its common variants: `2024-10-29T16:30:11.000Z`,
    /// `2016-09-08T11:55:58+0200` (Wallabag), `2026-03-14 23:55:23.291000+00:00`
    /// (Readwise), a date alone (`2024-05-01`, midnight UTC).
    static func iso(_ text: String) -> Int64? {
        let scalars = Array(text.trimmed.utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= scalars.count else { return nil }
            var value = 0
            for k in i..<(i + digits) {
                let c = scalars[k]
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
            }
            i += digits
            return value
        }
        func take(_ c: UInt8) -> Bool {
            if i < scalars.count && scalars[i] == c { i += 1; return true }
            return false
        }
        guard let year = number(4), take(45), let month = number(2), take(45), let day = number(2) else { return nil }
        var hour = 0, minute = 0, second = 0
        var millis = 0
        var offset = 0
        if i < scalars.count {
            guard take(84) || take(32) || take(116) else { return nil }
            guard let h = number(2), take(58), let m = number(2) else { return nil }
            hour = h; minute = m
            if take(58) {
                guard let s = number(2) else { return nil }
                second = s
                if take(46) || take(44) {
                    // Milliseconds from the first three digits, in integers (0.035 summed
                    // as 0.03 + 0.005 is just under it, and came out a millisecond early).
                    var digits = 0
                    while i < scalars.count, scalars[i] >= 48 && scalars[i] <= 57 {
                        if digits < 3 { millis = millis * 10 + Int(scalars[i] - 48) }
                        digits += 1
                        i += 1
                    }
                    for _ in digits..<max(digits, 3) { millis *= 10 }
                }
            }
            if take(90) || take(122) {
                offset = 0
            } else if i < scalars.count, scalars[i] == 43 || scalars[i] == 45 {
                let sign = scalars[i] == 45 ? -1 : 1
                i += 1
                guard let oh = number(2) else { return nil }
                _ = take(58)
                let om = number(2) ?? 0
                offset = sign * (oh * 3600 + om * 60)
            }
            guard i == scalars.count else { return nil }
        }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        guard let days = daysFromCivil(year: year, month: month, day: day) else { return nil }
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Int64(seconds) * 1000 + Int64(millis)
    }

    /// Wallabag's CSV date `d/m/Y h:i:s`: 12-hour without AM/PM (lossy: read as given, UTC).
    static func wallabagCSV(_ text: String) -> Int64? {
        let parts = text.trimmed.split(whereSeparator: { $0 == "/" || $0 == " " || $0 == ":" }).map { Int($0) }
        guard parts.count == 6 || parts.count == 3, parts.allSatisfy({ $0 != nil }) else { return nil }
        let p = parts.map { $0! }
        guard (1...12).contains(p[1]), (1...31).contains(p[0]), let days = daysFromCivil(year: p[2], month: p[1], day: p[0]) else { return nil }
        let time = p.count == 6 ? p[3] * 3600 + p[4] * 60 + p[5] : 0
        return Int64(days * 86_400 + time) * 1000
    }

    /// Unix seconds or ISO 8601, whichever `text` is.
    static func any(_ text: String) -> Int64? {
        unix(text) ?? iso(text)
    }

    /// Days from 1970-01-01 (Howard Hinnant's algorithm), nil for an impossible day.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int? {
        let lengths = [31, (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...lengths[month - 1]).contains(day) else { return nil }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension String {
    /// Without whitespace and line breaks at either end. Not Foundation's
    /// `trimmingCharacters(in:)`, which bridges through UTF-16 and took a fifth
    /// of a 100 000-row import's time in the profile.
    var trimmed: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isSpaceLike }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isSpaceLike })!
        if first == scalars.startIndex && scalars.index(after: last) == scalars.endIndex { return self }
        return String(scalars[first...last])
    }
}

extension Substring {
    var trimmed: String { String(self).trimmed }
}

extension Unicode.Scalar {
    /// Whitespace or a line break (Unicode's White_Space), with a fast path for ASCII.
    var isSpaceLike: Bool {
        value < 0x80 ? value == 0x20 || (0x09...0x0D).contains(value) : properties.isWhitespace
    }
}
