import Foundation

/// A command whose arguments name files to read. A scenario step takes such
/// paths relative to its scenario file's folder, so that a scenario runs from
/// any working directory; the CLI takes them as given.
package protocol ReadsFiles {
    /// The same command with every relative path it reads taken relative to `directory`.
    func resolvingPaths(against directory: String) -> Self
}

extension ReadsFiles {
    /// `path` relative to `directory` unless it is absolute (or `-`, standard input).
    package static func resolve(_ path: String, against directory: String) -> String {
        path.hasPrefix("/") || path == "-" ? path : URL(fileURLWithPath: directory).appendingPathComponent(path).path
    }
}

extension Import: ReadsFiles {
    package func resolvingPaths(against directory: String) -> Import {
        var command = self
        command.files = files.map { Self.resolve($0, against: directory) }
        return command
    }
}

extension Add: ReadsFiles {
    package func resolvingPaths(against directory: String) -> Add {
        var command = self
        command.contentFile = contentFile.map { Self.resolve($0, against: directory) }
        return command
    }
}

extension Edit: ReadsFiles {
    package func resolvingPaths(against directory: String) -> Edit {
        var command = self
        command.contentFile = contentFile.map { Self.resolve($0, against: directory) }
        return command
    }
}
