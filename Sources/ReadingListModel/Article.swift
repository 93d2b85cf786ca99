/// Where a reader is in an article: `position` (0...1) within read-through number `epoch`.
///
/// Progress never moves backwards between concurrent devices: the highest
/// epoch wins, then the highest position. Marking an article unread ("read
/// again") starts a new epoch at 0.
public struct ReadingProgress: Sendable, Hashable, Codable, Comparable {
    public var epoch: Int
    public var position: Double

    public init(epoch: Int = 0, position: Double = 0) {
        self.epoch = epoch
        self.position = position
    }

    /// Validates a user-given fraction.
    public static func validated(epoch: Int, position: Double) throws(ModelError) -> ReadingProgress {
        guard position.isFinite, (0...1).contains(position) else { throw .invalidProgress(position) }
        return ReadingProgress(epoch: epoch, position: position)
    }

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

    public init(field: String, values: [JSONValue]) {
        self.field = field
        self.values = values
    }
}

/// A saved page, as every replica that has seen the same changes displays it.
public struct Article: Sendable, Hashable, Codable, Identifiable {
    public var id: ArticleID
    /// The URL as the user (the winning writer) gave it.
    public var url: String
    /// The `url-v1` normalised form, from which `id` is derived.
    public var normalizedURL: String
    public var title: String?
    public var excerpt: String?
    public var content: String?
    public var author: String?
    public var siteName: String?
    public var imageURL: String?
    public var language: String?
    public var wordCount: Int?
    public var tags: [String]
    public var isRead: Bool
    public var isArchived: Bool
    public var isFavorite: Bool
    public var progress: ReadingProgress
    public var note: String?
    /// Milliseconds since 1970, the earliest save of any device.
    public var addedAt: Int64
    /// Milliseconds since 1970, the newest live write's hybrid clock time.
    public var updatedAt: Int64
    public var highlights: [Highlight]
    public var conflicts: [FieldConflict]

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
    public var id: String
    public var articleID: ArticleID
    public var quote: String
    /// Where the quote starts, as a fraction of the article (0...1), if known.
    public var position: Double?
    public var note: String?
    public var color: String?
    public var createdAt: Int64

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

/// Tag names are trimmed and lowercased ("Swift" and "swift" are one tag), 1 to 100 characters.
public enum Tag {
    public static func validated(_ raw: String) throws(ModelError) -> String {
        let tag = raw.trimmingWhitespace().lowercased()
        guard !tag.isEmpty, tag.count <= 100, !tag.contains(where: { $0.isNewline }) else { throw .invalidTag(raw) }
        return tag
    }
}
