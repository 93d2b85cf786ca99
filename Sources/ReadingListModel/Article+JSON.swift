extension Article {
    /// The object `show --json` prints (camelCase keys); `list --json` prints
    /// the same without `content`.
    package func jsonValue(includeContent: Bool) -> JSONValue {
        func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
        var object: [String: JSONValue] = [
            "id": .string(id.rawValue),
            "url": .string(url),
            "normalizedURL": .string(normalizedURL),
            "title": optional(title),
            "excerpt": optional(excerpt),
            "author": optional(author),
            "siteName": optional(siteName),
            "imageURL": optional(imageURL),
            "language": optional(language),
            "wordCount": wordCount.map { .number(Double($0)) } ?? .null,
            "tags": .array(tags.map(JSONValue.string)),
            "isRead": .bool(isRead),
            "isArchived": .bool(isArchived),
            "isFavorite": .bool(isFavorite),
            "progress": .number(progress.position),
            "readEpoch": .number(Double(progress.epoch)),
            "note": optional(note),
            "addedAt": .string(Timestamp.iso8601(addedAt)),
            "updatedAt": .string(Timestamp.iso8601(updatedAt)),
            "highlights": .array(highlights.map(\.jsonValue)),
            "conflicts": .array(conflicts.map { .object(["field": .string($0.field), "values": .array($0.values)]) }),
        ]
        if includeContent { object["content"] = optional(content) }
        return .object(object)
    }
}

extension Highlight {
    package var jsonValue: JSONValue {
        .object([
            "id": .string(id),
            "quote": .string(quote),
            "position": position.map(JSONValue.number) ?? .null,
            "note": note.map(JSONValue.string) ?? .null,
            "color": color.map(JSONValue.string) ?? .null,
            "createdAt": .string(Timestamp.iso8601(createdAt)),
        ])
    }
}
