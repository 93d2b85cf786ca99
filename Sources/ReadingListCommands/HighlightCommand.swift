import ArgumentParser

/// `readinglist highlight add|list|delete`.
package struct HighlightCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "highlight", abstract: "Add, list or delete highlights.",
        subcommands: [AddHighlight.self, ListHighlights.self, DeleteHighlight.self])

    package init() {}
}
