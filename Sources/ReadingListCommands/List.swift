import ArgumentParser
import ReadingListModel
import ReplicaStore

/// `readinglist list`: the articles, filtered and sorted.
package struct List: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "List articles, newest save first.",
        discussion: "Filters combine: `--unread --tag swift --favorites` lists the unread favourites tagged swift.")
    @OptionGroup package var database: DatabaseOption
    @Flag(help: "Only unread articles (not archived, unless --archived is given too).") var unread = false
    @Flag(help: "Only read articles.") var read = false
    @Flag(help: "Only archived articles.") var archived = false
    @Flag(help: "Only favourites.") var favorites = false
    @Option(help: "Only articles with this tag (repeatable: all of them; `#swift` and `Swift` name the tag swift).") var tag: [String] = []
    @Option(help: "The order: newest (save), oldest, title, updated (last change).") var sort: String = "newest"
    @Option(parsing: .unconditional, help: "At most this many articles.") var limit: Int?
    @Flag(help: "Print a JSON array (without content).") var json = false

    package init() {}

    package func check() throws {
        _ = try filter()
    }

    /// The flags as the store's filter, checked together (a one-line error, not a usage message).
    func filter() throws -> ReplicaStore.ListFilter {
        if unread && read { throw CLIError(message: "--unread and --read exclude each other") }
        guard let order = ReplicaStore.ListFilter.Order(rawValue: sort) else {
            throw CLIError(message: "--sort takes one of \(ReplicaStore.ListFilter.Order.allCases.map(\.rawValue).joined(separator: ", ")), not '\(sort)'")
        }
        if let limit, limit < 1 { throw CLIError(message: "--limit must be at least 1, not \(limit)") }
        // No tag, of this version or an earlier one, is blank.
        if tag.contains(where: { $0.allSatisfy { $0.isWhitespace || $0 == "#" } }) {
            throw CLIError(message: "--tag needs a tag name (as `tag` takes it: `swift` or `#swift`), not '\(tag.first { $0.allSatisfy { $0.isWhitespace || $0 == "#" } }!)'")
        }
        return ReplicaStore.ListFilter(
            read: unread ? false : read ? true : nil,
            archived: archived ? true : unread ? false : nil,
            // A tag is named as `tag` takes it (`#Swift` is swift); a name the rules refuse
            // may still be a tag saved by an earlier version: looked up as typed.
            favorite: favorites ? true : nil, tags: tag.map { (try? Tag.validated($0)) ?? $0 }, order: order, limit: limit)
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let articles = try store.articles(try filter())
        if json {
            output.json(.array(articles.map { $0.jsonValue(includeContent: false) }))
            return
        }
        if articles.isEmpty { print("(no articles)", to: &output) }
        for article in articles { print(Format.line(article), to: &output) }
    }
}
