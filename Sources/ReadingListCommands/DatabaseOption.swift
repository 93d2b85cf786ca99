import ArgumentParser
import Foundation
import ReplicaStore

/// `--db`, shared by every command.
package struct DatabaseOption: ParsableArguments {
    package init() {}

    @Option(name: .long, help: "The replica database (default: $READINGLIST_DB, else the XDG data dir).")
    package var db: String?

    package var path: String {
        if let db { return db }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["READINGLIST_DB"], !path.isEmpty { return path }
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        return dataHome + "/readinglist/replica.sqlite"
    }

    /// Whether the path is the default location (neither --db nor $READINGLIST_DB): the
    /// replicas' home, whose folder a first command may create. A path given explicitly
    /// must be in a folder that exists.
    package var isDefaultLocation: Bool {
        db == nil && (ProcessInfo.processInfo.environment["READINGLIST_DB"] ?? "").isEmpty
    }

    /// Opens the replica, creating it (and, at the default location, its folder) for commands that write a first article.
    /// An empty file, and a path given explicitly in a folder that does not exist, are refused with nothing written.
    package func open(create: Bool = false) throws -> ReplicaStore {
        let path = path
        try Self.refuseEmptyFile(path)
        if create && !FileManager.default.fileExists(atPath: path) { _ = try makeFolder() }
        return try ReplicaStore.open(path: path, create: create)
    }

    /// Opens the replica, runs `body`, and closes it (so the file alone holds everything).
    /// A replica this command created is removed again when the command fails (with
    /// the folders it made for it): bad input leaves nothing behind.
    package func with<T>(create: Bool = false, _ body: (ReplicaStore) throws -> T) throws -> T {
        let path = path
        try Self.refuseEmptyFile(path)
        let existed = FileManager.default.fileExists(atPath: path)
        let folders = create && !existed ? try makeFolder() : []
        let store: ReplicaStore
        do { store = try ReplicaStore.open(path: path, create: create) } catch {
            if !existed { ReplicaStore.removeFiles(at: path) }
            Self.removeFolders(folders)
            throw error
        }
        do {
            let result = try body(store)
            try? store.close()
            return result
        } catch {
            try? store.close()
            if !existed {
                ReplicaStore.removeFiles(at: path)
                Self.removeFolders(folders)
            }
            throw error
        }
    }

    /// Refuses an existing file of zero bytes: it is not a replica, and SQLite
    /// would write a new schema into it (a typo'd path to some other empty file).
    /// (A zero-byte file beside a write-ahead log that holds pages is a replica whose changes are not yet checkpointed.)
    package static func refuseEmptyFile(_ path: String) throws {
        // SQLite takes "" as a temporary database: a save would vanish at exit.
        if path.trimmingCharacters(in: .whitespaces).isEmpty { throw CLIError(message: "the replica's path is empty: give --db FILE") }
        guard size(of: path) == 0, (size(of: path + "-wal") ?? 0) == 0 else { return }
        throw CLIError(message: "'\(path)' is empty, not a replica; remove it, or give another --db")
    }

    /// The size of a regular file, nil when there is none.
    package static func size(of path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
        return (attributes[.size] as? NSNumber)?.intValue
    }

    /// Makes the replica's folder when it is missing, for a command that creates
    /// the replica: only at the default location; a path given explicitly must be
    /// in a folder that exists (a typo must not grow a tree of folders). Returns
    /// the folders it made, deepest first, for ``removeFolders(_:)``.
    package func makeFolder() throws -> [String] {
        let folder = (path as NSString).deletingLastPathComponent
        var missing: [String] = []
        var current = folder
        while !current.isEmpty, current != "/", !FileManager.default.fileExists(atPath: current) {
            missing.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        guard !missing.isEmpty else { return [] }
        guard isDefaultLocation else {
            throw CLIError(message: "no folder '\(folder)' for the replica '\(path)'; create it first, or give another --db")
        }
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            Self.removeFolders(missing)
            throw CLIError(message: "cannot create the folder '\(folder)' for the replica: \((error as NSError).localizedDescription)")
        }
        return missing
    }

    /// Removes folders ``makeFolder()`` made, deepest first, each only while it is empty.
    package static func removeFolders(_ folders: [String]) {
        for folder in folders { _ = rmdir(folder) }
    }
}
