import ArgumentParser
import ReadingListCommands
import ScenarioKit

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run seeded simulations of replicas and the server through a fault-injecting network, checking the invariants.",
        discussion: """
            Faults (--faults, as the summary counts them): drop (lost requests and lost responses), duplicate \
            (a request delivered twice), reorder (an earlier request delivered again late: reordered, stale \
            requests; a push arriving tail first, without its first entry; pulled pages reordered, which the \
            replica must refuse where an entry needs one held back), crash (a replica crashing while it applies a page), partition (replicas \
            cut off, then healed), skew (clocks hours to a year off), clone (a replica's file copied: both write \
            under the same dots, the copy as many changes or more, another replica may replace the original's \
            write, and the copy's sync must be refused). A failing seed prints its shortest failing history and \
            the command that replays it.
            """)
    // (Read as text: a negative seed gets a message about it, not a usage dump.)
    @Option(name: .customLong("seed"), parsing: .unconditional, help: "The first seed (0 to 18446744073709551615).") var seedText = "1"
    @Option(parsing: .unconditional, help: "How many consecutive seeds to run.") var count = 1
    @Option(parsing: .unconditional, help: "Replicas per run (1 to 16).") var replicas = 3
    @Option(parsing: .unconditional, help: "User operations per run.") var ops = 100
    @Option(help: "Comma-separated faults: \(SimulationFault.allCases.map(\.rawValue).joined(separator: ",")), or all.") var faults = ""
    @Flag(help: "Print one line per passing seed too.") var verbose = false
    @Flag(help: "Do not search a failing seed's shortest failing history (report the failure only).") var noShrink = false
    @Flag(help: "Do not compare what replicas display with the oracle (the other invariants are still checked).") var noOracle = false

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        _ = try seed
        guard count >= 1 else { throw CLIError(message: "--count must be at least 1, not \(count)") }
        guard (1...16).contains(replicas) else { throw CLIError(message: "--replicas must be 1 to 16, not \(replicas)") }
        guard ops >= 0 else { throw CLIError(message: "--ops must be at least 0, not \(ops)") }
        _ = try parsedFaults()
    }

    /// The first seed, a whole number from 0 to 2^64 - 1.
    var seed: UInt64 {
        get throws {
            guard let value = UInt64(seedText) else {
                throw CLIError(message: "--seed must be a whole number from 0 to \(UInt64.max), not \(seedText)")
            }
            return value
        }
    }

    func parsedFaults() throws -> Set<SimulationFault> {
        if faults == "all" { return Set(SimulationFault.allCases) }
        var result: Set<SimulationFault> = []
        for name in faults.split(separator: ",") {
            guard let fault = SimulationFault(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError(message: "unknown fault '\(name)' (expected \(SimulationFault.allCases.map(\.rawValue).joined(separator: ", ")) or all)")
            }
            result.insert(fault)
        }
        return result
    }

    func run() async throws {
        try check()
        let faultSet = try parsedFaults()
        let seed = try seed
        var failed: [UInt64] = []
        var totals = SimulationReport(seed: seed)
        for offset in 0..<count {
            let simulation = Simulation(seed: seed &+ UInt64(offset), replicas: replicas, operations: ops, faults: faultSet, oracle: !noOracle)
            let report = try await Simulator.run(simulation)
            totals.operations += report.operations
            totals.syncs += report.syncs
            totals.lostRequests += report.lostRequests
            totals.lostResponses += report.lostResponses
            totals.duplicates += report.duplicates
            totals.staleReplays += report.staleReplays
            totals.tailsFirst += report.tailsFirst
            totals.clones += report.clones
            totals.crashes += report.crashes
            totals.partitions += report.partitions
            totals.skewedReplicas += report.skewedReplicas
            totals.conflictsSeen += report.conflictsSeen
            totals.collected += report.collected
            totals.joinedFromSnapshot += report.joinedFromSnapshot
            totals.rejoined += report.rejoined
            if report.passed {
                if verbose || count == 1 { print(report) }
                continue
            }
            failed.append(simulation.seed)
            print(report)
            for violation in report.violations.prefix(10) { print("  \(violation)") }
            if noShrink { continue }
            let shortest = try await Simulator.shrink(simulation)
            print("  shortest failing history (\(shortest.count) of \(simulation.trace().count) events):")
            for event in shortest { print("    \(event)") }
            let faultText = faultSet.isEmpty ? "" : " --faults \(faultSet.map(\.rawValue).sorted().joined(separator: ","))"
            print("  replay: readinglist simulate --seed \(simulation.seed) --replicas \(replicas) --ops \(ops)\(faultText)")
        }
        if count > 1 {
            print("exercised: \(totals.operations) operations, \(totals.syncs) syncs, \(totals.lostRequests) lost requests, \(totals.lostResponses) lost responses, \(totals.duplicates) duplicates, \(totals.staleReplays) reordered (stale) requests, \(totals.tailsFirst) pushes arriving tail first or pulled pages reordered, \(totals.crashes) crashes, \(totals.partitions) partitions, \(totals.skewedReplicas) skewed clocks, \(totals.clones) copied files refused, \(totals.conflictsSeen) conflicts seen, \(totals.collected) tombstones collected, \(totals.joinedFromSnapshot) replicas joined from a snapshot, \(totals.rejoined) rejoined after the retention period")
        }
        print("\(count - failed.count) passed, \(failed.count) failed")
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
