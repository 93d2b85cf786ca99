import ArgumentParser
import Foundation
import ReadingListCommands
import ScenarioKit

struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario", abstract: "Run conflict-resolution scenario files (see Docs/Testing.md).",
        subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run scenarios through real replica stores and the real server code, in process.")
        @Argument(help: "Scenario files, or folders of .yaml files.") var paths: [String]

        func run() async throws {
            var files: [String] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw CLIError(message: "no scenario file or folder '\(path)'")
                }
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(path)/\($0)" }
                } else {
                    files.append(path)
                }
            }
            var passed = 0, failed = 0
            for file in files {
                let scenario: Scenario
                do { scenario = try ScenarioParser.parse(file: file) } catch {
                    print("ERROR \(error)")
                    failed += 1
                    continue
                }
                let result = try await ScenarioRunner.run(scenario)
                if result.passed {
                    passed += 1
                    print("PASS \(result.name) (\(file))")
                } else {
                    failed += 1
                    print("FAIL \(result.name) (\(file))")
                    for failure in result.failures { print("  \(failure)") }
                }
            }
            print("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}
