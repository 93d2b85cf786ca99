import ArgumentParser
import ReadingListModel
import ReplicaStore
import SyncCore

/// `readinglist edit ARTICLE --title ...`: replace fields' values.
package struct Edit: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Edit fields of an article.",
        discussion: """
            Give any of the field flags together; each replaces the field's value on every device (a field in \
            conflict is resolved by it). Text is stored as given; an empty or blank value is refused. \
            --clear FIELD empties a field (title, note, excerpt, author, site-name, image-url, language, \
            word-count, content). --content-file also fills, from the page's readable text, the title, author, \
            site name, excerpt, language and word count the article lacks and no flag names, as `add` does. \
            Tags: `readinglist tag`/`untag`; read, archived, favourite: their own commands.
            """)
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Option(help: "A new title.") var title: String?
    @Option(help: "A new note (your own text about the article).") var note: String?
    @Option(help: "A new excerpt (a short summary shown in lists).") var excerpt: String?
    @Option(help: "The author's name.") var author: String?
    @Option(name: .customLong("site-name"), help: "The site's name (e.g. \"The Example Times\").") var siteName: String?
    @Option(name: .customLong("image-url"), help: "The lead image's URL (http or https; stored as given, without user:password@).") var imageURL: String?
    @Option(help: "The article's language (e.g. en, pt-BR).") var language: String?
    @Option(name: .customLong("word-count"), parsing: .unconditional, help: "The number of words (0 or more).") var wordCount: Int?
    @Option(name: .customLong("content-file"), help: "A file (UTF-8 text) holding the article's new text.") var contentFile: String?
    @Option(name: .customLong("clear"), help: "Empty a text field (repeatable): title, note, excerpt, author, site-name, image-url, language, word-count, content.")
    var clear: [String] = []
    @Flag(help: "Print the article as JSON.") var json = false

    package init() {}

    /// The flag names `--clear` takes, and the fields they name.
    static let clearable: [String: String] = [
        "title": Fields.title, "note": Fields.note, "excerpt": Fields.excerpt, "author": Fields.author,
        "site-name": Fields.siteName, "image-url": Fields.imageURL, "language": Fields.language,
        "word-count": Fields.wordCount, "content": Fields.content,
    ]

    package func check() throws {
        // (The content file is read once the flags are known to be right: a placeholder stands for it here.)
        _ = try fields(content: contentFile.map { _ in "" })
    }

    /// The fields the flags write (`nil` values: cleared), checked together.
    func fields(content: String?) throws -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        let texts: [(String, String?)] = [
            (Fields.title, title), (Fields.note, note), (Fields.excerpt, excerpt), (Fields.author, author),
            (Fields.siteName, siteName), (Fields.imageURL, imageURL), (Fields.language, language),
        ]
        for (field, value) in texts { if let value { fields[field] = .string(value) } }
        for name in clear {
            guard let field = Self.clearable[name] else {
                throw CLIError(message: "--clear takes one of \(Self.clearable.keys.sorted().joined(separator: ", ")), not '\(name)'")
            }
            guard fields[field] == nil else { throw CLIError(message: "--clear \(name) and a new value for it: give one of them") }
            fields[field] = .null
        }
        if let wordCount {
            guard wordCount >= 0 else { throw CLIError(message: "--word-count must be at least 0, not \(wordCount)") }
            fields[Fields.wordCount] = .number(Double(wordCount))
        }
        if let content {
            guard fields[Fields.content] == nil else { throw CLIError(message: "--clear content and --content-file: give one of them") }
            fields[Fields.content] = .string(content)
        }
        guard !fields.isEmpty else { throw CLIError(message: "give at least one field to edit (--title, --note, ..., or --clear FIELD)") }
        return fields
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let edited = try store.edit(article, try fields(content: try ContentFile.read(contentFile)))
        if json { output.json(edited.jsonValue(includeContent: false)) } else { print("edited \(Format.line(edited))", to: &output) }
    }
}
