/// A scenario file that cannot run: the file, the line, and what was expected there.
package struct ScenarioError: Error, Sendable, CustomStringConvertible {
    package var file: String
    package var line: Int?
    package var message: String

    package init(file: String, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    package var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

/// Parses `5m`, `2d`, `+1y`, `-3h`, `90s`, `500ms` into milliseconds.
enum DurationText {
    static func millis(_ text: String) -> Int64? {
        var body = Substring(text.trimmingCharacters(in: .whitespaces))
        var sign: Int64 = 1
        if body.hasPrefix("+") { body = body.dropFirst() } else if body.hasPrefix("-") { sign = -1; body = body.dropFirst() }
        let units: [(String, Int64)] = [
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000),
        ]
        for (suffix, factor) in units where body.hasSuffix(suffix) {
            let number = body.dropLast(suffix.count)
            if let value = Int64(number), !number.isEmpty, number.allSatisfy(\.isNumber) { return sign * value * factor }
        }
        return nil
    }
}

import Foundation
