import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore

/// `readinglist explain ARTICLE [FIELD]`: why a field shows what it shows.
package struct Explain: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Explain why an article's fields show what they show.",
        discussion: """
            For each field (or FIELD only): its live writes with their replica, dot, clock reading and \
            context, which are concurrent, the rule that picked the displayed value, and the conflict if \
            any; and whether the article is in the list: which delete hides it, or which writes keep a \
            deleted article visible. An article that is deleted can be named by its URL or full id.
            """)
    @OptionGroup package var database: DatabaseOption
    @Argument(help: "The article: its id, a unique prefix of it (4+ characters), or its URL; a deleted one by its URL or full id.") var article: String
    @Argument(help: "A field as `show --json` or `conflicts` names it (title, tags, tag:NAME, progress, highlight:ID.note), or visible.")
    var field: String?
    @Flag(help: "Print a JSON object.") var json = false
    @Option(help: "Fail unless the explanation (as printed without --json) contains this text (for scenarios and scripts).")
    var expect: String?

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let explanation = try store.explain(article, field: field)
        let text = Self.text(explanation)
        if let expect, !text.contains(expect) {
            let summary = ([explanation.visibility.rule] + explanation.fields.map { "\($0.field): \($0.rule)" }).joined(separator: "; ")
            throw CLIError(message: "the explanation of \(article)\(field.map { " \($0)" } ?? "") does not say '\(expect)' (it says: \(summary))")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(explanation), as: UTF8.self), to: &output)
        } else {
            print(text, terminator: "", to: &output)
        }
    }

    /// The explanation as lines of text.
    static func text(_ explanation: Explanation) -> String {
        var out = ""
        func line(_ text: String) { out += text + "\n" }
        // Values as canonical JSON (escapes included), times with their ISO 8601 form beside the milliseconds.
        func shown(_ value: JSONValue, _ field: String) -> String {
            field == Fields.addedAt || field == Fields.createdAt ? Format.value(value, field: field) : value.canonicalText
        }
        func describe(_ write: Explanation.Write) -> String {
            let context = write.context.sorted { $0.key < $1.key }.map { "\($0.key.prefix(8)):\($0.value)" }.joined(separator: ", ")
            return "\(write.dot)\(write.local ? " (this replica)" : "") = \(shown(write.value, write.field)), clock \(write.clock) +\(write.clockLogical), had seen {\(context)}"
        }
        let visibility = explanation.visibility
        line("\(explanation.url ?? "(no URL)") (\(explanation.article.prefix(8))): \(visibility.visible ? "in the list" : "not in the list")")
        line("visibility: \(visibility.rule)")
        for write in visibility.deletes { line("  delete \(describe(write))") }
        for write in visibility.saves { line("  save   \(describe(write))") }
        for write in visibility.keptBy {
            line("  kept by \(write.entity == "article" ? "" : "highlight ")\(write.field): \(describe(write))")
        }
        for field in explanation.fields {
            line("\(field.field): \(field.shown.map { shown($0, field.field) } ?? "(never written)")")
            line("  rule: \(field.rule)")
            for (index, write) in field.siblings.enumerated() { line("  \(index == 0 ? "shown " : "sibling") \(describe(write))") }
            for text in field.concurrency { line("  \(text)") }
            if !field.siblings.isEmpty { line("  replaced: each live write replaced the earlier writes of this field it had seen (the log keeps only their dots)") }
            if !field.conflict.isEmpty { line("  conflict: \(field.conflict.map { shown($0, field.field) }.joined(separator: ", "))") }
        }
        return out
    }
}
