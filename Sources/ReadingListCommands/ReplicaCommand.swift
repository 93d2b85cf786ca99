import ArgumentParser
import ReplicaStore

/// A command that works on one open replica: the CLI opens `--db` and runs it;
/// a scenario step parses the same command and performs it on the scenario's replica.
///
/// Adopt it for any command that needs nothing but the replica (no network, no
/// other file): `run()` comes with it, and scenario steps get the command for free.
package protocol ReplicaCommand: ParsableCommand {
    /// `--db`.
    var database: DatabaseOption { get }
    /// Whether the command creates the replica when there is none yet (`add`); default false.
    static var createsReplica: Bool { get }
    /// Checks the flags together before the replica is opened (a one-line error, not a usage message); default: nothing to check.
    func check() throws
    /// Does the command's work on `store`, printing into `output`.
    func perform(on store: ReplicaStore, output: inout CommandOutput) throws
}

extension ReplicaCommand {
    package static var createsReplica: Bool { false }

    package func check() throws {}

    /// Checks the flags, opens `--db` (a replica this command created is removed again
    /// when it fails), performs the command, closes the replica, then prints what it printed.
    package func run() throws {
        try check()
        var output = CommandOutput()
        try database.with(create: Self.createsReplica) { store in try perform(on: store, output: &output) }
        print(output.text, terminator: "")
    }
}

/// A command that works on a closed replica file (`reset-identity`): the CLI
/// runs it on `--db`; a scenario step closes the replica, runs it, and reopens it.
package protocol ReplicaFileCommand: ParsableCommand {
    /// `--db`.
    var database: DatabaseOption { get }
    /// Does the command's work on the replica file at `path`, printing into `output`.
    func perform(onFile path: String, output: inout CommandOutput) throws
}

extension ReplicaFileCommand {
    package func run() throws {
        var output = CommandOutput()
        try perform(onFile: database.path, output: &output)
        print(output.text, terminator: "")
    }
}
