/// Reads plain text (as copied from a page, a note, or Markdown) into blocks,
/// then keeps the story.
enum TextReader {
    static func read(_ content: String) -> ReadableDocument {
        let blocks = blocks(of: content)
        let result = Cleaner.clean(blocks, dropsHeader: true, notes: true)
        return Document.make(result, metadata: Metadata())
    }

    /// Paragraphs are separated by blank lines. Within one, Markdown headings,
    /// list items, quotes and rules are blocks of their own; the other lines
    /// are one paragraph when they were wrapped (a long line that does not
    /// end a sentence), otherwise each line is a block (a page's menu, a caption).
    static func blocks(of content: String) -> [Block] {
        var blocks: [Block] = []
        var group: [String] = []
        func flush() {
            defer { group.removeAll() }
            guard !group.isEmpty else { return }
            let wrapped = group.dropLast().contains { line in
                line.utf8.count >= 45 && !(Block(.line, line).endsSentence)
            }
            if wrapped {
                blocks.append(Block(.paragraph, group.joined(separator: " ")))
            } else {
                for line in group { blocks.append(Block(.line, line)) }
            }
        }
        for rawLine in content.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = Markdown.inline(rawLine.trimmingSpaces)
            if line.isEmpty {
                flush()
                continue
            }
            if let (level, text) = Markdown.heading(line) {
                flush()
                blocks.append(Block(.heading(level), text))
            } else if Markdown.isRule(line) {
                flush()
            } else if let item = Markdown.listItem(line) {
                flush()
                blocks.append(Block(.item, item))
            } else if line.hasPrefix(">") {
                flush()
                blocks.append(Block(.quote, String(line.dropFirst().drop(while: { $0 == " " || $0 == ">" }))))
            } else {
                group.append(line)
            }
        }
        flush()
        return blocks
    }
}

/// The little of Markdown that saved text carries.
enum Markdown {
    /// `# Title` (1 to 6 `#` and a space).
    static func heading(_ line: String) -> (Int, String)? {
        guard line.utf8.first == UInt8(ascii: "#") else { return nil }
        let hashes = line.prefix(while: { $0 == "#" }).count
        guard (1...6).contains(hashes), line.dropFirst(hashes).first == " " else { return nil }
        let text = line.dropFirst(hashes).trimmingSpaces.trimming("# ")
        return text.isEmpty ? nil : (hashes, text)
    }

    /// `---`, `***`, `___` (three or more, spaces allowed).
    static func isRule(_ line: String) -> Bool {
        guard let first = line.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "*") || first == UInt8(ascii: "_") else { return false }
        let marks = line.filter { $0 != " " }
        return marks.count >= 3 && (marks.allSatisfy { $0 == "-" } || marks.allSatisfy { $0 == "*" } || marks.allSatisfy { $0 == "_" })
    }

    /// `- item`, `* item`, `+ item`, `• item`, `1. item`, `2) item`.
    static func listItem(_ line: String) -> String? {
        guard let byte = line.utf8.first, byte >= 0x80 || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "+")
            || (byte >= 0x30 && byte <= 0x39) else { return nil }
        if let first = line.first, "-*+•".contains(first), line.dropFirst().first == " " {
            return String(line.dropFirst(2)).trimmingSpaces
        }
        let digits = line.prefix(while: \.isNumber)
        if (1...3).contains(digits.count), let mark = line.dropFirst(digits.count).first, mark == "." || mark == ")",
           line.dropFirst(digits.count + 1).first == " " {
            return String(line.dropFirst(digits.count + 2)).trimmingSpaces
        }
        return nil
    }

    /// Inline Markdown as text: `![alt](url)` goes, `[text](url)` is its text,
    /// `**strong**` and `__strong__` lose their marks, and a line wrapped
    /// whole in `*` or `_` (an emphasised line) loses them too.
    static func inline(_ line: String) -> String {
        guard line.utf8.contains(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "_") }) else { return line }
        var out = ""
        var rest = Substring(line)
        while let open = rest.firstIndex(where: { $0 == "[" || $0 == "!" }) {
            let isImage = rest[open] == "!"
            let bracket = isImage ? rest.index(after: open) : open
            guard bracket < rest.endIndex, rest[bracket] == "[",
                  let close = rest[bracket...].firstIndex(of: "]"),
                  rest.index(after: close) < rest.endIndex, rest[rest.index(after: close)] == "(",
                  let paren = rest[close...].firstIndex(of: ")") else {
                out += rest[rest.startIndex...open]
                rest = rest[rest.index(after: open)...]
                continue
            }
            out += rest[rest.startIndex..<open]
            if !isImage { out += rest[rest.index(after: bracket)..<close] }
            rest = rest[rest.index(after: paren)...]
        }
        out += rest
        out = out.replacingAll("**", with: "").replacingAll("__", with: "")
        if out.count >= 2, let first = out.first, first == "*" || first == "_", out.last == first {
            out = String(out.dropFirst().dropLast())
        }
        return out.trimmingSpaces
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in this module).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let offset = String(rest).offset(of: target) {
            let index = rest.index(rest.startIndex, offsetBy: offset)
            out += rest[rest.startIndex..<index] + replacement
            rest = rest[rest.index(index, offsetBy: target.count)...]
        }
        return out + rest
    }
}
