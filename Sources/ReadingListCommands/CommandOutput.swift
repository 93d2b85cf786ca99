import ReadingListModel

/// What a command prints on stdout, collected while it runs: the CLI prints it
/// once the command has succeeded (a failed command prints only its error), a
/// scenario step keeps it for its messages.
package struct CommandOutput: TextOutputStream {
    package private(set) var text = ""

    package init() {}

    package mutating func write(_ string: String) {
        text += string
    }

    /// Prints JSON deterministically (sorted keys, one line).
    package mutating func json(_ value: JSONValue) {
        print(value.canonicalText, to: &self)
    }
}

/// Prints JSON deterministically (sorted keys, one line), for a command that prints as it goes (`sync`).
package func printJSON(_ value: JSONValue) {
    print(value.canonicalText)
}
