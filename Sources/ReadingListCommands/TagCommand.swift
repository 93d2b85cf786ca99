import ArgumentParser
import ReplicaStore

/// `readinglist tag ARTICLE TAG...`: add tags.
package struct TagCommand: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        commandName: "tag", abstract: "Add tags.",
        discussion: """
            A tag is trimmed, a leading '#' is dropped (`#swift` is the tag swift, as `list` shows it), and any \
            run of spaces inside becomes one space; tags are case-insensitive: they are stored in Unicode NFC, \
            lowercased (`Swift` and `swift` are one tag). A tag has 1 to 100 characters (at most 400 bytes of \
            UTF-8), and no ',' (exports separate tags with commas), control characters or invisible formatting \
            characters. `list` shows `#swift`, and a tag with a space or a quote in quotes: `#"two words"`; \
            `list --json` gives the names as they are. Tags saved by earlier versions are shown and synced as they are.
            """)
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The tags to add (one argument each: quote a tag with spaces).") var tags: [String]

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let updated = try store.setTags(article, tags, present: true)
        print(Format.line(updated), to: &output)
    }
}
