import ArgumentParser
import ReplicaStore

/// `readinglist resolve ARTICLE FIELD (--value V | --keep N)`.
package struct Resolve: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Resolve a conflict: write a value that replaces every sibling.")
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The field in conflict, as `conflicts` names it (title, note, isArchived, highlight:ID.note...).") var field: String
    @Option(help: "The value to keep (text; 'true'/'false' for flags).") var value: String?
    @Option(parsing: .unconditional, help: "Keep the N-th value `conflicts` lists (1 = the one shown).") var keep: Int?

    package init() {}

    package func check() throws {
        if (value == nil) == (keep == nil) { throw CLIError(message: "give exactly one of --value and --keep") }
        if let keep, keep < 1 { throw CLIError(message: "--keep must be at least 1 (the value `conflicts` shows first), not \(keep)") }
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let resolved = if let keep {
            try store.resolveConflict(article, field: field, keep: keep)
        } else {
            // (The text becomes the field's value as `edit` would store it: the store converts it.)
            try store.resolveConflict(article, field: field, text: value ?? "")
        }
        print("resolved \(field): \(Format.line(resolved))", to: &output)
    }
}
