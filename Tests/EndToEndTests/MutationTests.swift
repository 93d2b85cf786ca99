import Foundation
import ReadingListModel
import Synchronization
import Testing

/// The mutation score: every deliberate break of a merge rule (``Mutant``,
/// switched on in a debug build by `READINGLIST_MUTANT`) must be caught by
/// the simulator within a fixed set of seeds and by at least one shipped
/// scenario. A check that notices no wrong rule gives false confidence.
///
/// Set `READINGLIST_MUTATION_TABLE=PATH` to write the table of
/// `Docs/Testing.md` (mutant, first catching scenario, first catching seed).
@Suite("mutation score", .serialized)
struct MutationTests {
    /// The simulator seeds tried, in order, until one catches the mutant.
    static let seeds: [UInt64] = Array(1...40)
    static let simulateArguments = ["--replicas", "4", "--ops", "100", "--faults", "all", "--no-shrink"]

    struct Score: Sendable {
        var mutant: Mutant
        /// Scenario names that failed with the mutant on.
        var scenarios: [String]
        /// The first seed whose run failed, and its first violation.
        var seed: (UInt64, String)?
    }

    static var scenarioFolder: String {
        var root = URL(fileURLWithPath: #filePath)
        while root.pathComponents.count > 1 {
            root.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { break }
        }
        return root.appendingPathComponent("Scenarios").path
    }

    /// The mutants can only be switched on in a debug build.
    static var isDebugBuild: Bool { CLI.executable.contains("/debug/") }

    /// A name that is no mutant stops the debug executable with a message naming the known ones
    /// (so a typo in the table below cannot pass as "nothing caught").
    @Test(.enabled(if: isDebugBuild, "mutants exist only in a debug build of readinglist"))
    func unknownMutantIsRefused() throws {
        let cli = try CLI()
        // (The switch is read when a rule first asks: normalising a URL with a `utm_` parameter does.)
        let result = try cli.run(
            ["--db", cli.path("r.sqlite"), "add", "https://example.com/a?utm_source=mail"], environment: ["READINGLIST_MUTANT": "no-such-mutant"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not a mutant"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(Mutant.registerLowestWins.rawValue))
    }

    @Test(.enabled(if: isDebugBuild, "mutants exist only in a debug build of readinglist"), .timeLimit(.minutes(10)))
    func everyMutantIsCaught() throws {
        let cli = try CLI()
        let mutants = Mutant.allCases
        // A scenario that fails without any mutant (someone's work in progress) catches nothing.
        let unmutated = try Self.failingScenarios(environment: [:], cli: cli)
        let scores = Mutex<[Mutant: Score]>([:])
        let errors = Mutex<[String]>([])
        // Two mutants at a time (each runs one process at a time).
        let lanes = 2
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for (index, mutant) in mutants.enumerated() where index % lanes == lane {
                do {
                    var score = try Self.score(mutant, cli: cli)
                    score.scenarios.removeAll { unmutated.contains($0) }
                    scores.withLock { $0[mutant] = score }
                } catch {
                    errors.withLock { $0.append("\(mutant.rawValue): \(error)") }
                }
            }
        }
        #expect(errors.withLock { $0 }.isEmpty, "\(errors.withLock { $0 })")
        #expect(unmutated.isEmpty, "scenarios that fail without a mutant: \(unmutated)")
        let results = scores.withLock { $0 }
        var table = "| mutant | caught by scenario | first seed | what the simulator saw first |\n|---|---|---|---|\n"
        for mutant in mutants {
            guard let score = results[mutant] else { continue }
            let scenario = score.scenarios.first.map { "\($0)" + (score.scenarios.count > 1 ? " (+\(score.scenarios.count - 1) more)" : "") }
                ?? "none"
            let seen = score.seed.map { String($0.1.prefix(110)).replacingOccurrences(of: "|", with: "/") } ?? ""
            table += "| `\(mutant.rawValue)` | \(scenario) | \(score.seed.map { "\($0.0)" } ?? "none of \(Self.seeds.first!)...\(Self.seeds.last!)") | \(seen) |\n"
            #expect(!score.scenarios.isEmpty, "no shipped scenario catches \(mutant.rawValue)")
            #expect(score.seed != nil, "no simulator seed in \(Self.seeds.first!)...\(Self.seeds.last!) catches \(mutant.rawValue)")
        }
        print(table)
        if let path = ProcessInfo.processInfo.environment["READINGLIST_MUTATION_TABLE"] {
            try table.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// Runs the scenarios, then the seeds until the first that fails, with `mutant` on.
    static func score(_ mutant: Mutant, cli: CLI) throws -> Score {
        let environment = ["READINGLIST_MUTANT": mutant.rawValue]
        let failed = try failingScenarios(environment: environment, cli: cli)
        var caught: (UInt64, String)?
        for seed in seeds {
            let result = try cli.run(["simulate", "--seed", "\(seed)"] + simulateArguments, environment: environment)
            if result.status != 0 {
                let detail = result.stdout.split(separator: "\n").first { $0.hasPrefix("  ") }.map { $0.trimmingCharacters(in: .whitespaces) }
                caught = (seed, detail ?? (result.stderr.split(separator: "\n").last.map(String.init) ?? "exit \(result.status)"))
                break
            }
        }
        return Score(mutant: mutant, scenarios: failed, seed: caught)
    }

    /// The file names of the shipped scenarios that fail under `environment`.
    static func failingScenarios(environment: [String: String], cli: CLI) throws -> [String] {
        let run = try cli.run(["scenario", "run", scenarioFolder], environment: environment)
        // "FAIL name (file)" or "ERROR file:line: ..." per failing scenario.
        var failed: [String] = []
        for line in run.stdout.split(separator: "\n") where line.hasPrefix("FAIL ") || line.hasPrefix("ERROR ") {
            if let open = line.lastIndex(of: "("), line.hasSuffix(")") {
                failed.append(String(line[line.index(after: open)..<line.index(before: line.endIndex)]).split(separator: "/").last.map(String.init) ?? String(line))
            } else {
                failed.append(String(line))
            }
        }
        if failed.isEmpty && run.status != 0 { failed.append("(scenario run stopped: \(run.stderr.split(separator: "\n").last ?? ""))") }
        return failed
    }
}
