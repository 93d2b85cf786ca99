import ReadingListModel
import SyncCore

extension ReplicaStore {
    /// Resolves a conflict on `field` with a value typed as text (`resolve --value`):
    /// `true`/`false` for the flags, a number for the word count, a checked http(s)
    /// URL (trimmed, without user:password@) for the image URL, text for the rest.
    /// The written value replaces every sibling this replica has seen.
    @discardableResult
    public func resolveConflict(_ idOrURL: String, field: String, text: String) throws(StoreError) -> Article {
        try resolveConflict(idOrURL, field: field, value: Self.conflictValue(field: field, text: text))
    }

    /// The value `text` stands for in `field`, converted as ``resolveConflict(_:field:text:)`` writes it
    /// (as `edit` would store it: a flag's `true`/`false` as a boolean, the word count as a number).
    package static func conflictValue(field: String, text: String) throws(StoreError) -> JSONValue {
        switch field {
        case Fields.isArchived, Fields.isFavorite, Fields.isRead:
            text == "true" ? .bool(true) : text == "false" ? .bool(false) : .string(text)
        case Fields.wordCount:
            Double(text).map(JSONValue.number) ?? .string(text)
        case Fields.imageURL:
            .string(try checkedImageURL(text))
        default:
            .string(text)
        }
    }
}
