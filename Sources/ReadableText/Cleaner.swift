/// One block of a page's text: a paragraph, a heading, a list item...
struct Block: Hashable {
    enum Kind: Hashable {
        case heading(Int)
        case paragraph
        case item
        case quote
        case preformatted
        /// A line of plain text that may be a heading, a caption or clutter.
        case line
    }

    var kind: Kind
    var text: String
    var words: Int

    init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = Whitespace.collapse(text)
        self.words = ReadableText.wordCount(self.text)
    }

    var isHeading: Bool { if case .heading = kind { true } else { false } }

    /// Whether the text ends as a sentence does.
    var endsSentence: Bool {
        guard let last = text.unicodeScalars.last else { return false }
        return ".!?…\"”’»)".unicodeScalars.contains(last)
    }

    /// A paragraph of running text: enough words, ended as a sentence (or long).
    var isProse: Bool {
        switch kind {
        case .heading, .preformatted: return false
        default: return words >= 20 || (words >= 10 && endsSentence)
        }
    }
}

/// The rules that tell the story from what surrounds it, shared by the text
/// and the HTML readers. Each rule is a plain predicate on a block's text or
/// position (no scoring across the document that a small edit could tip), so
/// that what the body keeps is easy to predict and to test.
enum Cleaner {
    struct Result {
        var body: [Block]
        var title: String?
        var byline: String?
        var siteName: String?
        /// Whether the text was kept whole as a note.
        var isNote = false
    }

    /// - Parameters:
    ///   - dropsHeader: whether blocks before the first paragraph of prose are
    ///     page furniture (plain text copied from a page: masthead, menus,
    ///     player controls). An HTML reader has removed those by element already.
    ///   - notes: whether text without enough prose to be an article is kept
    ///     whole, as a note.
    static func clean(_ input: [Block], dropsHeader: Bool, notes: Bool) -> Result {
        var blocks = input.filter { !$0.text.isEmpty && $0.words > 0 || $0.kind == .preformatted && !$0.text.isEmpty }
        let proseWords = blocks.filter(\.isProse).reduce(0) { $0 + $1.words }
        if notes, proseWords < 40 {
            // A note: every line stays; its first line names it when short.
            let title = blocks.first.flatMap { $0.words <= 14 && $0.text.count <= 100 ? $0.text : nil }
            return Result(body: blocks, title: title, byline: nil, siteName: nil, isNote: true)
        }

        // Repeated captions (and any other sentence printed twice): every copy goes.
        var seen: [String: Int] = [:]
        for block in blocks where block.endsSentence || block.words >= 8 { seen[key(block.text), default: 0] += 1 }
        blocks.removeAll { ($0.endsSentence || $0.words >= 8) && !$0.isHeading && seen[key($0.text), default: 0] > 1 && $0.words <= 80 }

        var siteName: String?
        var endMarkers: Set<Int> = []
        var appeals: Set<Int> = []
        var clutter: Set<Int> = []
        for (index, block) in blocks.enumerated() {
            if let owner = copyrightOwner(block) {
                siteName = siteName ?? owner
                endMarkers.insert(index)
                clutter.insert(index)
            } else if isClutterLine(block) {
                clutter.insert(index)
            } else if isAppeal(block) {
                appeals.insert(index)
            }
        }
        let story = blocks.indices.filter { blocks[$0].isProse && !appeals.contains($0) && !clutter.contains($0) }
        guard let first = story.first, var last = story.last else {
            let body = blocks.indices.filter { !clutter.contains($0) && !appeals.contains($0) }.map { blocks[$0] }
            return Result(body: body, title: nil, byline: nil, siteName: siteName)
        }
        // Where the story ends: the first appeal or copyright line after most of its prose.
        let storySet = Set(story)
        let total = story.reduce(0) { $0 + blocks[$1].words }
        var before = 0
        var cut = blocks.count
        for index in first..<blocks.count {
            if (appeals.contains(index) || endMarkers.contains(index)) && before * 2 >= total {
                cut = index
                break
            }
            if storySet.contains(index) { before += blocks[index].words }
        }
        last = story.last(where: { $0 < cut }) ?? first

        // The header: the headline is its last heading-like line, the byline a "By ..." line.
        var title: String?
        var byline: String?
        var bylineIndex: Int?
        let header = 0..<first
        if let heading = header.first(where: { blocks[$0].kind == .heading(1) && !clutter.contains($0) }) {
            title = blocks[heading].text
        } else if let line = header.last(where: { !clutter.contains($0) && isHeadlineLike(blocks[$0]) && Self.byline(in: blocks[$0]) == nil }) {
            title = blocks[line].text
        }
        for index in Array(header) + Array(first..<min(first + 2, blocks.count)) where !clutter.contains(index) && blocks[index].words <= 16 {
            if let name = Self.byline(in: blocks[index]) {
                byline = name
                bylineIndex = index
                break
            }
        }

        var body: [Block] = []
        let start = dropsHeader ? first : 0
        for index in start...last where !clutter.contains(index) && !appeals.contains(index) && index != bylineIndex {
            if let title, index < first, blocks[index].text == title { continue }
            body.append(blocks[index])
        }
        // Lists and code that end the story stay; anything else after it is the page's footer.
        var index = last + 1
        while index < cut, [Block.Kind.item, .preformatted].contains(blocks[index].kind), !clutter.contains(index), !appeals.contains(index) {
            body.append(blocks[index])
            index += 1
        }
        return Result(body: body, title: title, byline: byline, siteName: siteName)
    }

    /// Lowercased letters and digits: how repeated blocks are compared.
    static func key(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars where Scalars.isWord(scalar) { Scalars.append(Scalars.lowercase(scalar), to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The words of `text`, lowercased, without punctuation around them.
    static func normalizedWords(_ text: String) -> [Substring] {
        Scalars.normalizedWords(text).split(separator: " ")
    }

    /// Short lines that are controls, not text: player times, "Subscribe",
    /// "Share this article", "Sponsored message", icons and logos named by their alt text.
    static func isClutterLine(_ block: Block) -> Bool {
        guard block.words <= 10, !block.isProse else { return false }
        let words = normalizedWords(block.text)
        let phrase = words.joined(separator: " ")
        if phrase.isEmpty { return true }
        // 0:00, 12:34, 1:02:03, "0:00 / 3:45"
        if block.text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") || $0 == 0x20 }) { return true }
        if words.contains("icon") || words.contains("logo") { return true }
        if clutterPhrases.contains(phrase) { return true }
        if let firstWord = words.first, words.count <= 6, clutterStarts.contains(where: { phrase.hasPrefix($0) }) || controlWords.contains(String(firstWord))
            && words.allSatisfy({ controlWords.contains(String($0)) || $0.count <= 3 }) {
            return true
        }
        // "Share on Twitter | Share on Facebook | Copy link": a row of controls.
        let parts = block.text.split(whereSeparator: { "|·•".contains($0) }).map { normalizedWords(String($0)).joined(separator: " ") }
        if parts.count >= 2, parts.allSatisfy({ part in part.isEmpty || clutterPhrases.contains(part) || clutterStarts.contains { part.hasPrefix($0) } }) {
            return true
        }
        return false
    }

    static let clutterPhrases: Set<String> = [
        "sponsored message", "sponsored", "sponsored content", "advertisement", "ad", "ads", "subscribe", "subscribe now", "sign up",
        "sign in", "log in", "login", "register", "share", "share this", "share this article", "share this story", "share this post",
        "tweet", "email", "print", "copy link", "listen", "listen now", "now playing", "playing", "next up", "up next", "play", "pause",
        "skip to content", "skip to main content", "menu", "search", "close", "read more", "continue reading", "related",
        "related stories", "related articles", "more stories", "recommended", "recommended for you", "loading", "comments",
        "leave a comment", "leave a reply", "follow us", "newsletter", "back to top", "more", "toggle navigation", "open menu",
        "accept cookies", "we use cookies", "donate", "donate now", "support us", "download the app", "get the app", "view comments",
        "show comments", "most read", "most popular", "trending", "watch", "watch live", "live", "image", "photo", "video",
        "enlarge this image", "toggle caption", "hide caption", "caption", "audio will be available later today", "listen listen",
    ]

    static let clutterStarts: [String] = [
        "share on ", "share via ", "follow us on ", "follow me on ", "sign up for ", "subscribe to ", "listen now", "now playing",
        "download our ", "photo by ", "image credit", "photo credit", "credit:", "getty images", "ap photo", "advertisement ",
        "skip to ", "read next", "read more", "more from ", "you might also like", "recommended ", "related ", "tags:", "filed under",
        "posted in ", "comments ", "leave a comment", "reply ", "click here",
    ]

    /// Words that, alone or together, are controls: "Listen Now Playing Listen".
    static let controlWords: Set<String> = [
        "listen", "now", "playing", "play", "pause", "share", "tweet", "email", "print", "subscribe", "save", "copy", "link",
        "next", "previous", "prev", "up", "menu", "close", "search", "mute", "unmute", "volume", "download", "embed", "transcript",
    ]

    /// A plea for money or sign-ups: two or more of its tell-tale phrases.
    static func isAppeal(_ block: Block) -> Bool {
        guard block.words >= 3, !block.isHeading else { return false }
        let text = Array((" " + Scalars.normalizedWords(block.text) + " ").utf8)
        var score = 0
        for (cue, weight) in appealCueBytes.other where Scalars.contains(text, cue) { score += weight }
        // The cues that start with a space, in one pass over the text: at each
        // space, only those whose next byte follows it are compared (every cue
        // searched separately was a sixth of an import of HTML pages).
        var found = [Bool](repeating: false, count: appealCueBytes.spaced.count)
        for index in text.indices.dropLast() where text[index] == 0x20 {
            for cue in appealCueBytes.bySecondByte[Int(text[index + 1])] where !found[cue] {
                let (bytes, weight) = appealCueBytes.spaced[cue]
                guard index + bytes.count <= text.count, text[index..<(index + bytes.count)].elementsEqual(bytes) else { continue }
                found[cue] = true
                score += weight
                if score >= 3 { return true }
            }
        }
        return score >= 3
    }

    /// ``appealCues`` as bytes: those that start with a space (and, by their
    /// second byte, the indexes of those), and the others.
    static let appealCueBytes: (spaced: [([UInt8], Int)], bySecondByte: [[Int]], other: [([UInt8], Int)]) = {
        let all = appealCues.map { (Array($0.0.utf8), $0.1) }
        let spaced = all.filter { $0.0.count >= 2 && $0.0[0] == 0x20 }
        var bySecondByte = [[Int]](repeating: [], count: 256)
        for (index, cue) in spaced.enumerated() { bySecondByte[Int(cue.0[1])].append(index) }
        return (spaced, bySecondByte, all.filter { !($0.0.count >= 2 && $0.0[0] == 0x20) })
    }()

    static let appealCues: [(String, Int)] = [
        (" donat", 2), ("tax-deductible", 2), ("tax deductible", 2), (" readers like you", 2), (" your support", 2),
        (" support us", 2), (" support our ", 1), (" become a member", 2), (" become a monthly", 2), (" member ", 1), (" members ", 1),
        (" membership today", 2), (" subscribe", 1), (" subscription", 1), (" newsletter", 1), (" sign up", 1), (" inbox", 1),
        (" funding", 1), (" funded", 1), (" nonprofit", 1), (" newsroom", 1), (" independent reporting", 1),
        (" independent journalism", 1), (" shareholders", 1), (" our mission", 1), (" contribute", 1), (" contribution", 1),
        (" paywall", 1), (" thanks for reading", 2), (" thank you for reading", 2), (" support we receive", 2),
        (" keep our journalism", 2), (" free for everyone", 1), (" accessible to everyone", 1), (" chip in", 2), (" patreon", 2),
        (" buy me a coffee", 2), (" ko-fi", 2), (" get new posts", 2), (" by email", 1),
    ]

    /// "Copyright 2021 NPR. To see more, visit ...", "© 2024 The Daily Planet": the owner named.
    static func copyrightOwner(_ block: Block) -> String? {
        guard block.words <= 30, !block.isHeading else { return nil }
        var text = Substring(block.text)
        let lower = text.lowercased()
        if lower.hasPrefix("copyright") {
            text = text.dropFirst("copyright".count)
        } else if lower.hasPrefix("©") {
            text = text.dropFirst()
        } else if lower.hasPrefix("(c)") {
            text = text.dropFirst(3)
        } else if lower.contains("all rights reserved") {
            return ""
        } else {
            return nil
        }
        text = text.drop(while: { $0 == "©" || $0 == " " || $0.isNumber || $0 == "-" || $0 == "–" || $0 == "," })
        let end = text.firstIndex(where: { $0 == "." || $0 == "," || $0 == ";" || $0 == "|" }) ?? text.endIndex
        let owner = String(text[text.startIndex..<end]).trimmingSpaces
        let count = ReadableText.wordCount(owner)
        return (1...6).contains(count) ? owner : ""
    }

    /// A line that reads as a headline: a few words, not a sentence, not a control.
    static func isHeadlineLike(_ block: Block) -> Bool {
        guard (3...25).contains(block.words) || (block.isHeading && block.words >= 1), !isClutterLine(block) else { return false }
        guard let first = block.text.unicodeScalars.first, first.properties.isUppercase || first.properties.numericType != nil || !first.properties.isCased
        else { return false }
        // Sentences end with a full stop; headlines do not (a question or an exclamation may).
        if block.text.hasSuffix(".") && !block.text.hasSuffix("...") { return false }
        return true
    }

    /// The name in a byline: "By Jane Doe", "Written by Jane Doe and John Roe",
    /// "Posted on March 3, 2024 by Jane Doe · 6 min read", "Author: Jane Doe".
    static func byline(in block: Block) -> String? {
        guard block.words <= 16, !block.isProse || block.words <= 16 else { return nil }
        let text = block.text.trimming("*_ ")
        let lower = text.lowercased()
        var rest: Substring
        if lower.hasPrefix("author:") {
            rest = text.dropFirst("author:".count)
        } else if lower.hasPrefix("by ") {
            rest = text.dropFirst(3)
        } else if let offset = lower.offset(of: " by "),
                  lower.contains(where: \.isNumber) || ["posted", "published", "written", "updated", "words", "story", "text"].contains(where: { lower.hasPrefix($0) }) {
            rest = text.dropFirst(offset + 4)
        } else {
            return nil
        }
        rest = rest.drop(while: { $0 == " " })
        // The name: capitalised words (and "and", "&", initials, particles), up to a separator.
        var names: [Substring] = []
        for word in rest.split(separator: " ") {
            let clean = word.trimming(",")
            if ["and", "&", "de", "van", "von", "der", "da", "di", "le", "la"].contains(clean) && !names.isEmpty {
                names.append(Substring(clean))
                continue
            }
            guard let first = clean.unicodeScalars.first, first.properties.isUppercase,
                  clean.allSatisfy({ $0.isLetter || $0 == "." || $0 == "-" || $0 == "'" || $0 == "’" }) else { break }
            names.append(Substring(clean))
            if word.hasSuffix(",") { break }
            if names.count >= 8 { break }
        }
        while let last = names.last, ["and", "&", "de", "van", "von", "der", "da", "di", "le", "la"].contains(String(last)) { names.removeLast() }
        guard !names.isEmpty, names.count >= 1 else { return nil }
        return names.joined(separator: " ")
    }
}

extension StringProtocol {
    /// The text without spaces, tabs and line breaks at either end.
    var trimmingSpaces: String { trimming(" \t\n\r\u{A0}") }

    func trimming(_ set: String) -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, set.unicodeScalars.contains(scalars[start]) { start = scalars.index(after: start) }
        while end > start, set.unicodeScalars.contains(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}

extension String {
    /// The offset (in characters) of the first occurrence of `needle`.
    func offset(of needle: String) -> Int? {
        let target = Array(needle)
        let characters = Array(self)
        guard target.count <= characters.count else { return nil }
        for start in 0...(characters.count - target.count) where characters[start] == target[0] {
            if Array(characters[start..<start + target.count]) == target { return start }
        }
        return nil
    }
}
