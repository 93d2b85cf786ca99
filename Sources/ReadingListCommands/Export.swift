import ArgumentParser
import Foundation
import ReadingListImport
import ReplicaStore

extension ExportFormat: ExpressibleByArgument {}

/// `readinglist export --format json|netscape|csv|markdown [--output FILE]`.
package struct Export: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Export the list: json (lossless, imports back), netscape (browser bookmarks), csv, or markdown (with highlights).")
    @OptionGroup package var database: DatabaseOption
    @Option(help: "The format: \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")).") var format: ExportFormat = .json
    @Option(help: "Write to this file (replaced whole, atomically) instead of standard output.") var output: String?

    package init() {}

    package func perform(on store: ReplicaStore, output printed: inout CommandOutput) throws {
        let text = try Exporter.export(store, format: format)
        guard let output else {
            print(text, terminator: "", to: &printed)
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw CLIError(message: "cannot write '\(output)': \(error.localizedDescription)")
        }
        let count = try store.articles().count
        print("exported \(count) article\(count == 1 ? "" : "s") as \(format.rawValue) to \(output)", to: &printed)
    }
}
