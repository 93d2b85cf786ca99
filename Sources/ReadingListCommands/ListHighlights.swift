import ArgumentParser
import ReplicaStore

extension HighlightCommand {
    /// `readinglist highlight list ARTICLE`.
    package struct ListHighlights: ReplicaCommand {
        package static let configuration = CommandConfiguration(commandName: "list", abstract: "List an article's highlights.")
        @OptionGroup package var database: DatabaseOption
        @Argument(help: ArticleRef.help) var article: String
        @Flag(help: "Print a JSON array of the highlights.") var json = false

        package init() {}

        package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
            let found = try store.article(article)
            if json { output.json(.array(found.highlights.map(\.jsonValue))); return }
            if found.highlights.isEmpty { print("(no highlights)", to: &output) }
            for highlight in found.highlights {
                print("\(highlight.id)  \"\(highlight.quote)\"\(highlight.note.map { "  — \($0)" } ?? "")", to: &output)
            }
        }
    }
}
