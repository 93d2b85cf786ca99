import ArgumentParser
import ReplicaStore

/// `readinglist progress ARTICLE FRACTION`: how far the article is read.
package struct Progress: ReplicaCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Set reading progress, a fraction from 0 to 1.", usage: "readinglist progress [--db <db>] <article> <fraction>")
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) var article: String
    // All unrecognised words, so that a negative number is this argument
    // (and refused as out of range), not an unknown option.
    @Argument(parsing: .allUnrecognized, help: "How far you have read, a fraction from 0 to 1 (0.4: 40%).") var fraction: [String] = []

    package init() {}

    package mutating func validate() throws {
        // `progress REF -- -0.1`: the separator is not part of the fraction.
        if fraction.first == "--" { fraction.removeFirst() }
        guard fraction.count == 1 else {
            throw ValidationError(fraction.isEmpty ? "Missing expected argument '<fraction>'" : "Expected one fraction, got: \(fraction.joined(separator: " "))")
        }
    }

    package func check() throws {
        _ = try value()
    }

    /// The fraction as a number (its range is the store's to check).
    func value() throws -> Double {
        let fraction = fraction[0]
        guard let value = Double(fraction) else { throw CLIError(message: "invalid progress '\(fraction)': it must be a fraction from 0 to 1") }
        return value
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let updated = try store.setProgress(article, try value())
        print(Format.line(updated), to: &output)
    }
}
