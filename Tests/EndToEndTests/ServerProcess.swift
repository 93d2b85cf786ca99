import Foundation
import ServerHarness
import Testing

/// A real `readinglist-server` process on an ephemeral loopback port.
final class ServerProcess {
    let server: RunningServer
    let database: String
    var url: String { server.url }
    var process: Process { server.process }

    static var executable: String {
        (CLI.executable as NSString).deletingLastPathComponent + "/readinglist-server"
    }

    /// `database` is a SQLite path, or a `postgres://` URL.
    init(database: String, arguments: [String] = []) throws {
        self.database = database
        server = try RunningServer(executable: Self.executable, arguments: RunningServer.storageArguments(database) + arguments)
    }


    /// `readinglist-server user add NAME`: the token it prints.
    static func addUser(_ name: String, database: String) throws -> String {
        let result = try runServerCommand(["user", "add", name] + RunningServer.storageArguments(database))
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
    func stop() -> (status: Int32, log: String) { server.stop() }
}
