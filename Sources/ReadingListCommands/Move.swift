import ArgumentParser
import Foundation
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncProtocol

/// `readinglist move`: the one deliberate way to put a replica's list into
/// another account (another user, or another server).
package struct Move: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Move this replica's list into another account: another user, or another server.",
        discussion: """
            A replica belongs to the list of the account its first server sync used; a sync with another \
            user's token, or with another server, is refused. `move` merges this replica's whole list (every \
            article it holds, with its history) into the account TOKEN opens on SERVER, and the replica \
            belongs to that account from then on. The list it leaves is not changed. Without --yes it only \
            says what it would merge.
            """)
    @OptionGroup package var database: DatabaseOption
    @Option(help: "The server that holds the account to move into, e.g. http://127.0.0.1:8080.") var server: String
    @Option(help: "A token of the account that receives the list.") var token: String
    @Flag(help: "Move now (without it: say what would be merged, change nothing).") var yes = false

    package init() {}

    package func run() async throws {
        if token.allSatisfy(\.isWhitespace) { throw CLIError(message: "--token is empty: give a token of the account that receives the list") }
        let address = try ServerAddress(validating: server)
        let store = try database.open()
        defer { try? store.close() }
        let account = try store.account()
        let status = try store.status()
        let remembered = try store.setting("server.url")
        let leaving = account.map { "belongs to \($0)\(remembered.map { " (\($0))" } ?? "")" } ?? "belongs to no account yet"
        guard yes else {
            print("""
                This replica \(leaving). Moving it merges its \(status.visibleArticles) article(s), \
                with all \(status.knowledge.total) change(s) it knows, into the account this token opens on \(address.url); \
                the list it leaves is not changed. Run again with --yes to move it.
                """)
            return
        }
        // As a first sync: a server that never answers is reported at once, not retried for half a minute.
        let transport = HTTPSyncTransport(address: address, token: token, retriesConnections: false)
        var sync = ServerSync()
        sync.moving = true
        sync.retrying = { attempt, most, error in
            FileHandle.standardError.write(Data("\(error.description); retrying (attempt \(attempt) of \(most))\n".utf8))
        }
        let report: ServerSync.Report
        do {
            report = try await sync.run(store: store, transport: FirstContact(transport, final: true), partner: address.url)
        } catch {
            await transport.shutdown()
            throw CLIError(message: error.description)
        }
        await transport.shutdown()
        try store.setSetting("server.url", address.url)
        try store.setSetting("server.token", token)
        let now = try store.account().map(\.description) ?? "the token's account"
        print("moved: this replica now belongs to \(now) (\(address.url)): pushed \(report.pushed), pulled \(report.pulled), \(report.conflicts) article(s) with conflicts")
    }
}
