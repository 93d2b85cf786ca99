import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save a URL (again: fresh after a delete; adds only what is given when already saved).")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The page's URL (http or https).") var url: String
    @Option(help: "Title.") var title: String?
    @Option(name: .customLong("tag"), help: "A tag (repeatable; `#swift` is the tag swift; see `readinglist tag --help` for the rules).") var tags: [String] = []
    @Option(help: "A note.") var note: String?
    @Option(help: "An excerpt.") var excerpt: String?
    @Option(name: .customLong("content-file"), help: "A file holding the article's text.") var contentFile: String?
    @Flag(help: "Print the article as JSON.") var json = false

    func run() throws {
        let content = try readContentFile(contentFile)
        let (article, outcome) = try database.with(create: true) { store in
            try store.save(SaveRequest(url: url, title: title, tags: tags, note: note, content: content, excerpt: excerpt))
        }
        if json { printJSON(article.jsonValue(includeContent: false)) } else if outcome == .created {
            print("saved \(article.id.rawValue.prefix(8))  \(article.title ?? article.url)")
        } else if case let .updated(written) = outcome {
            // Say what the save wrote: "keep this" always, and what it gave that was new (tags as the list shows them).
            let given = written.map { $0.hasPrefix(Fields.tagPrefix) ? Tag.displayed(String($0.dropFirst(Fields.tagPrefix.count))) : $0 }
            let wrote = given.isEmpty ? "kept it in the list (a save always says keep this)" : "kept it in the list and wrote " + given.joined(separator: ", ")
            print("already saved \(article.id.rawValue.prefix(8)): \(wrote)  \(article.title ?? article.url)")
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List articles, newest save first.",
        discussion: "Filters combine: `--unread --tag swift --favorites` lists the unread favourites tagged swift.")
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Only unread articles (not archived, unless --archived is given too).") var unread = false
    @Flag(help: "Only read articles.") var read = false
    @Flag(help: "Only archived articles.") var archived = false
    @Flag(help: "Only favourites.") var favorites = false
    @Option(help: "Only articles with this tag (repeatable: all of them; `#swift` and `Swift` name the tag swift).") var tag: [String] = []
    @Option(help: "The order: newest (save), oldest, title, updated (last change).") var sort: String = "newest"
    @Option(parsing: .unconditional, help: "At most this many articles.") var limit: Int?
    @Flag(help: "Print a JSON array (without content).") var json = false

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws -> ReplicaStore.ListFilter {
        if unread && read { throw CLIError(message: "--unread and --read exclude each other") }
        guard let order = ReplicaStore.ListFilter.Order(rawValue: sort) else {
            throw CLIError(message: "--sort takes one of \(ReplicaStore.ListFilter.Order.allCases.map(\.rawValue).joined(separator: ", ")), not '\(sort)'")
        }
        if let limit, limit < 1 { throw CLIError(message: "--limit must be at least 1, not \(limit)") }
        return ReplicaStore.ListFilter(
            read: unread ? false : read ? true : nil,
            archived: archived ? true : unread ? false : nil,
            // A tag is named as `tag` takes it (`#Swift` is swift); a name the rules refuse
            // may still be a tag saved by an earlier version: looked up as typed.
            favorite: favorites ? true : nil, tags: tag.map { (try? Tag.validated($0)) ?? $0 }, order: order, limit: limit)
    }

    func run() throws {
        let filter = try check()
        let articles = try database.with { try $0.articles(filter) }
        if json {
            printJSON(.array(articles.map { $0.jsonValue(includeContent: false) }))
            return
        }
        if articles.isEmpty { print("(no articles)") }
        for article in articles { print(Format.line(article)) }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one article with its conflicts.")
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Flag(help: "Print a JSON object (with content).") var json = false

    func run() throws {
        let found = try database.with { try $0.article(article) }
        if json { printJSON(found.jsonValue(includeContent: true)) } else { print(Format.details(found)) }
    }
}

struct Edit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Edit fields of an article.",
        discussion: """
            Give any of the field flags together; each replaces the field's value on every device (a field in \
            conflict is resolved by it). Text is stored as given; an empty or blank value is refused. \
            --clear FIELD empties a field (title, note, excerpt, author, site-name, image-url, language, \
            word-count, content). Tags: `readinglist tag`/`untag`; read, archived, favourite: their own commands.
            """)
    @OptionGroup var database: DatabaseOption
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

    /// The flag names `--clear` takes, and the fields they name.
    static let clearable: [String: String] = [
        "title": Fields.title, "note": Fields.note, "excerpt": Fields.excerpt, "author": Fields.author,
        "site-name": Fields.siteName, "image-url": Fields.imageURL, "language": Fields.language,
        "word-count": Fields.wordCount, "content": Fields.content,
    ]

    func run() throws {
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
        if let content = try readContentFile(contentFile) {
            guard fields[Fields.content] == nil else { throw CLIError(message: "--clear content and --content-file: give one of them") }
            fields[Fields.content] = .string(content)
        }
        guard !fields.isEmpty else { throw CLIError(message: "give at least one field to edit (--title, --note, ..., or --clear FIELD)") }
        let edited = try database.with { try $0.edit(article, fields) }
        if json { printJSON(edited.jsonValue(includeContent: false)) } else { print("edited \(Format.line(edited))") }
    }
}

/// The six flag commands differ only in the field and value they write.
protocol FlagCommand: ParsableCommand {
    var database: DatabaseOption { get }
    var article: String { get }
    static var field: String { get }
    static var value: Bool { get }
}

extension FlagCommand {
    func run() throws {
        let updated = try database.with { store in
            Self.field == Fields.isRead
                ? try store.setRead(article, Self.value)
                : try store.edit(article, [Self.field: .bool(Self.value)])
        }
        print(Format.line(updated))
    }
}

struct MarkRead: FlagCommand {
    static let configuration = CommandConfiguration(commandName: "read", abstract: "Mark read.")
    static let field = Fields.isRead, value = true
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct MarkUnread: FlagCommand {
    static let configuration = CommandConfiguration(commandName: "unread", abstract: "Mark unread (\"read again\": progress restarts at 0).")
    static let field = Fields.isRead, value = false
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct Archive: FlagCommand {
    static let configuration = CommandConfiguration(abstract: "Archive.")
    static let field = Fields.isArchived, value = true
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct Unarchive: FlagCommand {
    static let configuration = CommandConfiguration(abstract: "Unarchive.")
    static let field = Fields.isArchived, value = false
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct Favorite: FlagCommand {
    static let configuration = CommandConfiguration(abstract: "Mark as favourite.")
    static let field = Fields.isFavorite, value = true
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct Unfavorite: FlagCommand {
    static let configuration = CommandConfiguration(abstract: "Unmark as favourite.")
    static let field = Fields.isFavorite, value = false
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
}

struct Progress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set reading progress, a fraction from 0 to 1.", usage: "readinglist progress [--db <db>] <article> <fraction>")
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    // All unrecognised words, so that a negative number is this argument
    // (and refused as out of range), not an unknown option.
    @Argument(parsing: .allUnrecognized, help: "How far you have read, a fraction from 0 to 1 (0.4: 40%).") var fraction: [String] = []

    mutating func validate() throws {
        // `progress REF -- -0.1`: the separator is not part of the fraction.
        if fraction.first == "--" { fraction.removeFirst() }
        guard fraction.count == 1 else {
            throw ValidationError(fraction.isEmpty ? "Missing expected argument '<fraction>'" : "Expected one fraction, got: \(fraction.joined(separator: " "))")
        }
    }

    func run() throws {
        let fraction = fraction[0]
        guard let value = Double(fraction) else { throw CLIError(message: "invalid progress '\(fraction)': it must be a fraction from 0 to 1") }
        let updated = try database.with { try $0.setProgress(article, value) }
        print(Format.line(updated))
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag", abstract: "Add tags.",
        discussion: """
            A tag is trimmed, a leading '#' is dropped (`#swift` is the tag swift, as `list` shows it), and any \
            run of spaces inside becomes one space; tags are case-insensitive: they are stored in Unicode NFC, \
            lowercased (`Swift` and `swift` are one tag). A tag has 1 to 100 characters (at most 400 bytes of \
            UTF-8), and no ',' (exports separate tags with commas), control characters or invisible formatting \
            characters. `list` shows `#swift`, and a tag with a space or a quote in quotes: `#"two words"`; \
            `list --json` gives the names as they are. Tags saved by earlier versions are shown and synced as they are.
            """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The tags to add (one argument each: quote a tag with spaces).") var tags: [String]

    func run() throws {
        let updated = try database.with { try $0.setTags(article, tags, present: true) }
        print(Format.line(updated))
    }
}

struct Untag: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove tags (named as `tag` takes them: `#swift`, `Swift` and `swift` are one tag).")
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The tags to remove (one argument each).") var tags: [String]

    func run() throws {
        let updated = try database.with { try $0.setTags(article, tags, present: false) }
        print(Format.line(updated))
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete an article (a concurrent edit on another device brings it back).")
    @OptionGroup var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String

    func run() throws {
        let id = try database.with { store in
            let id = try store.resolve(article)
            try store.delete(id.rawValue)
            return id
        }
        print("deleted \(id.rawValue.prefix(8))")
    }
}
