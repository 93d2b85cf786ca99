import ReadingListModel

extension Article {
    /// The `article.json` column: exactly the object `JSONEncoder` writes for
    /// `Article`'s `Codable` form (absent optionals left out), so that
    /// `JSONDecoder` reads it back, but built without the encoder, which was
    /// a tenth of the cost of re-materialising an article.
    var storageJSON: String {
        func put(_ object: inout [String: JSONValue], _ key: String, _ text: String?) {
            if let text { object[key] = .string(text) }
        }
        var object: [String: JSONValue] = [
            "id": .string(id.rawValue), "url": .string(url), "normalizedURL": .string(normalizedURL),
            "tags": .array(tags.map(JSONValue.string)), "isRead": .bool(isRead), "isArchived": .bool(isArchived),
            "isFavorite": .bool(isFavorite),
            "progress": .object(["epoch": .number(Double(progress.epoch)), "position": .number(progress.position)]),
            "addedAt": .number(Double(addedAt)), "updatedAt": .number(Double(updatedAt)),
            "highlights": .array(highlights.map { highlight in
                var item: [String: JSONValue] = [
                    "id": .string(highlight.id), "articleID": .string(highlight.articleID.rawValue), "quote": .string(highlight.quote),
                    "createdAt": .number(Double(highlight.createdAt)),
                ]
                if let position = highlight.position { item["position"] = .number(position) }
                put(&item, "note", highlight.note)
                put(&item, "color", highlight.color)
                return .object(item)
            }),
            "conflicts": .array(conflicts.map { .object(["field": .string($0.field), "values": .array($0.values)]) }),
        ]
        put(&object, "title", title)
        put(&object, "excerpt", excerpt)
        put(&object, "content", content)
        put(&object, "author", author)
        put(&object, "siteName", siteName)
        put(&object, "imageURL", imageURL)
        put(&object, "language", language)
        put(&object, "note", note)
        if let wordCount { object["wordCount"] = .number(Double(wordCount)) }
        return JSONValue.object(object).canonicalText
    }
}
