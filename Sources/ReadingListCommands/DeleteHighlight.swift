import ArgumentParser
import ReplicaStore

extension HighlightCommand {
    /// `readinglist highlight delete ID`.
    package struct DeleteHighlight: ReplicaCommand {
        package static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a highlight.")
        @OptionGroup package var database: DatabaseOption
        @Argument(help: "The highlight's id, as `highlight add` printed it and `highlight list` shows it (ARTICLEID/HEX).") var highlight: String

        package init() {}

        package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
            try store.deleteHighlight(highlight)
            print("deleted highlight \(highlight)", to: &output)
        }
    }
}
