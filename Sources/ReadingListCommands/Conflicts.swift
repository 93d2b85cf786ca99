import ArgumentParser
import ReadingListModel
import ReplicaStore

/// `readinglist conflicts`: the articles whose fields hold concurrent, disagreeing values.
package struct Conflicts: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "List articles whose fields have concurrent, disagreeing values.")
    @OptionGroup package var database: DatabaseOption
    @Flag(help: "Print a JSON array: id, url, title and conflicts (field, values) of each article.") var json = false

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let articles = try store.conflicted()
        if json {
            output.json(.array(articles.map { article in
                .object([
                    "id": .string(article.id.rawValue), "url": .string(article.url),
                    "title": article.title.map(JSONValue.string) ?? .null,
                    "conflicts": .array(article.conflicts.map { .object(["field": .string($0.field), "values": .array($0.values)]) }),
                ])
            }))
            return
        }
        if articles.isEmpty { print("no conflicts", to: &output) }
        for article in articles {
            print("\(article.id.rawValue.prefix(8))  \(article.title ?? article.url)", to: &output)
            for conflict in article.conflicts {
                print("  \(conflict.field):", to: &output)
                for (index, value) in conflict.values.enumerated() {
                    print("    \(index + 1). \(Format.value(value))\(index == 0 ? "  (shown)" : "")", to: &output)
                }
            }
        }
    }
}
