import ReadingListModel
import ReplicaStore

/// How a command's failure is told: one line (the CLI prints it after `error: `;
/// a scenario step's `fails:` matches against it).
package enum ErrorLine {
    /// An error as one line.
    package static func text(for error: any Error) -> String {
        let text: String
        switch error {
        case let error as CLIError: text = error.message
        case let StoreError.invalidInput(.invalidTag(raw)):
            // (The model's own message names only the length rule: say which rule failed.)
            text = "invalid tag '\(Format.escaped(raw))': \(Tag.problem(with: raw) ?? "not a tag")"
        default: text = String(describing: error)
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
