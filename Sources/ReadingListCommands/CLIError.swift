/// A user error a command itself detects (an unreadable file, a bad flag combination): one line.
package struct CLIError: Error, CustomStringConvertible {
    package var message: String

    package init(message: String) {
        self.message = message
    }

    package var description: String { message }
}
