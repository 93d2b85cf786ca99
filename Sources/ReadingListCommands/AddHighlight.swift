import ArgumentParser
import ReplicaStore

extension HighlightCommand {
    /// `readinglist highlight add ARTICLE --quote Q`.
    package struct AddHighlight: ReplicaCommand {
        package static let configuration = CommandConfiguration(commandName: "add", abstract: "Highlight a passage of an article.")
        @OptionGroup package var database: DatabaseOption
        @Argument(help: ArticleRef.help) var article: String
        @Option(help: "The quoted passage.") var quote: String
        @Option(parsing: .unconditional, help: "Where it starts, a fraction from 0 to 1.") var position: Double?
        @Option(help: "A note about the passage.") var note: String?
        @Option(help: "A colour name for the highlight (free text, e.g. yellow).") var color: String?

        package init() {}

        package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
            let id = try store.addHighlight(article, quote: quote, position: position, note: note, color: color)
            print(id, to: &output)
        }
    }
}
