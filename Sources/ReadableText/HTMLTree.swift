/// A tolerant HTML reader: enough of the HTML parsing rules to read what a
/// saved page holds (unclosed `<p>` and `<li>`, void elements, stray end
/// tags, comments, raw-text `<script>` and `<style>`, entities), building a
/// small element tree.
///
/// Hand-written rather than a library: SwiftSoup is not among the packages
/// available here, and Foundation's `XMLDocument(data:options: .documentTidyHTML)`
/// is a different parser on each platform (HTML Tidy on Apple's, libxml2's
/// XML parser in recovery mode on Linux, which nests a `<p>` inside the
/// previous one and prints parser errors on stderr). The readable body is
/// derived on every replica from the synced content, so every replica must
/// derive the same one: one parser, in this module, on every platform.
final class HTMLNode {
    /// Lowercased tag name; `#text` for a text node, `#root` for the document.
    let name: String
    let attributes: [String: String]
    var children: [HTMLNode] = []
    /// The text of a text node (entities decoded).
    var text: String
    weak var parent: HTMLNode?

    init(name: String, attributes: [String: String] = [:], text: String = "") {
        self.name = name
        self.attributes = attributes
        self.text = text
    }

    var isText: Bool { name == "#text" }

    /// The first element (depth first) for which `match` holds.
    func first(where match: (HTMLNode) -> Bool) -> HTMLNode? {
        for child in children where !child.isText {
            if match(child) { return child }
            if let found = child.first(where: match) { return found }
        }
        return nil
    }

    /// Every element (depth first) for which `match` holds.
    func all(where match: (HTMLNode) -> Bool, into found: inout [HTMLNode]) {
        for child in children where !child.isText {
            if match(child) { found.append(child) }
            child.all(where: match, into: &found)
        }
    }

    /// The text inside, whitespace collapsed to single spaces.
    var textContent: String {
        var out = ""
        appendText(to: &out)
        return Whitespace.collapse(out)
    }

    private func appendText(to out: inout String) {
        if isText { out += text; return }
        if name == "br" { out += " "; return }
        for child in children { child.appendText(to: &out) }
        if HTMLTree.blockElements.contains(name) { out += " " }
    }

    /// The lowercased tokens of `class` and `id`.
    var classAndID: [Substring] {
        ((attributes["class"] ?? "") + " " + (attributes["id"] ?? "")).lowercased()
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            .map { Substring($0) }
    }
}

enum HTMLTree {
    static let voidElements: Set<String> = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    ]
    /// Elements whose content is raw text, never markup.
    static let rawTextElements: Set<String> = ["script", "style", "textarea", "title", "noscript", "template", "xmp"]
    /// Block elements: each starts a new block of text, and closes an open `<p>`.
    static let blockElements: Set<String> = [
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "table", "tr", "td", "th", "ul", "body", "html", "head", "title", "caption", "summary",
    ]
    private static let closesParagraph: Set<String> = blockElements.subtracting(["li", "dd", "dt", "tr", "td", "th", "caption", "summary"])

    /// Whether `text` is HTML rather than plain text: it holds at least two
    /// tags of common HTML elements (so that "a <3 b" or "x < y > z" stays text).
    static func looksLikeHTML(_ text: String) -> Bool {
        var count = 0
        var index = text.utf8.startIndex
        let bytes = text.utf8
        var scanned = 0
        while index < bytes.endIndex, scanned < 200_000 {
            if bytes[index] == UInt8(ascii: "<") {
                var name = ""
                var next = bytes.index(after: index)
                if next < bytes.endIndex, bytes[next] == UInt8(ascii: "/") || bytes[next] == UInt8(ascii: "!") { next = bytes.index(after: next) }
                while next < bytes.endIndex, name.utf8.count < 10, let scalar = Optional(bytes[next]),
                      (scalar >= 0x41 && scalar <= 0x5A) || (scalar >= 0x61 && scalar <= 0x7A) || (scalar >= 0x30 && scalar <= 0x39) {
                    name.unicodeScalars.append(Unicode.Scalar(scalar | (scalar >= 0x41 && scalar <= 0x5A ? 0x20 : 0)))
                    next = bytes.index(after: next)
                }
                if knownTags.contains(name), next < bytes.endIndex,
                   bytes[next] == UInt8(ascii: ">") || bytes[next] == UInt8(ascii: " ") || bytes[next] == UInt8(ascii: "/")
                    || bytes[next] == UInt8(ascii: "\n") {
                    count += 1
                    if count >= 2 { return true }
                }
            }
            index = bytes.index(after: index)
            scanned += 1
        }
        return false
    }

    private static let knownTags: Set<String> = blockElements.union([
        "doctype", "a", "span", "b", "i", "em", "strong", "br", "img", "meta", "link", "script", "style", "code", "small",
    ])

    /// Parses `html` into a tree under a `#root` node.
    static func parse(_ html: String) -> HTMLNode {
        let root = HTMLNode(name: "#root")
        var stack: [HTMLNode] = [root]
        let scalars = Array(html.unicodeScalars)
        var index = 0
        var text = String.UnicodeScalarView()

        func flushText() {
            guard !text.isEmpty else { return }
            let node = HTMLNode(name: "#text", text: Entities.decode(String(text)))
            node.parent = stack.last
            stack.last!.children.append(node)
            text = String.UnicodeScalarView()
        }
        func open(_ name: String, _ attributes: [String: String]) -> HTMLNode {
            let node = HTMLNode(name: name, attributes: attributes)
            node.parent = stack.last
            stack.last!.children.append(node)
            return node
        }
        func close(_ name: String) {
            // Pop to the nearest open element of that name; a stray end tag is ignored.
            guard let position = stack.lastIndex(where: { $0.name == name }), position > 0 else { return }
            stack.removeSubrange(position...)
        }

        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "<", index + 1 < scalars.count else {
                text.append(scalar)
                index += 1
                continue
            }
            let next = scalars[index + 1]
            if next == "!" {
                // Comment, doctype or CDATA: skipped.
                flushText()
                if index + 3 < scalars.count, scalars[index + 2] == "-", scalars[index + 3] == "-" {
                    index = find(["-", "-", ">"], in: scalars, from: index + 4).map { $0 + 3 } ?? scalars.count
                } else {
                    index = find([">"], in: scalars, from: index + 2).map { $0 + 1 } ?? scalars.count
                }
                continue
            }
            if next == "?" {
                flushText()
                index = find([">"], in: scalars, from: index + 2).map { $0 + 1 } ?? scalars.count
                continue
            }
            let isEnd = next == "/"
            var cursor = index + (isEnd ? 2 : 1)
            guard cursor < scalars.count, scalars[cursor].properties.isAlphabetic else {
                text.append(scalar)
                index += 1
                continue
            }
            var name = ""
            while cursor < scalars.count, !Scalars.isSpace(scalars[cursor]), scalars[cursor] != ">", scalars[cursor] != "/" {
                name.unicodeScalars.append(scalars[cursor])
                cursor += 1
            }
            name = name.lowercased()
            var attributes: [String: String] = [:]
            var selfClosing = false
            // Attributes: name, name=value, name="value", name='value'.
            while cursor < scalars.count, scalars[cursor] != ">" {
                let c = scalars[cursor]
                if Scalars.isSpace(c) { cursor += 1; continue }
                if c == "/" { selfClosing = true; cursor += 1; continue }
                var attribute = ""
                while cursor < scalars.count, !Scalars.isSpace(scalars[cursor]), scalars[cursor] != "=", scalars[cursor] != ">",
                      !(scalars[cursor] == "/" && cursor + 1 < scalars.count && scalars[cursor + 1] == ">") {
                    attribute.unicodeScalars.append(scalars[cursor])
                    cursor += 1
                }
                while cursor < scalars.count, Scalars.isSpace(scalars[cursor]) { cursor += 1 }
                var value = ""
                if cursor < scalars.count, scalars[cursor] == "=" {
                    cursor += 1
                    while cursor < scalars.count, Scalars.isSpace(scalars[cursor]) { cursor += 1 }
                    if cursor < scalars.count, scalars[cursor] == "\"" || scalars[cursor] == "'" {
                        let quote = scalars[cursor]
                        cursor += 1
                        while cursor < scalars.count, scalars[cursor] != quote {
                            value.unicodeScalars.append(scalars[cursor])
                            cursor += 1
                        }
                        cursor += 1
                    } else {
                        while cursor < scalars.count, !Scalars.isSpace(scalars[cursor]), scalars[cursor] != ">" {
                            value.unicodeScalars.append(scalars[cursor])
                            cursor += 1
                        }
                    }
                }
                if !attribute.isEmpty {
                    let key = attribute.lowercased()
                    if attributes[key] == nil { attributes[key] = Entities.decode(value) }
                } else {
                    cursor += 1
                }
            }
            index = min(cursor + 1, scalars.count)
            flushText()
            if isEnd {
                if name == "p", !stack.contains(where: { $0.name == "p" }) {
                    // `</p>` with no open paragraph is an empty paragraph (as browsers read it).
                    _ = open("p", [:])
                } else {
                    close(name)
                }
                continue
            }
            // Implied end tags: a block closes an open paragraph; an item closes the previous item.
            if closesParagraph.contains(name), let p = stack.lastIndex(where: { $0.name == "p" }),
               !stack[p...].contains(where: { ["button", "table", "td", "th"].contains($0.name) }) {
                stack.removeSubrange(p...)
            }
            if name == "li", let li = stack.lastIndex(where: { $0.name == "li" }),
               !stack[li...].contains(where: { $0.name == "ul" || $0.name == "ol" }) {
                stack.removeSubrange(li...)
            }
            if name == "dd" || name == "dt", let item = stack.lastIndex(where: { $0.name == "dd" || $0.name == "dt" }),
               !stack[item...].contains(where: { $0.name == "dl" }) {
                stack.removeSubrange(item...)
            }
            if name == "tr" || name == "td" || name == "th",
               let cell = stack.lastIndex(where: { $0.name == (name == "tr" ? "tr" : "td") || (name != "tr" && $0.name == "th") }),
               !stack[cell...].contains(where: { $0.name == "table" }) {
                stack.removeSubrange(cell...)
            }
            let node = open(name, attributes)
            if voidElements.contains(name) || selfClosing && !rawTextElements.contains(name) { continue }
            if rawTextElements.contains(name) {
                // Everything up to the matching end tag is text.
                let end = findEndTag(name, in: scalars, from: index)
                if name == "title" || name == "textarea" {
                    let raw = String(String.UnicodeScalarView(scalars[index..<end.start]))
                    let child = HTMLNode(name: "#text", text: Entities.decode(raw))
                    child.parent = node
                    node.children.append(child)
                }
                index = end.after
                continue
            }
            stack.append(node)
        }
        flushText()
        return root
    }

    private static func find(_ needle: [Unicode.Scalar], in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        guard !needle.isEmpty, start <= scalars.count - needle.count else { return nil }
        var index = start
        while index <= scalars.count - needle.count {
            if scalars[index] == needle[0], Array(scalars[index..<index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }

    /// Where `</name` starts after `start`, and where the tag ends (the end of the input when unclosed).
    private static func findEndTag(_ name: String, in scalars: [Unicode.Scalar], from start: Int) -> (start: Int, after: Int) {
        let target = Array(("</" + name).unicodeScalars)
        var index = start
        while index <= scalars.count - target.count {
            if scalars[index] == "<", scalars[index + 1] == "/" {
                var matches = true
                for offset in 2..<target.count {
                    let c = scalars[index + offset].properties.lowercaseMapping.unicodeScalars.first ?? scalars[index + offset]
                    if c != target[offset] { matches = false; break }
                }
                if matches {
                    let after = find([">"], in: scalars, from: index + target.count).map { $0 + 1 } ?? scalars.count
                    return (index, after)
                }
            }
            index += 1
        }
        return (scalars.count, scalars.count)
    }
}

/// HTML character references: numeric ones and the named ones text commonly uses.
enum Entities {
    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "mdash": "—", "ndash": "–",
        "hellip": "…", "rsquo": "’", "lsquo": "‘", "rdquo": "”", "ldquo": "“", "laquo": "«", "raquo": "»", "copy": "©",
        "reg": "®", "trade": "™", "middot": "·", "bull": "•", "eacute": "é", "egrave": "è", "ecirc": "ê", "agrave": "à",
        "aacute": "á", "acirc": "â", "auml": "ä", "ouml": "ö", "uuml": "ü", "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü",
        "szlig": "ß", "ccedil": "ç", "ntilde": "ñ", "iacute": "í", "oacute": "ó", "uacute": "ú", "ocirc": "ô",
        "icirc": "î", "ucirc": "û", "euro": "€", "pound": "£", "deg": "°", "times": "×", "shy": "\u{AD}", "thinsp": "\u{2009}",
        "ensp": "\u{2002}", "emsp": "\u{2003}", "zwj": "\u{200D}", "zwnj": "\u{200C}", "Eacute": "É", "sect": "§", "para": "¶",
    ]

    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[rest.startIndex..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semicolon = after.prefix(12).firstIndex(of: ";") {
                let name = after[after.startIndex..<semicolon]
                if let value = value(of: name) {
                    out += value
                    rest = after[after.index(after: semicolon)...]
                    continue
                }
            }
            out += "&"
            rest = after
        }
        out += rest
        return out
    }

    private static func value(of name: Substring) -> String? {
        if name.first == "#" {
            let digits = name.dropFirst()
            let number: UInt32? = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            guard let number, number != 0, let scalar = Unicode.Scalar(number) else { return nil }
            // Control characters (other than line breaks and tabs) are never text.
            if (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7F...0x9F).contains(scalar.value) { return " " }
            return String(scalar)
        }
        return named[String(name)]
    }
}

enum Whitespace {
    /// Runs of whitespace (no-break spaces included) become one space, none at either end.
    static func collapse(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if Scalars.isSpace(scalar) || scalar == "\u{AD}" || scalar == "\u{200B}" {
                if scalar != "\u{AD}" && scalar != "\u{200B}" { pendingSpace = !out.isEmpty }
                continue
            }
            if pendingSpace { out.append(0x20); pendingSpace = false }
            Scalars.append(scalar, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
