import Foundation
import Testing

/// Runs the built `readinglist` executable.
struct CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let folder: String

    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["READINGLIST_BIN"] { return path }
        var root = URL(fileURLWithPath: #filePath)
        while root.pathComponents.count > 1 {
            root.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { break }
        }
        let build = root.appendingPathComponent(".build")
        for candidate in ["debug", "release"] {
            let path = build.appendingPathComponent(candidate).appendingPathComponent("readinglist").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return build.appendingPathComponent("debug/readinglist").path
    }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "build the executable first: swift build")
    }

    func path(_ name: String) -> String { folder + "/" + name }

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = folder
        env.removeValue(forKey: "READINGLIST_DB")
        env.removeValue(forKey: "XDG_DATA_HOME")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        return try Self.capture(process)
    }

    /// Runs a configured process to its end and returns its status and output.
    static func capture(_ process: Process) throws -> Result {
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs `readinglist --db DB ARGS...` and expects success.
    @discardableResult
    func on(_ db: String, _ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(["--db", path(db)] + arguments)
        #expect(result.status == 0, "readinglist \(arguments.joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout
    }

    /// Runs `readinglist --db DB ARGS...` and expects one clear error line and a non-zero status.
    func fails(_ db: String, _ arguments: String..., mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(["--db", path(db)] + arguments)
        #expect(result.status != 0, "expected readinglist \(arguments.joined(separator: " ")) to fail", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one error line, got: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "stderr should mention '\(text)': \(result.stderr)", sourceLocation: sourceLocation)
    }

    func json(_ db: String, _ arguments: String...) throws -> Any {
        let result = try run(["--db", path(db)] + arguments + ["--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed])
    }

    func copy(_ from: String, _ to: String) throws {
        try FileManager.default.copyItem(atPath: path(from), toPath: path(to))
    }

    func fileBytes(_ name: String) -> Data? { FileManager.default.contents(atPath: path(name)) }
}
