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
            (~/.local/share/readinglist/replica.sqlite); --db goes before or after the command. ID-OR-URL is an \
            article id, a unique prefix of one (4+ characters), or any URL that normalises to the article's URL. \
            In `list`, the flags column reads r (read), a (archived), * (favourite), ! (conflicts).
            """,
        version: "0.1.0",
        subcommands: [
            Add.self, List.self, Show.self, Edit.self,
            MarkRead.self, MarkUnread.self, Archive.self, Unarchive.self, Favorite.self, Unfavorite.self,
            Progress.self, TagCommand.self, Untag.self, Delete.self,
            HighlightCommand.self, Conflicts.self, Resolve.self,
            Sync.self, Status.self, Log.self, ResetIdentity.self,
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
            arguments.append(contentsOf: moved)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }

    private static func isValue(at element: String, in arguments: [String]) -> Bool {
        guard let position = arguments.firstIndex(of: element), position > 0 else { return false }
        return arguments[position - 1] == "--db"
    }
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

    /// Opens the replica, creating it (and its folder) for commands that write a first article.
    func open(create: Bool = false) throws -> ReplicaStore {
        let path = path
        if create {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        }
        return try ReplicaStore.open(path: path, create: create)
    }

    /// Opens the replica, runs `body`, and closes it (so the file alone holds everything).
    /// A replica this command created is removed again when the command fails: bad input leaves nothing behind.
    func with<T>(create: Bool = false, _ body: (ReplicaStore) throws -> T) throws -> T {
        let path = path
        let existed = FileManager.default.fileExists(atPath: path)
        let store = try open(create: create)
        do {
            let result = try body(store)
            try? store.close()
            return result
        } catch {
            try? store.close()
            if !existed {
                ReplicaStore.removeFiles(at: path)
            }
            throw error
        }
    }
}

/// Prints JSON deterministically (sorted keys, one line).
func printJSON(_ value: JSONValue) {
    print(value.canonicalText)
}

func readContentFile(_ path: String?) throws -> String? {
    guard let path else { return nil }
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIError(message: "cannot read content file '\(path)'") }
    guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "content file '\(path)' is not UTF-8 text") }
    return text
}
