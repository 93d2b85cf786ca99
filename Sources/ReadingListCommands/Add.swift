import ArgumentParser
import ReadingListModel
import ReplicaStore
import SyncCore

/// `readinglist add URL`: save an article.
package struct Add: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Save a URL (again: fresh after a delete; adds only what is given when already saved).")
    package static let createsReplica = true
    @OptionGroup package var database: DatabaseOption
    @Argument(help: "The page's URL (http or https).") var url: String
    @Option(help: "Title.") var title: String?
    @Option(name: .customLong("tag"), help: "A tag (repeatable; `#swift` is the tag swift; see `readinglist tag --help` for the rules).") var tags: [String] = []
    @Option(help: "A note.") var note: String?
    @Option(help: "An excerpt.") var excerpt: String?
    @Option(name: .customLong("content-file"), help: "A file holding the article's text.") var contentFile: String?
    @Flag(help: "Print the article as JSON.") var json = false

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let content = try ContentFile.read(contentFile)
        let (article, outcome) = try store.save(SaveRequest(url: url, title: title, tags: tags, note: note, content: content, excerpt: excerpt))
        if json { output.json(article.jsonValue(includeContent: false)) } else if outcome == .created {
            print("saved \(article.id.rawValue.prefix(8))  \(article.title ?? article.url)", to: &output)
        } else if case let .updated(written) = outcome {
            // Say what the save wrote: "keep this" always, and what it gave that was new (tags as the list shows them).
            let given = written.map { $0.hasPrefix(Fields.tagPrefix) ? Tag.displayed(String($0.dropFirst(Fields.tagPrefix.count))) : $0 }
            let wrote = given.isEmpty ? "kept it in the list (a save always says keep this)" : "kept it in the list and wrote " + given.joined(separator: ", ")
            print("already saved \(article.id.rawValue.prefix(8)): \(wrote)  \(article.title ?? article.url)", to: &output)
        }
    }
}
