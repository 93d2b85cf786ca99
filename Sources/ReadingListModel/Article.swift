/// Where a reader is in an article: `position` (0...1) within read-through number `epoch`.
///
/// Progress never moves backwards between concurrent devices: the highest
/// epoch wins, then the highest position. Marking an article unread ("read
/// again") starts a new epoch at 0.
public struct ReadingProgress: Sendable, Hashable, Codable, Comparable {
    /// The read-through this position belongs to: 0 for the first, one more each time the article is marked unread.
    public var epoch: Int
    /// How far into the article the reader is, from 0 (start) to 1 (end).
    public var position: Double

    /// A position within a read-through (the default: the start of the first).
    public init(epoch: Int = 0, position: Double = 0) {
        self.epoch = epoch
        self.position = position
    }

    /// Validates a user-given fraction.
    package static func validated(epoch: Int, position: Double) throws(ModelError) -> ReadingProgress {
        guard position.isFinite, (0...1).contains(position) else { throw .invalidProgress(position) }
        return ReadingProgress(epoch: epoch, position: position)
    }

    /// Orders by epoch, then position: the greater value is the one concurrent devices keep.
    public static func < (lhs: ReadingProgress, rhs: ReadingProgress) -> Bool {
        (lhs.epoch, lhs.position) < (rhs.epoch, rhs.position)
    }
}

/// A field whose concurrent values disagree: every live value, the displayed one first.
public struct FieldConflict: Sendable, Hashable, Codable {
    /// The field name as in `show --json` (`title`, `note`, ...), or `highlight:<id>.<field>`.
    public var field: String
    /// Every live sibling's value, the displayed (winning) one first, the others by descending precedence.
    public var values: [JSONValue]

    /// A conflict on `field` between `values`, the displayed one first.
    public init(field: String, values: [JSONValue]) {
        self.field = field
        self.values = values
    }
}

/// A saved page, as every replica that has seen the same changes displays it.
public struct Article: Sendable, Hashable, Codable, Identifiable {
    /// The article's identity, derived from its normalised URL (``ArticleID/init(url:)``).
    public var id: ArticleID
    /// The URL as the user (the winning writer) gave it.
    public var url: String
    /// The normalised form (`url-v2`), from which `id` is derived (an article
    /// saved by an earlier version may keep an id derived from an older form).
    public var normalizedURL: String
    /// The title, when one was given or found in the content.
    public var title: String?
    /// A short summary shown in lists.
    public var excerpt: String?
    /// The saved page's content (HTML or text); nil in lists unless asked for (`includeContent`).
    public var content: String?
    /// The author (a byline).
    public var author: String?
    /// The publication or site the article comes from.
    public var siteName: String?
    /// An image that represents the article (an `http` or `https` URL).
    public var imageURL: String?
    /// The content's language (a BCP 47 tag such as `en` or `pt-BR`).
    public var language: String?
    /// The number of words of the readable text.
    public var wordCount: Int?
    /// The article's tags, normalised (see ``Tag``), sorted.
    public var tags: [String]
    /// Whether the article was marked read.
    public var isRead: Bool
    /// Whether the article was archived (out of the reading queue, kept in the list).
    public var isArchived: Bool
    /// Whether the article was marked as a favourite.
    public var isFavorite: Bool
    /// How far the reader got (never moving backwards between devices).
    public var progress: ReadingProgress
    /// The reader's own note on the article.
    public var note: String?
    /// Milliseconds since 1970, the earliest save of any device.
    public var addedAt: Int64
    /// Milliseconds since 1970, the newest live write's hybrid clock time.
    public var updatedAt: Int64
    /// The article's highlights in reading order (by position, then by when they were made).
    public var highlights: [Highlight]
    /// The fields whose concurrent values disagree (empty when there is no conflict).
    public var conflicts: [FieldConflict]

    /// An article with every value given (articles are normally read from a replica, not made).
    public init(
        id: ArticleID, url: String, normalizedURL: String, title: String? = nil, excerpt: String? = nil,
        content: String? = nil, author: String? = nil, siteName: String? = nil, imageURL: String? = nil,
        language: String? = nil, wordCount: Int? = nil, tags: [String] = [], isRead: Bool = false,
        isArchived: Bool = false, isFavorite: Bool = false, progress: ReadingProgress = .init(),
        note: String? = nil, addedAt: Int64 = 0, updatedAt: Int64 = 0, highlights: [Highlight] = [],
        conflicts: [FieldConflict] = []
    ) {
        self.id = id
        self.url = url
        self.normalizedURL = normalizedURL
        self.title = title
        self.excerpt = excerpt
        self.content = content
        self.author = author
        self.siteName = siteName
        self.imageURL = imageURL
        self.language = language
        self.wordCount = wordCount
        self.tags = tags
        self.isRead = isRead
        self.isArchived = isArchived
        self.isFavorite = isFavorite
        self.progress = progress
        self.note = note
        self.addedAt = addedAt
        self.updatedAt = updatedAt
        self.highlights = highlights
        self.conflicts = conflicts
    }
}

/// A passage a reader marked in an article: an entity of its own, child of the article.
public struct Highlight: Sendable, Hashable, Codable, Identifiable {
    /// The highlight's identity, unique across replicas.
    public var id: String
    /// The article the highlight belongs to.
    public var articleID: ArticleID
    /// The marked passage.
    public var quote: String
    /// Where the quote starts, as a fraction of the article (0...1), if known.
    public var position: Double?
    /// The reader's note on the passage.
    public var note: String?
    /// The colour the passage is marked with (an app's own name, such as `yellow`).
    public var color: String?
    /// Milliseconds since 1970 when the highlight was made.
    public var createdAt: Int64

    /// A highlight with every value given (highlights are normally read from a replica, not made).
    public init(id: String, articleID: ArticleID, quote: String, position: Double? = nil, note: String? = nil, color: String? = nil, createdAt: Int64 = 0) {
        self.id = id
        self.articleID = articleID
        self.quote = quote
        self.position = position
        self.note = note
        self.color = color
        self.createdAt = createdAt
    }
}

/// The rules of tag names, for what a user types or an import gives (tags
/// already in a list are never checked again: they display and sync as they are).
///
/// A tag is normalised, then checked:
/// - surrounding whitespace is trimmed, and any run of whitespace inside
///   (spaces, tabs, line breaks, no-break spaces) becomes one space;
/// - leading `#` are dropped: `#swift` is the tag `swift` (`list` shows `#swift`);
/// - Unicode NFC, then lowercase: tags are case-insensitive, `Swift` and
///   `swift` (and a decomposed `é` and a composed one) are one tag;
/// - 1 to 100 characters (as displayed: an emoji with its modifiers is one),
///   and at most 400 bytes of UTF-8;
/// - no `,` (bookmark exports separate tags with commas: `a,b` would come
///   back as two tags), no control characters, and no invisible formatting
///   characters (zero-width spaces, bidirectional overrides, a byte-order mark;
///   the zero-width joiners inside emoji and scripts are fine).
public enum Tag {
    /// The most characters a tag has, after normalisation.
    public static let maxCharacters = 100
    /// The most UTF-8 bytes a tag has (a bound for characters built of many scalars).
    public static let maxBytes = 400

    /// The tag `raw` names, normalised, or `invalidTag` (``problem(with:)`` says why).
    public static func validated(_ raw: String) throws(ModelError) -> String {
        switch check(raw) {
        case let .success(tag): return tag
        case .failure: throw .invalidTag(raw)
        }
    }

    /// Why `raw` is not a tag (one clause, for a message), or nil when it is one.
    public static func problem(with raw: String) -> String? {
        switch check(raw) {
        case .success: nil
        case let .failure(problem): problem.reason
        }
    }

    /// Why a text is not a tag.
    package struct Problem: Error, Hashable, Sendable {
        package var reason: String
    }

    /// Normalises `raw` and checks the result.
    package static func check(_ raw: String) -> Result<String, Problem> {
        // Most tags are already what the rules below make of them: visible
        // ASCII without capitals, commas or a leading '#' (an import checks
        // every tag of every row; the passes below cost a tenth of building
        // its transactions).
        if isPlainASCII(raw) { return .success(raw) }
        // Lowercase between two NFC passes: the result is the same for every
        // canonically equivalent spelling (a lowercase mapping may decompose).
        let folded = nfc(nfc(raw).lowercased())
        // Runs of whitespace become one space; none at either end.
        var words: [Substring] = []
        var rest = Substring(folded)
        while let start = rest.firstIndex(where: { !$0.isWhitespace }) {
            let end = rest[start...].firstIndex(where: \.isWhitespace) ?? rest.endIndex
            words.append(rest[start..<end])
            rest = rest[end...]
        }
        var tag = words.joined(separator: " ")[...]
        // `#swift` is how a tag is shown; typed, it means the tag `swift`.
        while tag.first == "#" { tag = tag.dropFirst().drop(while: \.isWhitespace) }
        let name = String(tag)
        if name.isEmpty {
            return .failure(Problem(reason: "a tag needs at least one character besides spaces and a leading '#'"))
        }
        if name.contains(",") {
            return .failure(Problem(reason: "a tag cannot contain ',' (exports separate tags with commas); give each tag on its own"))
        }
        if let scalar = name.unicodeScalars.first(where: isRefused) {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            let kind = scalar.properties.generalCategory == .control ? "a control character" : "an invisible formatting character"
            return .failure(Problem(reason: "a tag cannot contain \(kind) (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex))"))
        }
        if name.count > maxCharacters {
            return .failure(Problem(reason: "a tag has at most \(maxCharacters) characters, this one \(name.count)"))
        }
        if name.utf8.count > maxBytes {
            return .failure(Problem(reason: "a tag holds at most \(maxBytes) bytes of UTF-8, this one \(name.utf8.count)"))
        }
        return .success(name)
    }

    /// Whether `raw` is a tag as the rules give it, and only visible ASCII:
    /// no capital, space, comma or control, no leading '#', within the limits.
    private static func isPlainASCII(_ raw: String) -> Bool {
        let bytes = raw.utf8
        guard !bytes.isEmpty, bytes.count <= maxCharacters, bytes.count <= maxBytes, bytes.first != UInt8(ascii: "#") else { return false }
        return bytes.allSatisfy { byte in (0x21...0x7E).contains(byte) && byte != UInt8(ascii: ",") && !(0x41...0x5A).contains(byte) }
    }

    /// How a list shows a tag, unambiguously: `#swift`, or, for a name with a
    /// space, a quote or a backslash, or one that the rules above would not
    /// give (a tag saved by an earlier version), `#"two words"` with `"`
    /// and `\` escaped and control characters as `\n`, `\t` or `\u{1B}`.
    public static func displayed(_ name: String) -> String {
        let plain = !name.isEmpty && name.first != "#"
            && !name.unicodeScalars.contains { $0 == "\"" || $0 == "\\" || $0.properties.isWhitespace || isRefused($0) }
        guard !plain else { return "#" + name }
        var out = "#\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar == " " || !(isRefused(scalar) || scalar.properties.isWhitespace):
                out.unicodeScalars.append(scalar)
            default: out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        return out + "\""
    }

    /// Control characters, and invisible formatting characters except the
    /// joiners (U+200C, U+200D) and the emoji tag characters (U+E0020...U+E007F,
    /// the flags of England, Scotland and Wales), which belong inside characters.
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control: true
        case .format: !(scalar.value == 0x200C || scalar.value == 0x200D || (0xE0020...0xE007F).contains(scalar.value))
        default: false
        }
    }

    static func nfc(_ text: String) -> String {
        String(decoding: text._nfcCodeUnits, as: UTF8.self)
    }
}
