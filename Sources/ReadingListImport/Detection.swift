import Foundation
import ReadingListModel
import SyncCore

/// `--format auto`: which export a file is, from its first bytes and header
/// (never from its name alone: a renamed file is still what it holds).
enum Detection {
    static func detect(text: String, name: String) throws(ImportError) -> (format: ImportFormat, json: JSONValue?) {
        let head = String(text.drop(while: { $0.isWhitespace || $0 == "\u{FEFF}" }).prefix(4096))
        let lower = head.lowercased()
        if lower.hasPrefix("<!doctype netscape-bookmark-file-1") { return (.netscape, nil) }
        if lower.hasPrefix("<") {
            if lower.contains("pocket export") || lower.contains("time_added=") { return (.pocketHTML, nil) }
            if lower.contains("<dt>") || lower.contains("<dl") { return (.netscape, nil) }
            throw ImportError(file: name, "an HTML file that is neither a Netscape bookmark file nor a Pocket export; give --format")
        }
        if lower.hasPrefix("{") || lower.hasPrefix("[") {
            let json = try JSONFormats.decode(Data(text.utf8), file: name)
            if json["format"]?.text == Exporter.jsonFormatName { return (.json, json) }
            if json["bookmarks"] != nil { return (.karakeep, json) }
            let items = json.items.isEmpty ? (json["articles"] ?? .null).items : json.items
            guard let first = items.first else {
                throw ImportError(file: name, "a JSON file with no articles in it (or of a shape this version does not know)")
            }
            let omnivoreKeys = ["slug", "savedAt", "originalUrl", "readingProgress", "labels", "readingProgressPercent"]
            if omnivoreKeys.contains(where: { first[$0] != nil }) { return (.omnivore, json) }
            let wallabagKeys = ["is_archived", "is_starred", "given_url", "annotations", "created_at", "domain_name"]
            if wallabagKeys.contains(where: { first[$0] != nil }) { return (.wallabag, json) }
            throw ImportError(file: name, "a JSON file of a shape this version does not know (expected Omnivore, Wallabag, Karakeep or this app's export); give --format")
        }
        // CSV: the header line names the exporter.
        let headerLine = String(head.prefix { $0 != "\n" && $0 != "\r\n" && $0 != "\r" })
        let semicolon = Set(headerLine.split(separator: ";").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")).lowercased() })
        if semicolon.contains("url") && semicolon.contains("title") { return (.wallabag, nil) }
        let comma = Set(headerLine.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")).lowercased() })
        if comma.contains("time_added") && comma.contains("url") { return (.pocket, nil) }
        if ["url", "added", "read", "archived", "favorite"].allSatisfy(comma.contains) { return (.csv, nil) }
        if comma.contains("folder") && comma.contains("url") { return (.instapaper, nil) }
        if comma.contains("document tags") || (comma.contains("location") && comma.contains("seen")) || comma.contains("highlight") {
            return (.readwise, nil)
        }
        if text.prefix(8192).unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\r" && $0 != "\t" }) {
            throw ImportError(file: name, "a binary file, not an export")
        }
        throw ImportError(file: name, "cannot tell which export this is (its first line: '\(headerLine.prefix(80))'); give --format")
    }
}
