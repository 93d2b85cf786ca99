import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

/// A small, tolerant tokenizer for the subset of HTML that bookmark files
/// use: start and end tags with attributes (quoted either way, or bare),
/// comments, `<!DOCTYPE>`, text with character references.
///
/// Hand-written because SwiftSoup is not among the packages this project
/// can depend on, and a bookmark file is not a document a full HTML5 parser
/// is needed for: Netscape files leave `<DT>`, `<DD>` and `<p>` unclosed,
/// which a tree builder would "repair" into a different nesting than the one
/// the folders mean, so importers (browsers' own included) read them as a
/// stream of tags, as this does. It never fails: bytes it does not understand
/// are text.
struct HTMLTokenizer {
    enum Token {
        case start(name: String, attributes: [String: String], line: Int)
        case end(name: String)
        case text(String)
    }

    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    mutating func next() -> Token? {
        guard index < scalars.count else { return nil }
        if scalars[index] == "<" {
            if let token = tag() { return token }
        }
        var text = String.UnicodeScalarView()
        repeat {
            advance(&text)
        } while index < scalars.count && scalars[index] != "<"
        return .text(Self.decodeEntities(String(text)))
    }

    private mutating func advance(_ text: inout String.UnicodeScalarView) {
        if scalars[index] == "\n" { line += 1 }
        text.append(scalars[index])
        index += 1
    }

    private mutating func skip(to end: String) {
        let target = Array(end.unicodeScalars)
        while index < scalars.count {
            if scalars[index] == target[0], index + target.count <= scalars.count, Array(scalars[index..<(index + target.count)]) == target {
                index += target.count
                return
            }
            if scalars[index] == "\n" { line += 1 }
            index += 1
        }
    }

    /// A tag at `<`, or nil (the `<` is text) when none starts there.
    private mutating func tag() -> Token? {
        let start = index
        let startLine = line
        var i = index + 1
        guard i < scalars.count else { return nil }
        if scalars[i] == "!" {
            if i + 2 < scalars.count, scalars[i + 1] == "-", scalars[i + 2] == "-" {
                index = i + 3
                skip(to: "-->")
            } else {
                index = i
                skip(to: ">")
            }
            return .text("")
        }
        let closing = scalars[i] == "/"
        if closing { i += 1 }
        var name = ""
        while i < scalars.count, scalars[i].properties.isAlphabetic || ("0"..."9").contains(scalars[i]) {
            name.unicodeScalars.append(scalars[i])
            i += 1
        }
        guard !name.isEmpty else { return nil }
        index = i
        var attributes: [String: String] = [:]
        while index < scalars.count {
            let c = scalars[index]
            if c == ">" { index += 1; break }
            if c == "\n" { line += 1 }
            if c.properties.isWhitespace || c == "/" { index += 1; continue }
            var key = ""
            while index < scalars.count, !scalars[index].properties.isWhitespace, scalars[index] != "=", scalars[index] != ">" {
                key.unicodeScalars.append(scalars[index])
                index += 1
            }
            while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 }
            var value = ""
            if index < scalars.count, scalars[index] == "=" {
                index += 1
                while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 }
                if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" {
                    let quote = scalars[index]
                    index += 1
                    while index < scalars.count, scalars[index] != quote {
                        if scalars[index] == "\n" { line += 1 }
                        value.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                    index += 1
                } else {
                    while index < scalars.count, !scalars[index].properties.isWhitespace, scalars[index] != ">" {
                        value.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                }
            }
            if !key.isEmpty, attributes[key.lowercased()] == nil { attributes[key.lowercased()] = Self.decodeEntities(value) }
        }
        _ = start
        return closing ? .end(name: name.lowercased()) : .start(name: name.lowercased(), attributes: attributes, line: startLine)
    }

    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "ndash": "–", "mdash": "—",
        "hellip": "…", "laquo": "«", "raquo": "»", "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "copy": "©",
    ]

    /// `&amp;`, `&#39;`, `&#x27;` and the common named references; others stay as written.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[rest.startIndex..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(12).firstIndex(of: ";") {
                let name = after[after.startIndex..<semi]
                var replacement: String?
                if name.hasPrefix("#x") || name.hasPrefix("#X"), let code = UInt32(name.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(code) {
                    replacement = String(scalar)
                } else if name.hasPrefix("#"), let code = UInt32(name.dropFirst()), let scalar = Unicode.Scalar(code) {
                    replacement = String(scalar)
                } else {
                    replacement = namedEntities[String(name)]
                }
                if let replacement {
                    out += replacement
                    rest = after[after.index(after: semi)...]
                    continue
                }
            }
            out += "&"
            rest = after
        }
        return out + rest
    }
}

enum HTMLFormats {
    /// Netscape bookmark HTML: `<DT><A HREF ADD_DATE TAGS TOREAD ...>title</A>`,
    /// an optional `<DD>` description (the note; linkding's
    /// `[linkding-notes]...[/linkding-notes]` inside it too), folders
    /// (`<DT><H3>name</H3><DL>...</DL>`) as tags, linkding's
    /// `linkding:bookmarks.archived` tag as the archived state, `TOREAD="1"`
    /// as unread (the default) and its absence as no statement.
    static func netscape(_ text: String, file: String, strict: Bool) throws(ImportError) -> ParsedFile {
        if strict, !text.drop(while: { $0.isWhitespace || $0 == "\u{FEFF}" }).prefix(40).lowercased().hasPrefix("<!doctype netscape-bookmark-file-1") {
            throw ImportError(file: file, "not a Netscape bookmark file: it does not start with <!DOCTYPE NETSCAPE-Bookmark-file-1>")
        }
        var tokenizer = HTMLTokenizer(text)
        var parsed = ParsedFile()
        var folders: [String?] = []
        var pendingFolder: String?
        var folderText: String?
        var link: (attributes: [String: String], line: Int, title: String)?
        var description: String?
        var last: (attributes: [String: String], line: Int, title: String, folders: [String])?

        func finish() {
            guard let entry = last else { return }
            last = nil
            let location = SourceLocation(file: file, line: entry.line)
            var builder = RowBuilder(location)
            let attributes = entry.attributes
            if let problem = RowBuilder.urlProblem(attributes["href"]) {
                parsed.skipped.append(ImportIssue(location, problem))
                description = nil
                return
            }
            let url = attributes["href"]!.trimmed
            var addedAt: Int64?
            if let date = attributes["add_date"], !date.isEmpty {
                guard let time = DateParse.unix(date) else {
                    parsed.skipped.append(ImportIssue(location, "unreadable date '\(date)' in ADD_DATE"))
                    description = nil
                    return
                }
                addedAt = time
            }
            var tagNames = entry.folders + FieldParse.split(attributes["tags"], by: ",")
            var archived = false
            if let index = tagNames.firstIndex(where: { $0.trimmed == "linkding:bookmarks.archived" }) {
                tagNames.remove(at: index)
                archived = true
            }
            var note = description
            if let text = description, let open = text.range(of: "[linkding-notes]"), let close = text.range(of: "[/linkding-notes]"), open.upperBound <= close.lowerBound {
                let notes = String(text[open.upperBound..<close.lowerBound])
                let rest = (String(text[..<open.lowerBound]) + String(text[close.upperBound...])).trimmed
                note = [rest, notes].filter { !$0.isEmpty }.joined(separator: "\n\n")
            }
            description = nil
            let article = ImportedArticle(
                request: SaveRequest(
                    url: url, title: CSVFormats.title(entry.title, url: url, &builder), tags: builder.tags(tagNames),
                    note: builder.text(note, field: "note", limit: FieldLimits.note)),
                addedAt: addedAt, isRead: archived, isArchived: archived)
            parsed.warnings += builder.warnings
            parsed.rows.append(ParsedRow(article: article, location: location))
        }

        var inDescription = false
        while let token = tokenizer.next() {
            switch token {
            case let .start(name, attributes, line):
                if name == "a" {
                    if inDescription { inDescription = false }
                    finish()
                    link = (attributes, line, "")
                } else if name == "h3" {
                    folderText = ""
                } else if name == "dl" {
                    if inDescription { inDescription = false }
                    folders.append(pendingFolder)
                    pendingFolder = nil
                } else if name == "dd" {
                    if last != nil { inDescription = true; description = "" }
                } else if name == "dt" {
                    if inDescription { inDescription = false }
                    finish()
                }
            case let .end(name):
                if name == "a", let open = link {
                    last = (open.attributes, open.line, open.title, folders.compactMap { $0 })
                    link = nil
                } else if name == "h3" {
                    finish()
                    pendingFolder = folderText?.trimmed
                    if pendingFolder?.isEmpty == true { pendingFolder = nil }
                    folderText = nil
                } else if name == "dl" {
                    inDescription = false
                    finish()
                    if !folders.isEmpty { folders.removeLast() }
                }
            case let .text(text):
                if link != nil {
                    link!.title += text
                } else if folderText != nil {
                    folderText! += text
                } else if inDescription {
                    description! += text
                }
            }
        }
        if let open = link { last = (open.attributes, open.line, open.title, folders.compactMap { $0 }) }
        finish()
        if strict, parsed.rows.isEmpty, parsed.skipped.isEmpty, !text.lowercased().contains("<a") {
            throw ImportError(file: file, "no bookmarks (<A HREF=...>) in the file")
        }
        return parsed
    }

    /// Pocket's legacy HTML export (`ril_export.html`): `<h1>Unread</h1>` and
    /// `<h1>Read Archive</h1>` sections of `<a href time_added tags>title</a>`
    /// (tags comma-separated). The section is the archived (and read) state.
    static func pocket(_ text: String, file: String) throws(ImportError) -> ParsedFile {
        var tokenizer = HTMLTokenizer(text)
        var parsed = ParsedFile()
        var archived = false
        var heading: String?
        var link: (attributes: [String: String], line: Int, title: String)?
        var sawSection = false
        while let token = tokenizer.next() {
            switch token {
            case let .start(name, attributes, line):
                if name == "h1" { heading = "" }
                if name == "a" { link = (attributes, line, "") }
            case let .end(name):
                if name == "h1", let text = heading {
                    let section = text.trimmed.lowercased()
                    archived = section.contains("archive") || section == "read"
                    sawSection = true
                    heading = nil
                }
                if name == "a", let open = link {
                    link = nil
                    let location = SourceLocation(file: file, line: open.line)
                    var builder = RowBuilder(location)
                    if let problem = RowBuilder.urlProblem(open.attributes["href"]) {
                        parsed.skipped.append(ImportIssue(location, problem))
                        continue
                    }
                    let url = open.attributes["href"]!.trimmed
                    var addedAt: Int64?
                    if let date = open.attributes["time_added"], !date.isEmpty {
                        guard let time = DateParse.unix(date) else {
                            parsed.skipped.append(ImportIssue(location, "unreadable date '\(date)' in time_added"))
                            continue
                        }
                        addedAt = time
                    }
                    let article = ImportedArticle(
                        request: SaveRequest(url: url, title: CSVFormats.title(open.title, url: url, &builder), tags: builder.tags(FieldParse.split(open.attributes["tags"], by: ","))),
                        addedAt: addedAt, isRead: archived, isArchived: archived)
                    parsed.warnings += builder.warnings
                    parsed.rows.append(ParsedRow(article: article, location: location))
                }
            case let .text(text):
                if heading != nil { heading! += text }
                if link != nil { link!.title += text }
            }
        }
        if !sawSection && parsed.rows.isEmpty && parsed.skipped.isEmpty {
            throw ImportError(file: file, "not a Pocket HTML export: no 'Unread' or 'Read Archive' section and no links")
        }
        return parsed
    }
}
