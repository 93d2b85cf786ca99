import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore

/// One expectation that did not hold: where, what, on which replica, and what was seen.
public struct ScenarioFailure: Sendable, CustomStringConvertible {
    public var location: Scenario.Location
    public var expected: String
    public var replica: String?
    public var saw: String

    public var description: String {
        "\(location): expected \(expected)\(replica.map { " on \($0)" } ?? ""), saw \(saw)"
    }
}

/// The outcome of one scenario.
public struct ScenarioResult: Sendable {
    public var name: String
    public var file: String
    public var failures: [ScenarioFailure]
    public var passed: Bool { failures.isEmpty }
}

/// Runs scenarios through real replica stores (SQLite files) and the real
/// server code, in process.
public enum ScenarioRunner {
    public static func run(_ scenario: Scenario) async throws -> ScenarioResult {
        let world = try await World(retentionDays: scenario.retentionDays)
        do {
            let failures = try await run(scenario, in: world)
            await world.tearDown()
            return ScenarioResult(name: scenario.name, file: scenario.file, failures: failures)
        } catch {
            await world.tearDown()
            throw error
        }
    }

    static func run(_ scenario: Scenario, in world: World) async throws -> [ScenarioFailure] {
        var failures: [ScenarioFailure] = []
        for spec in scenario.replicas {
            world.clock.setOffset(spec.clockOffset, for: spec.name)
            try world.open(spec.name)
        }
        for step in scenario.steps {
            do {
                failures += try await perform(step, in: world)
            } catch let failure as StepFailure {
                failures.append(ScenarioFailure(location: step.location, expected: failure.expected, replica: failure.replica, saw: failure.saw))
                break  // the world is no longer what the rest of the scenario assumes
            }
            world.clock.advance(1000)  // one second between steps, so edits are ordered in time as written
        }
        return failures
    }

    struct StepFailure: Error {
        var expected: String
        var replica: String?
        var saw: String
    }

    static func perform(_ step: Scenario.Step, in world: World) async throws -> [ScenarioFailure] {
        switch step.action {
        case let .command(replica, arguments, fails):
            do {
                try await ReplicaCommand.run(arguments, on: replica, in: world)
            } catch {
                let message = "\(error)"
                guard let fails else { throw StepFailure(expected: "'\(arguments.joined(separator: " "))' to succeed", replica: replica, saw: "error: \(message)") }
                if !message.contains(fails) {
                    throw StepFailure(expected: "an error containing '\(fails)'", replica: replica, saw: "error: \(message)")
                }
                return []
            }
            if let fails { throw StepFailure(expected: "'\(arguments.joined(separator: " "))' to fail with '\(fails)'", replica: replica, saw: "success") }
        case let .sync(target):
            try await sync(target, in: world)
        case let .partition(replicas):
            world.partitioned.formUnion(replicas)
        case let .heal(replicas):
            if let replicas { world.partitioned.subtract(replicas) } else { world.partitioned.removeAll() }
        case let .advance(millis):
            world.clock.advance(millis)
        case let .setClock(replica, offset):
            world.clock.setOffset(offset, for: replica)
        case let .copy(from, to):
            try world.copy(from, to: to)
        case let .expect(expectation):
            return try ExpectationChecker.check(expectation, in: world)
        }
        return []
    }

    static func sync(_ target: Scenario.SyncTarget, in world: World) async throws {
        switch target {
        case .all:
            let names = world.stores.keys.sorted().filter { !world.partitioned.contains($0) }
            for _ in 0..<2 {
                for name in names {
                    do { try await world.syncWithServer(name) } catch {
                        throw StepFailure(expected: "sync with the server to succeed", replica: name, saw: "error: \(error)")
                    }
                }
            }
        case let .replicas(names):
            for name in names where !world.partitioned.contains(name) {
                do { try await world.syncWithServer(name) } catch {
                    throw StepFailure(expected: "sync with the server to succeed", replica: name, saw: "error: \(error)")
                }
            }
        case let .peers(a, b):
            do { try PeerSync.run(local: world.store(a), remote: world.store(b)) } catch {
                throw StepFailure(expected: "sync --peer \(b) to succeed", replica: a, saw: "error: \(error)")
            }
        }
    }
}

/// The CLI-like verbs of a scenario step, on a replica of a world.
enum ReplicaCommand {
    struct Usage: Error, CustomStringConvertible { var description: String }

    static func run(_ arguments: [String], on replica: String, in world: World) async throws {
        var positional: [String] = []
        var options: [String: [String]] = [:]
        var index = 1
        while index < arguments.count {
            let word = arguments[index]
            if word.hasPrefix("--") {
                guard index + 1 < arguments.count else { throw Usage(description: "\(word) needs a value") }
                options[String(word.dropFirst(2)), default: []].append(arguments[index + 1])
                index += 2
            } else {
                positional.append(word)
                index += 1
            }
        }
        func one(_ name: String) -> String? { options[name]?.last }
        func target() throws -> String {
            guard let first = positional.first else { throw Usage(description: "\(arguments[0]) needs an article (an id or a URL)") }
            return first
        }
        let store = world.store(replica)
        switch arguments[0] {
        case "add":
            try store.save(SaveRequest(
                url: try target(), title: one("title"), tags: options["tag"] ?? [], note: one("note"),
                content: one("content"), excerpt: one("excerpt")))
        case "edit":
            var fields: [String: JSONValue] = [:]
            let names = ["title": "title", "note": "note", "excerpt": "excerpt", "author": "author", "site-name": "siteName",
                         "image-url": "imageURL", "language": "language", "content": "content"]
            for (option, field) in names { if let value = one(option) { fields[field] = .string(value) } }
            if let words = one("word-count") {
                guard let count = Int(words) else { throw Usage(description: "--word-count takes a number") }
                fields["wordCount"] = .number(Double(count))
            }
            guard !fields.isEmpty else { throw Usage(description: "edit needs a field (--title, --note, ...)") }
            try store.edit(try target(), fields)
        case "read": try store.setRead(try target(), true)
        case "unread": try store.setRead(try target(), false)
        case "archive": try store.edit(try target(), ["isArchived": true])
        case "unarchive": try store.edit(try target(), ["isArchived": false])
        case "favorite": try store.edit(try target(), ["isFavorite": true])
        case "unfavorite": try store.edit(try target(), ["isFavorite": false])
        case "progress":
            guard positional.count == 2, let fraction = Double(positional[1]) else { throw Usage(description: "progress takes an article and a fraction") }
            try store.setProgress(positional[0], fraction)
        case "tag", "untag":
            guard positional.count >= 2 else { throw Usage(description: "\(arguments[0]) takes an article and tags") }
            try store.setTags(positional[0], Array(positional.dropFirst()), present: arguments[0] == "tag")
        case "delete": try store.delete(try target())
        case "resolve":
            guard positional.count == 2 else { throw Usage(description: "resolve takes an article and a field") }
            if let keep = one("keep") {
                guard let number = Int(keep) else { throw Usage(description: "--keep takes a number") }
                try store.resolveConflict(positional[0], field: positional[1], keep: number)
            } else if let value = one("value") {
                let json: JSONValue = value == "true" ? true : value == "false" ? false : .string(value)
                try store.resolveConflict(positional[0], field: positional[1], value: json)
            } else {
                throw Usage(description: "resolve needs --value V or --keep N")
            }
        case "highlight":
            let rest = positional.first == "add" ? Array(positional.dropFirst()) : positional
            guard let article = rest.first, let quote = one("quote") else { throw Usage(description: "highlight takes an article and --quote") }
            try store.addHighlight(article, quote: quote, position: one("position").flatMap(Double.init), note: one("note"), color: one("color"))
        case "reset-identity":
            try store.close()
            _ = try ReplicaStore.resetIdentity(path: world.path(of: replica))
            try world.open(replica)
        case "sync":
            if let peer = one("peer") {
                try PeerSync.run(local: store, remote: world.store(peer))
            } else {
                if world.partitioned.contains(replica) { throw Usage(description: "\(replica) is partitioned from the server") }
                try await world.syncWithServer(replica)
            }
        default:
            throw Usage(description: "unknown verb '\(arguments[0])'")
        }
    }
}
