import ArgumentParser
import ReplicaStore

/// `readinglist delete ARTICLE`.
package struct Delete: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Delete an article (a concurrent edit on another device brings it back).")
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let id = try store.resolve(article)
        try store.delete(id.rawValue)
        print("deleted \(id.rawValue.prefix(8))", to: &output)
    }
}
