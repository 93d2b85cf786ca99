import Foundation
import Testing

/// A real `readinglist-server` process on an ephemeral loopback port.
final class ServerProcess {
    let process = Process()
    let url: String
    let database: String
    private let stderrPipe = Pipe()

    static var executable: String {
        (CLI.executable as NSString).deletingLastPathComponent + "/readinglist-server"
    }

    /// `database` is a SQLite path, or a `postgres://` URL.
    init(database: String) throws {
        self.database = database
        process.executableURL = URL(fileURLWithPath: Self.executable)
        let storage = database.hasPrefix("postgres://") ? ["--postgres", database] : ["--db", database]
        process.arguments = ["serve"] + storage + ["--host", "127.0.0.1", "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = stderrPipe
        try process.run()
        // The server prints "listening on http://127.0.0.1:PORT" once bound.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) else {
            process.terminate()
            throw ServerStartFailure(output: text)
        }
        url = String(line.dropFirst("listening on ".count))
    }

    struct ServerStartFailure: Error { var output: String }

    /// `readinglist-server user add NAME`: the token it prints.
    static func addUser(_ name: String, database: String) throws -> String {
        let storage = database.hasPrefix("postgres://") ? ["--postgres", database] : ["--db", database]
        let result = try runServerCommand(["user", "add", name] + storage)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func runServerCommand(_ arguments: [String]) throws -> CLI.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        return try CLI.capture(process)
    }

    /// SIGTERM, then waits; returns the exit status and what the server logged.
    @discardableResult
    func stop() -> (status: Int32, log: String) {
        if process.isRunning { process.terminate() }
        let log = stderrPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: log, as: UTF8.self))
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}
