/// How concurrent live writes ("siblings") of one field resolve.
package enum FieldPolicy: Sendable, Hashable {
    /// Highest `(hlc, replica)` wins; `surfacesConflicts` says whether
    /// disagreeing siblings are shown to the user as a conflict.
    case register(surfacesConflicts: Bool)
    /// The URL as given: a register whose siblings conflict only when they
    /// normalise to different URLs.
    case url
    /// `addedAt`: the earliest value wins.
    case earliest
    /// `progress` `{epoch, position}`: highest epoch, then highest position.
    case progress
    /// One tag's membership: add-wins (any live `true` keeps the tag).
    case addWinsFlag
    /// The entity's `deleted` flag, resolved together with every other field (see ``EntityState``).
    case deleted

    /// The policy of `field` on entities of type `entityType`; fields this
    /// version does not know are plain registers without conflicts.
    package static func of(entityType: String, field: String) -> FieldPolicy {
        if field == Fields.deleted { return .deleted }
        switch entityType {
        case EntityRef.articleType:
            if field.hasPrefix(Fields.tagPrefix) { return .addWinsFlag }
            switch field {
            case Fields.url: return .url
            case Fields.addedAt: return .earliest
            case Fields.progress: return .progress
            case Fields.isRead: return .register(surfacesConflicts: false)
            case Fields.title, Fields.excerpt, Fields.content, Fields.author, Fields.siteName, Fields.imageURL,
                 Fields.language, Fields.wordCount, Fields.note, Fields.isArchived, Fields.isFavorite:
                return .register(surfacesConflicts: true)
            default: return .register(surfacesConflicts: false)
            }
        case EntityRef.highlightType:
            switch field {
            case Fields.quote, Fields.note, Fields.color, Fields.position: return .register(surfacesConflicts: true)
            default: return .register(surfacesConflicts: false)
            }
        default:
            return .register(surfacesConflicts: false)
        }
    }
}

/// Field names as written in changes (and shown in `show --json`).
public enum Fields {
    /// The URL as given.
    public static let url = "url"
    /// The title.
    public static let title = "title"
    /// The summary shown in lists.
    public static let excerpt = "excerpt"
    /// The saved content.
    public static let content = "content"
    /// The author (byline).
    public static let author = "author"
    /// The site or publication.
    public static let siteName = "siteName"
    /// The image that represents the article.
    public static let imageURL = "imageURL"
    /// The content's language.
    public static let language = "language"
    /// The readable text's word count.
    public static let wordCount = "wordCount"
    /// The reader's note.
    public static let note = "note"
    /// Read or not (a Boolean).
    public static let isRead = "isRead"
    /// Archived or not (a Boolean).
    public static let isArchived = "isArchived"
    /// Favourite or not (a Boolean).
    public static let isFavorite = "isFavorite"
    /// The reading progress (`{epoch, position}`).
    public static let progress = "progress"
    /// When the article was first saved (milliseconds since 1970).
    public static let addedAt = "addedAt"
    package static let deleted = "deleted"
    /// Each tag is its own boolean field, `tag:NAME`.
    package static let tagPrefix = "tag:"
    // Highlight fields (plus `note` and `deleted`).
    package static let article = "article"
    package static let quote = "quote"
    package static let position = "position"
    package static let color = "color"
    package static let createdAt = "createdAt"

    /// Article fields a user edits as text, in display order.
    package static let articleTextFields = [title, excerpt, author, siteName, imageURL, language, note]

    package static func tag(_ name: String) -> String { tagPrefix + name }
}
