import ArgumentParser
import ReplicaStore

/// `readinglist untag ARTICLE TAG...`: remove tags.
package struct Untag: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Remove tags (named as `tag` takes them: `#swift`, `Swift` and `swift` are one tag).")
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The tags to remove (one argument each).") var tags: [String]

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let updated = try store.setTags(article, tags, present: false)
        print(Format.line(updated), to: &output)
    }
}
