import ArgumentParser
import ReadingListModel
import ReplicaStore

/// `readinglist show ARTICLE`: one article with its conflicts.
package struct Show: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Show one article with its conflicts.")
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Flag(help: "Print a JSON object (with content, and `readableText`: the content without the page's clutter).") var json = false
    @Flag(help: "Print only the article's readable text: its content without the page's clutter.") var text = false

    package init() {}

    package func check() throws {
        if json && text { throw CLIError(message: "--json and --text exclude each other") }
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let found = try store.article(article)
        if text {
            guard let readable = try store.readableText(found.id.rawValue) else {
                throw CLIError(message: "article \(found.id.rawValue.prefix(8)) has no content (save it with --content-file)")
            }
            print(readable, to: &output)
        } else if json {
            guard case var .object(object) = found.jsonValue(includeContent: true) else { return }
            object["readableText"] = try store.readableText(found.id.rawValue).map(JSONValue.string) ?? .null
            output.json(.object(object))
        } else {
            print(Format.details(found), to: &output)
        }
    }
}
