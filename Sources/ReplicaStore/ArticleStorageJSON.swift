import ReadingListModel

extension Article {
    /// The `article.json` column: exactly the object `JSONEncoder` writes for
    /// `Article`'s `Codable` form (absent optionals left out), so that
    /// `JSONDecoder` reads it back, but built without the encoder, which was
    /// a tenth of the cost of re-materialising an article.
    var storageJSON: String {
        // Written member by member in sorted key order: the canonical text of
        // the object, without building and sorting a dictionary.
        var out = "{\"addedAt\":"
        out.reserveCapacity(512)
        func number(_ value: Int64) {
            if value.magnitude < 1 << 53 { out += String(value) } else { out += JSONValue.number(Double(value)).canonicalText }
        }
        func member(_ key: String, _ text: String?) {
            guard let text else { return }
            out += ",\"" + key + "\":" + JSONValue.string(text).canonicalText
        }
        number(addedAt)
        member("author", author)
        out += ",\"conflicts\":" + JSONValue.array(conflicts.map { .object(["field": .string($0.field), "values": .array($0.values)]) }).canonicalText
        member("content", content)
        member("excerpt", excerpt)
        out += ",\"highlights\":"
        if highlights.isEmpty {
            out += "[]"
        } else {
            out += JSONValue.array(highlights.map { highlight in
                var item: [String: JSONValue] = [
                    "id": .string(highlight.id), "articleID": .string(highlight.articleID.rawValue), "quote": .string(highlight.quote),
                    "createdAt": .number(Double(highlight.createdAt)),
                ]
                if let position = highlight.position { item["position"] = .number(position) }
                if let note = highlight.note { item["note"] = .string(note) }
                if let color = highlight.color { item["color"] = .string(color) }
                return .object(item)
            }).canonicalText
        }
        member("id", id.rawValue)
        member("imageURL", imageURL)
        out += isArchived ? ",\"isArchived\":true" : ",\"isArchived\":false"
        out += isFavorite ? ",\"isFavorite\":true" : ",\"isFavorite\":false"
        out += isRead ? ",\"isRead\":true" : ",\"isRead\":false"
        member("language", language)
        member("normalizedURL", normalizedURL)
        member("note", note)
        out += ",\"progress\":{\"epoch\":"
        number(Int64(progress.epoch))
        out += ",\"position\":" + JSONValue.number(progress.position).canonicalText + "}"
        member("siteName", siteName)
        out += ",\"tags\":" + JSONValue.array(tags.map(JSONValue.string)).canonicalText
        member("title", title)
        out += ",\"updatedAt\":"
        number(updatedAt)
        member("url", url)
        if let wordCount {
            out += ",\"wordCount\":"
            number(Int64(wordCount))
        }
        return out + "}"
    }
}
