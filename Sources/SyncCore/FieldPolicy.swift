/// How concurrent live writes ("siblings") of one field resolve.
public enum FieldPolicy: Sendable, Hashable {
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
    public static func of(entityType: String, field: String) -> FieldPolicy {
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
    public static let url = "url"
    public static let title = "title"
    public static let excerpt = "excerpt"
    public static let content = "content"
    public static let author = "author"
    public static let siteName = "siteName"
    public static let imageURL = "imageURL"
    public static let language = "language"
    public static let wordCount = "wordCount"
    public static let note = "note"
    public static let isRead = "isRead"
    public static let isArchived = "isArchived"
    public static let isFavorite = "isFavorite"
    public static let progress = "progress"
    public static let addedAt = "addedAt"
    public static let deleted = "deleted"
    /// Each tag is its own boolean field, `tag:NAME`.
    public static let tagPrefix = "tag:"
    // Highlight fields (plus `note` and `deleted`).
    public static let article = "article"
    public static let quote = "quote"
    public static let position = "position"
    public static let color = "color"
    public static let createdAt = "createdAt"

    /// Article fields a user edits as text, in display order.
    public static let articleTextFields = [title, excerpt, author, siteName, imageURL, language, note]

    public static func tag(_ name: String) -> String { tagPrefix + name }
}
