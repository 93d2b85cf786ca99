import Foundation

/// A `readinglist-server serve` process on an ephemeral loopback port, for
/// the end-to-end tests and the benchmark: starts it, waits for the line
/// `listening on URL` it prints once bound, and stops it with SIGTERM.
public final class RunningServer: @unchecked Sendable {
    package let process = Process()
    /// The base URL the server printed (`http://127.0.0.1:PORT`).
    public let url: String
    private let errors: Pipe?

    /// The server did not say it was listening.
    public struct StartFailure: Error, CustomStringConvertible {
        /// What it printed instead.
        public var output: String
        /// `readinglist-server did not start: OUTPUT`.
        public var description: String { "readinglist-server did not start: \(output)" }
    }

    /// Runs `executable serve ARGUMENTS --host 127.0.0.1 --port 0`. With
    /// `keepLog`, standard error is kept for ``stop()`` to return.
    public init(executable: String, arguments: [String], keepLog: Bool = true) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve"] + arguments + ["--host", "127.0.0.1", "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        errors = keepLog ? Pipe() : nil
        process.standardError = errors ?? FileHandle.nullDevice
        // Off the list as soon as it is reaped (its pid may be reused after).
        process.terminationHandler = { ChildProcesses.ended($0.processIdentifier) }
        try process.run()
        ChildProcesses.started(process.processIdentifier)
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) else {
            process.terminate()
            process.waitUntilExit()
            throw StartFailure(output: text)
        }
        url = String(line.dropFirst("listening on ".count))
    }

    /// The storage arguments for a SQLite path or a `postgres://` URL.
    public static func storageArguments(_ database: String) -> [String] {
        database.hasPrefix("postgres://") ? ["--postgres", database] : ["--db", database]
    }

    /// The process's peak resident memory so far (VmHWM), in KiB.
    package var peakKiB: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// SIGTERM, then waits: the exit status and what the server logged (when kept).
    @discardableResult
    public func stop() -> (status: Int32, log: String) {
        if process.isRunning { process.terminate() }
        let log = errors?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: log, as: UTF8.self))
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}
