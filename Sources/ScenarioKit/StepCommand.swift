import ArgumentParser
import ReadingListCommands
import ReplicaStore
import SyncClient

/// A scenario step's command on a replica: the `readinglist` command tree's own
/// types, parsed by its grammar and performed on the scenario's replica.
///
/// A ``ReplicaCommand`` runs as the CLI runs it, on the replica's open store; a
/// ``ReplicaFileCommand`` on its closed file. `sync` is parsed as the CLI's, and runs in
/// process: through the world's server, or with `--peer REPLICA`, file to file.
enum StepCommand {
    /// The root a step's words are parsed under: the CLI's own command tree.
    struct Root: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "readinglist", subcommands: ReadingListSubcommands.all)
    }

    /// A step the grammar refuses, in one line.
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// The verbs a step takes: the commands that work on a replica (and the groups of such commands), and `sync`.
    static var verbs: [String] {
        ReadingListSubcommands.all.filter(runsInScenario).map { $0._commandName }
    }

    static func runsInScenario(_ type: any ParsableCommand.Type) -> Bool {
        type is any ReplicaCommand.Type || type is any ReplicaFileCommand.Type || type == Sync.self
            || type.configuration.subcommands.contains(where: runsInScenario)
    }

    /// Parses a step's words (the step names its replica: no `--db`).
    static func parse(_ arguments: [String]) throws(Invalid) -> any ParsableCommand {
        guard let verb = arguments.first else { throw Invalid(description: "expected a command") }
        let verbs = verbs
        guard verbs.contains(verb) else {
            throw Invalid(description: "unknown verb '\(verb)' (expected one of: \(verbs.sorted().joined(separator: ", ")))")
        }
        if arguments.contains(where: { $0 == "--db" || $0.hasPrefix("--db=") }) {
            throw Invalid(description: "a step runs on the replica it names: no --db")
        }
        let command: any ParsableCommand
        do { command = try Root.parseAsRoot(arguments) } catch {
            throw Invalid(description: Root.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        if let sync = command as? Sync, sync.server != nil || sync.token != nil {
            throw Invalid(description: "a scenario syncs through its own server: no --server or --token")
        }
        guard command is any ReplicaCommand || command is any ReplicaFileCommand || command is Sync else {
            throw Invalid(description: "'\(arguments.joined(separator: " "))' is not a command a step can run (expected one of: \(verbs.sorted().joined(separator: ", ")))")
        }
        return command
    }

    /// Runs a step's command on `replica` and returns what it printed.
    /// Files a step names are taken relative to `directory` (its scenario file's folder).
    static func run(_ arguments: [String], on replica: String, in world: World, directory: String = ".") async throws -> String {
        var output = CommandOutput()
        var command = try parse(arguments)
        if let reader = command as? any ReadsFiles, let resolved = reader.resolvingPaths(against: directory) as? any ParsableCommand {
            command = resolved
        }
        switch command {
        case let command as any ReplicaCommand:
            try command.check()
            try command.perform(on: world.store(replica), output: &output)
        case let command as any ReplicaFileCommand:
            try world.store(replica).close()
            do { try command.perform(onFile: world.path(of: replica), output: &output) } catch {
                try world.open(replica)
                throw error
            }
            try world.open(replica)
        case let sync as Sync:
            try sync.check()
            if let peer = sync.peer {
                let report = try Sync.syncPeers(local: world.store(replica), remote: world.store(peer), localName: nil, remoteName: peer, pageSize: sync.pageSize)
                print("synced with \(peer): pushed \(report.summary.pushedChanges), pulled \(report.summary.pulledChanges), \(report.conflicts) article(s) with conflicts", to: &output)
            } else {
                if world.partitioned.contains(replica) { throw Invalid(description: "\(replica) is partitioned from the server") }
                let report = try await world.syncWithServer(replica)
                print("synced with the server: pushed \(report.pushed), pulled \(report.pulled), \(report.conflicts) article(s) with conflicts", to: &output)
            }
        default:
            preconditionFailure("parse(_:) returns only commands a step can run")
        }
        return output.text
    }
}
