import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore

/// `readinglist watch`: the list, then what changes in it, live (the observation API).
package struct Watch: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Print the list, then every change to it as it happens, until interrupted.",
        discussion: """
            Takes the filters of `list`. After the list, each change prints one line per article that \
            entered it (+), left it (-) or changed (~); --full prints the whole list again instead, --json \
            one JSON array per change. Edits from this machine (another shell, `sync --watch`) and from \
            other devices through a sync all show. Ctrl-C (or SIGTERM) stops it.
            """)
    @OptionGroup package var database: DatabaseOption
    @Flag(help: "Only unread articles (not archived, unless --archived is given too).") var unread = false
    @Flag(help: "Only read articles.") var read = false
    @Flag(help: "Only archived articles.") var archived = false
    @Flag(help: "Only favourites.") var favorites = false
    @Option(help: "Only articles with this tag (repeatable: all of them).") var tag: [String] = []
    @Option(help: "The order: newest (save), oldest, title, updated (last change).") var sort: String = "newest"
    @Option(parsing: .unconditional, help: "At most this many articles.") var limit: Int?
    @Flag(help: "Print the whole list again at every change, not what changed.") var full = false
    @Flag(help: "Print the list as a JSON array (without content) at start and at every change.") var json = false

    package init() {}

    /// The filter, checked as `list` checks it.
    func filter() throws -> ReplicaStore.ListFilter {
        var list = List()
        list.unread = unread
        list.read = read
        list.archived = archived
        list.favorites = favorites
        list.tag = tag
        list.sort = sort
        list.limit = limit
        return try list.filter()
    }

    package func run() async throws {
        let filter = try filter()
        let store = try database.open()
        defer { try? store.close() }
        let full = full, json = json
        try await Interruption.runUntilInterrupted {
            var shown: [Article]?
            for try await articles in store.observeArticles(filter) {
                if json {
                    Interruption.emit(JSONValue.array(articles.map { $0.jsonValue(includeContent: false) }).canonicalText)
                } else if let before = shown, !full {
                    for line in Self.changes(from: before, to: articles) { Interruption.emit(line) }
                } else {
                    if shown != nil { Interruption.emit("--") }
                    if articles.isEmpty { Interruption.emit("(no articles)") }
                    for article in articles { Interruption.emit(Format.line(article)) }
                }
                shown = articles
            }
        }
    }

    /// What changed between two values of the list: `+` entered, `-` left, `~` changed, in the new list's order.
    static func changes(from before: [Article], to after: [Article]) -> [String] {
        let old = Dictionary(before.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let new = Set(after.map(\.id))
        var lines: [String] = []
        for article in after {
            if let previous = old[article.id] {
                if previous != article { lines.append("~ " + Format.line(article)) }
            } else {
                lines.append("+ " + Format.line(article))
            }
        }
        for article in before where !new.contains(article.id) { lines.append("- " + Format.line(article)) }
        return lines.isEmpty ? ["(order changed)"] : lines
    }
}
