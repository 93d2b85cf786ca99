import Foundation
import ServerHarness
import ReplicaStore
import SyncCore
#if canImport(Glibc)
import Glibc
#endif

/// Articles of realistic size, drawn reproducibly: a URL, a title of 6 to 12
/// words, an excerpt of 25 to 45 words and 0 to 3 tags (content excluded, as
/// a list sync carries it). About 420 bytes of text per article.
struct ArticleGenerator {
    static let words: [String] = """
        the president said security guarantees would be discussed next month with allies in europe while officials \
        warned that troops near the border posed a threat to regional stability and economic recovery after the \
        pandemic markets rallied on news of lower inflation as central banks signalled a slower pace of rate rises \
        researchers found that sleep quality affects memory and learning in children across several countries \
        engineers released a new version of the open source database with faster queries and better replication \
        climate scientists reported record ocean temperatures and shrinking sea ice during the summer months \
        a guide to cooking seasonal vegetables with simple recipes for weeknight dinners and weekend gatherings
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    static let hosts = ["www.npr.org", "apnews.com", "www.theguardian.com", "arstechnica.com", "www.nature.com",
                        "blog.example.org", "news.ycombinator.com", "www.bbc.co.uk", "lwn.net", "www.nytimes.com"]
    static let tags = ["news", "tech", "science", "politics", "cooking", "longread", "databases", "climate", "health", "later",
                       "work", "swift", "economy", "europe", "research", "history", "design", "sleep", "markets", "open-source"]

    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(random.next() % UInt64(range.count))
    }

    mutating func sentence(_ range: ClosedRange<Int>) -> String {
        (0..<int(range)).map { _ in Self.words[int(0...(Self.words.count - 1))] }.joined(separator: " ")
    }

    /// The `index`-th article (its URL is unique per index).
    mutating func article(_ index: Int) -> SaveRequest {
        let host = Self.hosts[index % Self.hosts.count]
        let slug = sentence(3...6).replacingOccurrences(of: " ", with: "-")
        var tags: [String] = []
        for _ in 0..<int(0...3) { tags.append(Self.tags[int(0...(Self.tags.count - 1))]) }
        var title = sentence(6...12)
        title = title.prefix(1).uppercased() + title.dropFirst()
        return SaveRequest(
            url: "https://\(host)/\(2020 + index % 7)/\(slug)-\(index)", title: title, tags: Array(Set(tags)).sorted(),
            excerpt: sentence(25...45) + ".")
    }
}

/// A folder for one benchmark run's files, removed at the end.
struct WorkFolder {
    let path: String

    init(parent: String?) throws {
        let base = parent ?? FileManager.default.temporaryDirectory.path
        path = base + "/readinglist-bench-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The executables built beside this one (`swift build -c release` builds all three).
enum Executables {
    static var folder: String {
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        if own.path.contains("/") && FileManager.default.fileExists(atPath: own.path) { return own.deletingLastPathComponent().path }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
    }

    static func path(_ name: String) throws -> String {
        let path = folder + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError("\(path) is missing: build every product first (swift build -c release)")
        }
        return path
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A finished child process: its exit status, output, wall time and peak resident memory.
struct ChildResult {
    var status: Int32
    var output: String
    var seconds: Double
    var peakKiB: Int
}

/// Runs `path` to its end and reports its peak resident memory.
///
/// The peak is the child's own `VmHWM`, sampled every 10 ms until it exits
/// (it only grows, so the last sample is the peak but for the last few
/// milliseconds). Not `wait4`'s `ru_maxrss`: exec keeps the spawning
/// process's peak in it, so a child of this (large) benchmark process would
/// report the benchmark's memory as its own.
func runChild(_ path: String, _ arguments: [String], outputFile: String) throws -> ChildResult {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let clock = ContinuousClock()
    let start = clock.now
    // The benchmark ignores SIGINT and SIGTERM (it handles them itself, see
    // Interruption); its children get the default actions back.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGINT)
    sigaddset(&defaults, SIGTERM)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw BenchError("cannot start \(path): error \(spawned)") }
    ChildProcesses.started(pid)
    defer { ChildProcesses.ended(pid) }
    var status: Int32 = 0
    var peak = 0
    while true {
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid { break }
        if done < 0, errno != EINTR { throw BenchError("waitpid failed: \(errno)") }
        if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
            peak = max(peak, kib)
        }
        usleep(10_000)
    }
    let elapsed = (clock.now - start).seconds
    let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ChildResult(status: exit, output: output, seconds: elapsed, peakKiB: peak)
}

/// A real `readinglist-server` process on an ephemeral loopback port.
final class ServerProcess {
    let server: RunningServer
    let database: String
    var url: String { server.url }
    var process: Process { server.process }
    /// The server's peak resident memory so far (VmHWM), in KiB.
    var peakKiB: Int { server.peakKiB }

    init(database: String, extra: [String] = []) throws {
        self.database = database
        server = try RunningServer(
            executable: try Executables.path("readinglist-server"), arguments: ["--db", database, "--log-level", "error"] + extra, keepLog: false)
    }

    /// `readinglist-server user add NAME` on `database`: the token it prints.
    static func addUser(_ name: String, database: String, folder: WorkFolder) throws -> String {
        let result = try runChild(try Executables.path("readinglist-server"), ["user", "add", name, "--db", database], outputFile: folder.file("user-add.out"))
        guard result.status == 0, let token = result.output.split(separator: "\n").first(where: { $0.hasPrefix("rl_") }) else {
            throw BenchError("user add failed: \(result.output)")
        }
        return String(token)
    }

    func stop() { server.stop() }
}

/// SIGINT and SIGTERM handled on one serial queue (not in a signal handler,
/// where little is safe to call): `handle` must end the process, so the
/// first signal's runs and a second one, queued behind it, never does.
enum Interruption {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func onSignal(_ handle: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "readinglist-bench.signals")
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handle(number) }
            source.resume()
            sources.append(source)
        }
    }
}
