import ArgumentParser
import Foundation
import ReadingListImport
import ReadingListModel
import ReplicaStore

extension ImportFormat: ExpressibleByArgument {}

/// `readinglist import FILE... [--format ...]`: bring in another app's export.
package struct Import: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Import exports of other reading apps (Pocket, Instapaper, Omnivore, Wallabag, Readwise, Karakeep, browser bookmarks) or of this one.",
        discussion: """
            Files may be ZIP archives of parts. Rows that name a page already in the list (or named twice) \
            merge into it: tags and states are added, never removed; nothing the list has is overwritten. \
            Importing the same file again changes nothing. Each skipped row is listed with its file, line and reason.
            """)
    package static let createsReplica = true
    @OptionGroup package var database: DatabaseOption
    @Argument(help: "The export files.") var files: [String]
    @Option(help: "The format: \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")) (auto: tell from each file).")
    var format: ImportFormat = .auto
    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Articles per transaction.", visibility: .hidden)) var batchSize = 5000
    @Flag(help: "Print the report as JSON.") var json = false

    package init() {}

    package func check() throws {
        guard !files.isEmpty else { throw CLIError(message: "name at least one file to import") }
        guard batchSize > 0 else { throw CLIError(message: "--batch-size must be at least 1") }
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let plan = try Importer.read(files, format: format)
        // Progress on a terminal only (stderr), and only for an import of more than one batch.
        let showsProgress = isatty(STDERR_FILENO) == 1 && plan.articles.count > batchSize
        var progress: (@Sendable (ImportProgress) -> Void)?
        if showsProgress {
            progress = { step in
                let end = step.written == step.total ? "\n" : ""
                FileHandle.standardError.write(Data("\rimporting: \(step.written) of \(step.total) articles\(end)".utf8))
            }
        }
        let report = try Importer.write(plan, into: store, batchSize: batchSize, progress: progress)
        if json {
            var object: [String: JSONValue] = [:]
            object["files"] = .array(report.files.map(JSONValue.string))
            object["rows"] = .number(Double(report.rows))
            object["merged"] = .number(Double(report.merged))
            object["created"] = .number(Double(report.created))
            object["updated"] = .number(Double(report.updated))
            object["unchanged"] = .number(Double(report.unchanged))
            object["highlights"] = .number(Double(report.highlights))
            object["skipped"] = .array(report.skipped.map(Self.issue))
            object["warnings"] = .array(report.warnings.map(Self.issue))
            output.json(.object(object))
            return
        }
        let articles = report.created + report.updated + report.unchanged
        func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
        print("imported \(count(report.files.count, "file")): \(count(report.rows, "row")), \(count(articles, "article")) "
              + "(\(report.created) new, \(report.updated) updated, \(report.unchanged) unchanged), \(count(report.merged, "row")) merged, "
              + "\(count(report.highlights, "highlight")), \(count(report.skipped.count, "row")) skipped", to: &output)
        for issue in report.skipped { print("\(issue.location): skipped: \(issue.reason)", to: &output) }
        for issue in report.warnings { print("\(issue.location): warning: \(issue.reason)", to: &output) }
    }

    static func issue(_ issue: ImportIssue) -> JSONValue {
        .object([
            "file": .string(issue.location.file), (issue.location.isItem ? "item" : "line"): .number(Double(issue.location.line)),
            "reason": .string(issue.reason),
        ])
    }
}
