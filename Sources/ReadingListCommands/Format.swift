import Foundation
import ReadableText
import ReadingListModel
import SyncCore

/// How commands show articles, values and user text.
package enum Format {
    package static func line(_ article: Article) -> String {
        var flags = ""
        flags += article.isRead ? "r" : "-"
        flags += article.isArchived ? "a" : "-"
        flags += article.isFavorite ? "*" : "-"
        flags += article.conflicts.isEmpty ? "-" : "!"
        let progress = article.progress.position > 0 ? String(format: " %3d%%", Int((article.progress.position * 100).rounded())) : ""
        let tags = article.tags.isEmpty ? "" : "  " + article.tags.map(Tag.displayed).joined(separator: " ")
        return "\(article.id.rawValue.prefix(8))  \(flags)\(progress)  \(shown(article.title ?? article.url))\(tags)"
    }

    /// Saved text as a terminal line shows it: bidirectional embedding,
    /// override and isolate controls (U+202A-U+202E, U+2066-U+2069) as
    /// `\u{..}`, so that a title cannot make the rest of its line read
    /// backwards. Other characters, emoji joiners included, are left alone.
    package static func shown(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isBidiControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isBidiControl(scalar) { out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    private static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }

    package static func details(_ article: Article) -> String {
        var lines = [
            "id          \(article.id.rawValue)",
            "url         \(article.url)",
            "title       \(article.title.map(shown) ?? "-")",
        ]
        let optional: [(String, String?)] = [
            ("excerpt", article.excerpt), ("author", article.author), ("site", article.siteName),
            ("image", article.imageURL), ("language", article.language), ("note", article.note),
            ("words", article.wordCount.map { "\($0) (\(ReadableText.readingMinutes(wordCount: $0)) min read)" }),
        ]
        for (label, value) in optional { if let value { lines.append(label.padding(toLength: 12, withPad: " ", startingAt: 0) + shown(value)) } }
        lines.append("tags        \(article.tags.isEmpty ? "-" : article.tags.map(Tag.displayed).joined(separator: " "))")
        lines.append("state       \(article.isRead ? "read" : "unread")\(article.isArchived ? ", archived" : "")\(article.isFavorite ? ", favourite" : "")")
        // (Read-throughs are numbered from 0, as `readEpoch` in `show --json` and `epoch` in the log.)
        lines.append("progress    \(Int((article.progress.position * 100).rounded()))% (readEpoch \(article.progress.epoch))")
        lines.append("added       \(Timestamp.iso8601(article.addedAt))")
        lines.append("updated     \(Timestamp.iso8601(article.updatedAt))")
        if let content = article.content { lines.append("content     \(content.count) characters") }
        for highlight in article.highlights { lines.append("highlight   \(highlight.id)  \"\(shown(highlight.quote))\"") }
        for conflict in article.conflicts {
            lines.append("CONFLICT    \(conflict.field): " + conflict.values.map(value).joined(separator: " | "))
        }
        return lines.joined(separator: "\n")
    }

    /// A logged value; the time fields (milliseconds since 1970) also as a date.
    package static func value(_ value: JSONValue, field: String) -> String {
        guard field == Fields.addedAt || field == Fields.createdAt, let millis = value.numberValue,
              millis >= 0, millis < 1e15, millis == millis.rounded() else { return self.value(value) }
        return "\(value.canonicalText) (\(Timestamp.iso8601(Int64(millis))))"
    }

    /// Text from the user or another device, with control and invisible characters as `\u{..}`, for a message.
    package static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            let category = scalar.properties.generalCategory
            if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    package static func value(_ value: JSONValue) -> String {
        switch value {
        case let .string(text): "\"\(text.count > 60 ? text.prefix(57) + "..." : text)\""
        case .null: "(none)"
        default: value.canonicalText
        }
    }
}
