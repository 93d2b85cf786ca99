import Foundation
import ScenarioKit
import Testing

func packageRoot() -> String {
    var root = URL(fileURLWithPath: #filePath)
    while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
    return root.path
}

func parse(_ yaml: String) throws(ScenarioError) -> Scenario {
    try ScenarioParser.parse(yaml: yaml, file: "test.yaml")
}

@Suite("Scenario files")
struct ScenarioTests {
    static let shipped: [String] = {
        let folder = packageRoot() + "/Scenarios"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted().map { folder + "/" + $0 }
    }()

    @Test func theLibraryHasAScenarioForEveryRule() {
        #expect(Self.shipped.count >= 20)
    }

    @Test(arguments: shipped)
    func shippedScenarioPasses(_ file: String) async throws {
        let result = try await ScenarioRunner.run(try ScenarioParser.parse(file: file))
        #expect(result.passed, "\(result.failures.map(\.description).joined(separator: "\n"))")
    }

    @Test func aFailingExpectationNamesTheLineTheReplicaAndWhatWasSeen() async throws {
        let scenario = try parse("""
            name: wrong on purpose
            replicas: [phone, laptop]
            steps:
              - phone: add https://example.com/a --title Original
              - sync: all
              - phone: edit https://example.com/a --title "Phone title"
              - laptop: edit https://example.com/a --title "Laptop title"
              - sync: all
            expect:
              https://example.com/a:
                title: "Phone title"
                conflicts: none
              https://example.com/missing:
                title: x
            """)
        let result = try await ScenarioRunner.run(scenario)
        #expect(!result.passed)
        let text = result.failures.map(\.description)
        #expect(text.contains { $0.hasPrefix("test.yaml:11:") && $0.contains("title of https://example.com/a") && $0.contains("on laptop") && $0.contains(#"saw "Laptop title""#) })
        #expect(text.contains { $0.hasPrefix("test.yaml:10:") && $0.contains("no conflicts") && $0.contains("title: [") })
        #expect(text.contains { $0.hasPrefix("test.yaml:13:") && $0.contains("article https://example.com/missing in the list") && $0.contains("not there") })
    }

    @Test func aStepThatShouldFailButSucceedsIsReported() async throws {
        let result = try await ScenarioRunner.run(try parse("""
            name: expects a failure
            replicas: [phone]
            steps:
              - phone: add https://example.com/a
              - phone: { run: "progress https://example.com/a 0.5", fails: "from 0 to 1" }
            """))
        #expect(result.failures.first?.description.contains("test.yaml:5:") == true)
        #expect(result.failures.first?.saw == "success")
    }

    /// A `deliver` step: a page refused where none was expected is reported with the refusal,
    /// and a page number beyond what the target lacks with the number of pages there are.
    @Test func aRefusedDeliveryIsReportedWithItsError() async throws {
        let result = try await ScenarioRunner.run(try parse("""
            name: a page out of order, not expected to be refused
            replicas: [laptop, phone]
            steps:
              - laptop: add https://example.com/a
              - laptop: edit https://example.com/a --note N
              - deliver: { from: laptop, to: phone, page-size: 1, pages: [2, 1] }
            """))
        let failure = try #require(result.failures.first)
        #expect(failure.description.hasPrefix("test.yaml:6:"))
        #expect(failure.replica == "phone")
        #expect(failure.saw.contains("page 2 refused: gap in the changes of replica"), "\(failure.saw)")
        let beyond = try await ScenarioRunner.run(try parse("""
            name: a page that is not there
            replicas: [laptop, phone]
            steps:
              - laptop: add https://example.com/a
              - deliver: { from: laptop, to: phone, page-size: 1, pages: [1, 3] }
            """))
        #expect(beyond.failures.first?.saw == "1 entries, 1 page(s) of 1")
    }

    @Test func aStepRunsTheCLIsCommandOnItsReplica() async throws {
        let result = try await ScenarioRunner.run(try parse("""
            name: the CLI's commands as steps
            replicas: [phone, laptop]
            steps:
              - phone: add https://example.com/a --title A --tag "#Swift"
              - phone: highlight add https://example.com/a --quote "a passage" --position 0.2
              - phone: { run: "resolve https://example.com/a title", fails: "give exactly one of --value and --keep" }
              - phone: { run: "tag https://example.com/a a,b", fails: "invalid tag 'a,b'" }
              - phone: { run: "progress https://example.com/a 1.5", fails: "from 0 to 1" }
              - laptop: sync --peer phone
              - laptop: edit https://example.com/a --word-count 120
            expect:
              on: [laptop]
              https://example.com/a: { title: A, tags: [swift], highlights: ["a passage"], wordCount: 120 }
            """))
        #expect(result.passed, "\(result.failures.map(\.description).joined(separator: "\n"))")
    }

    @Test(arguments: [
        ("name: x\nreplicas: [a]\nsteps:\n  - a: add https://example.com\n  - b: add https://example.com\n", 5, "unknown replica 'b'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: frobnicate https://example.com\n", 4, "unknown verb 'frobnicate'"),
        // A step is parsed by the CLI's own command types: their flags, their messages.
        ("name: x\nreplicas: [a]\nsteps:\n  - a: add https://example.com --titel T\n", 4, "Unknown option '--titel'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: highlight https://example.com --quote Q\n", 4, "Unknown option '--quote'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: list --db other.sqlite\n", 4, "no --db"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: move --server http://127.0.0.1:1 --token T\n", 4, "unknown verb 'move'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: sync --peer ghost\n", 4, "unknown replica 'ghost'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: add https://example.com\n   bad: indent\n", 5, "YAML syntax error"),
        ("name: x\nreplicas: [a]\nexpect:\n  https://example.com/a:\n    colour: red\n", 5, "unknown field 'colour'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - advance: soon\n", 4, "expected 'advance: DURATION'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - sync: [a, ghost]\n", 4, "unknown replica 'ghost'"),
        ("name: x\nreplicas: [a]\nfrobs: 1\n", 3, "unknown key 'frobs'"),
        ("replicas: [a]\n", 1, "needs a 'name'"),
        ("name: x\nreplicas: [a, b]\nsteps:\n  - deliver: { from: a, to: b, pages: [1] }\n", 4, "expected 'deliver: {from: REPLICA"),
        ("name: x\nreplicas: [a, b]\nsteps:\n  - deliver: { from: a, to: ghost, page-size: 1, pages: [1] }\n", 4, "unknown replica 'ghost'"),
        ("name: x\nreplicas: [a, b]\nsteps:\n  - deliver: { from: a, to: b, page-size: 1, pages: [0] }\n", 4, "expected a page number"),
        ("name: x\nreplicas: [a, b]\nsteps:\n  - deliver: { from: a, to: b, page-size: 1, pages: [1], late: true }\n", 4, "unknown key 'late'"),
        ("name: x\nreplicas: [a]\nsteps:\n  - a: add \"https://example.com\n", 4, "unclosed quote"),
    ])
    func badFilesAreReportedWithTheirLine(_ yaml: String, _ line: Int, _ message: String) {
        #expect {
            _ = try parse(yaml)
        } throws: { error in
            guard let error = error as? ScenarioError else { return false }
            return error.line == line && error.message.contains(message) && error.description.hasPrefix("test.yaml:\(line): ")
        }
    }
}

@Suite("Simulator")
struct SimulatorTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aSeedWithEveryFaultKeepsTheInvariants(seed: UInt64) async throws {
        let report = try await Simulator.run(Simulation(seed: seed, replicas: 4, operations: 80))
        #expect(report.passed, "\(report.violations)")
        #expect(report.syncs > 10 && report.operations == 80)
    }

    @Test func theSameSeedReplaysTheSameRun() async throws {
        let simulation = Simulation(seed: 42, replicas: 3, operations: 60)
        #expect(simulation.trace() == simulation.trace())
        let first = try await Simulator.run(simulation)
        let second = try await Simulator.run(simulation)
        #expect(first.description == second.description)
        #expect(first.lostRequests + first.lostResponses + first.duplicates + first.crashes + first.partitions > 0, "faults were injected")
    }

    @Test func withoutFaultsNothingIsInjected() async throws {
        let report = try await Simulator.run(Simulation(seed: 7, replicas: 3, operations: 50, faults: []))
        #expect(report.passed)
        #expect(report.lostRequests == 0 && report.duplicates == 0 && report.crashes == 0 && report.partitions == 0 && report.skewedReplicas == 0)
    }
}
