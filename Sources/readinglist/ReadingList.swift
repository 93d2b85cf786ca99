import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc

/// glibc's mallopt(3), which the Glibc module does not export.
@_silgen_name("mallopt") func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore

@main
struct ReadingList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readinglist",
        abstract: "An offline-first reading list: save articles on any device, sync, never lose an edit.",
        discussion: """
            The replica database is --db, else $READINGLIST_DB, else $XDG_DATA_HOME/readinglist/replica.sqlite \
            (~/.local/share/readinglist/replica.sqlite); --db goes before or after the command. <article> is an \
            article id, a unique prefix of one (4+ characters), or any URL that normalises to the article's URL. \
            In `list`, the flags column reads r (read), a (archived), * (favourite), ! (conflicts), and tags \
            show as #swift, or #"two words" when they hold a space. An error is one line on stderr (exit status 1); \
            a malformed command line also prints the usage.
            """,
        version: "0.1.0",
        subcommands: [
            Add.self, List.self, Show.self, Edit.self,
            MarkRead.self, MarkUnread.self, Archive.self, Unarchive.self, Favorite.self, Unfavorite.self,
            Progress.self, TagCommand.self, Untag.self, Delete.self,
            HighlightCommand.self, Conflicts.self, Resolve.self,
            Sync.self, Move.self, Status.self, Log.self, ResetIdentity.self,
            ScenarioCommand.self, Simulate.self,
        ])

    /// Accepts the global `--db PATH` before the subcommand too (`readinglist --db x.sqlite list`).
    static func main() async {
        #if canImport(Glibc)
        // glibc gives every thread that allocates its own 64 MiB arena; the sync's
        // HTTP and database threads then hold tens of megabytes of freed memory
        // apiece. Two arenas keep a long initial sync's peak memory flat.
        _ = glibcMallopt(-8 /* M_ARENA_MAX */, 2)
        #endif
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let index = arguments.firstIndex(where: { $0 == "--db" || $0.hasPrefix("--db=") }),
           let subcommand = arguments.firstIndex(where: { !$0.hasPrefix("-") && !isValue(at: $0, in: arguments) }),
           index < subcommand {
            let width = arguments[index].contains("=") ? 1 : 2
            let moved = Array(arguments[index..<min(index + width, arguments.count)])
            arguments.removeSubrange(index..<min(index + width, arguments.count))
            // Before a `--` (what follows it is the command's arguments, never options), else at the end.
            let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
            arguments.insert(contentsOf: moved, at: end)
        }
        // A malformed command line (an unknown flag, a missing argument) gets
        // ArgumentParser's message and the usage; anything that fails once the
        // command runs is one line, `error: ...`, and exit status 1.
        var command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // ArgumentParser's own: `--help` and `help` (run as a command), ExitCode, CleanExit.
            exit(withError: error)
        } catch {
            FileHandle.standardError.write(Data("error: \(message(for: error))\n".utf8))
            Foundation.exit(1)
        }
    }

    /// An error as one line.
    static func message(for error: any Error) -> String {
        let text: String
        switch error {
        case let error as CLIError: text = error.message
        case let StoreError.invalidInput(.invalidTag(raw)):
            // (The model's own message names only the length rule: say which rule failed.)
            text = "invalid tag '\(Format.escaped(raw))': \(Tag.problem(with: raw) ?? "not a tag")"
        default: text = String(describing: error)
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    private static func isValue(at element: String, in arguments: [String]) -> Bool {
        guard let position = arguments.firstIndex(of: element), position > 0 else { return false }
        return arguments[position - 1] == "--db"
    }
}

/// What the `<article>` argument of every command takes.
enum ArticleRef {
    static let help: ArgumentHelp = "The article: its id, a unique prefix of it (4+ characters), or its URL (any spelling that normalises to it)."
}

/// A user error the CLI itself detects (an unreadable file, a bad flag combination).
struct CLIError: Error {
    var message: String
}

/// `--db`, shared by every command.
struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: "The replica database (default: $READINGLIST_DB, else the XDG data dir).")
    var db: String?

    var path: String {
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
    var isDefaultLocation: Bool {
        db == nil && (ProcessInfo.processInfo.environment["READINGLIST_DB"] ?? "").isEmpty
    }

    /// Opens the replica, creating it (and, at the default location, its folder) for commands that write a first article.
    /// An empty file, and a path given explicitly in a folder that does not exist, are refused with nothing written.
    func open(create: Bool = false) throws -> ReplicaStore {
        let path = path
        try Self.refuseEmptyFile(path)
        if create && !FileManager.default.fileExists(atPath: path) { _ = try makeFolder() }
        return try ReplicaStore.open(path: path, create: create)
    }

    /// Opens the replica, runs `body`, and closes it (so the file alone holds everything).
    /// A replica this command created is removed again when the command fails (with
    /// the folders it made for it): bad input leaves nothing behind.
    func with<T>(create: Bool = false, _ body: (ReplicaStore) throws -> T) throws -> T {
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
    static func refuseEmptyFile(_ path: String) throws {
        // SQLite takes "" as a temporary database: a save would vanish at exit.
        if path.trimmingCharacters(in: .whitespaces).isEmpty { throw CLIError(message: "the replica's path is empty: give --db FILE") }
        guard size(of: path) == 0, (size(of: path + "-wal") ?? 0) == 0 else { return }
        throw CLIError(message: "'\(path)' is empty, not a replica; remove it, or give another --db")
    }

    /// The size of a regular file, nil when there is none.
    static func size(of path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
        return (attributes[.size] as? NSNumber)?.intValue
    }

    /// Makes the replica's folder when it is missing, for a command that creates
    /// the replica: only at the default location; a path given explicitly must be
    /// in a folder that exists (a typo must not grow a tree of folders). Returns
    /// the folders it made, deepest first, for ``removeFolders(_:)``.
    func makeFolder() throws -> [String] {
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
    static func removeFolders(_ folders: [String]) {
        for folder in folders { _ = rmdir(folder) }
    }
}

/// Prints JSON deterministically (sorted keys, one line).
func printJSON(_ value: JSONValue) {
    print(value.canonicalText)
}

func readContentFile(_ path: String?) throws -> String? {
    guard let path else { return nil }
    guard let data = FileManager.default.contents(atPath: path) else {
        var isFolder: ObjCBool = false
        let why = !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) ? "no such file"
            : isFolder.boolValue ? "it is a folder" : "it cannot be read (permissions?)"
        throw CLIError(message: "cannot read content file '\(path)': \(why)")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "content file '\(path)' is not UTF-8 text") }
    return text
}
