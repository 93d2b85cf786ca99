import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc

/// glibc's mallopt(3), which the Glibc module does not export.
@_silgen_name("mallopt") func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
import ReadingListCommands

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
        // The library's commands, then those that run ScenarioKit (which itself uses the library's commands).
        subcommands: ReadingListSubcommands.all + [ScenarioCommand.self, Simulate.self])

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
            FileHandle.standardError.write(Data("error: \(ErrorLine.text(for: error))\n".utf8))
            Foundation.exit(1)
        }
    }

        private static func isValue(at element: String, in arguments: [String]) -> Bool {
        guard let position = arguments.firstIndex(of: element), position > 0 else { return false }
        return arguments[position - 1] == "--db"
    }
}
