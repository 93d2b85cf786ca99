import ArgumentParser
import ReadingListModel
import ReplicaStore

/// `readinglist search QUERY`: the articles that match, best first, each with a snippet.
package struct Search: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Search titles, excerpts, readable text, notes, highlights and tags; best match first.",
        discussion: """
            Every word must match (whole words, any case and accents, English word stems: `guarantee` finds \
            `guarantees`). Also: "a phrase" (quoted), word* (a prefix), -word (without it), #tag (in tags only). \
            Other punctuation separates words. Each result shows the passage that matched, its matched words \
            between * and *. With --json: an array of {article, score, snippet, matches}, where matches are \
            [start, end) offsets into snippet in Unicode code points.
            """)
    @OptionGroup package var database: DatabaseOption
    @Argument(parsing: .allUnrecognized, help: "The words to look for.") var query: [String] = []
    @Option(parsing: .unconditional, help: "At most this many results.") var limit: Int = 20
    @Flag(help: "Print a JSON array.") var json = false

    package init() {}

    var text: String { query.joined(separator: " ") }

    package func check() throws {
        if limit < 1 { throw CLIError(message: "--limit must be at least 1, not \(limit)") }
        guard text.contains(where: { $0.isLetter || $0.isNumber }) else {
            throw CLIError(message: "give at least one word to search for")
        }
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let hits = try store.search(text, limit: limit)
        if json {
            output.json(.array(hits.map { hit in
                let scalars = hit.snippet.unicodeScalars
                func offset(_ index: String.Index) -> JSONValue { .number(Double(scalars.distance(from: scalars.startIndex, to: index))) }
                return .object([
                    "article": hit.article.jsonValue(includeContent: false), "score": .number((hit.score * 1000).rounded() / 1000),
                    "snippet": .string(hit.snippet), "matches": .array(hit.matches.map { .array([offset($0.lowerBound), offset($0.upperBound)]) }),
                ])
            }))
            return
        }
        if hits.isEmpty { print("(no matches)", to: &output) }
        for hit in hits {
            print(Format.line(hit.article), to: &output)
            var snippet = ""
            var position = hit.snippet.startIndex
            for match in hit.matches {
                snippet += hit.snippet[position..<match.lowerBound] + "*" + hit.snippet[match] + "*"
                position = match.upperBound
            }
            snippet += hit.snippet[position...]
            print("          " + Format.escaped(snippet.split(whereSeparator: \.isNewline).joined(separator: " ")), to: &output)
        }
    }
}
