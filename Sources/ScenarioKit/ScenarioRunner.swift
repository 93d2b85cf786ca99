import Foundation
import ReadingListCommands
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore

/// One expectation that did not hold: where, what, on which replica, and what was seen.
package struct ScenarioFailure: Sendable, CustomStringConvertible {
    package var location: Scenario.Location
    package var expected: String
    package var replica: String?
    package var saw: String

    package var description: String {
        "\(location): expected \(expected)\(replica.map { " on \($0)" } ?? ""), saw \(saw)"
    }
}

/// The outcome of one scenario.
package struct ScenarioResult: Sendable {
    package var name: String
    package var file: String
    package var failures: [ScenarioFailure]
    package var passed: Bool { failures.isEmpty }
}

/// Runs scenarios through real replica stores (SQLite files) and the real
/// server code, in process.
package enum ScenarioRunner {
    package static func run(_ scenario: Scenario) async throws -> ScenarioResult {
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
                let directory = URL(fileURLWithPath: step.location.file).deletingLastPathComponent().path
                _ = try await StepCommand.run(arguments, on: replica, in: world, directory: directory)
            } catch {
                // (The error's line as the CLI prints it after `error: `.)
                let message = ErrorLine.text(for: error)
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
        case let .deliver(delivery):
            try deliver(delivery, in: world)
        case let .expect(expectation):
            return try ExpectationChecker.check(expectation, in: world)
        }
        return []
    }

    /// A faulty network between two files: pages of what `to` lacks, applied in the order given.
    /// Each page is applied as a sync applies a pushed page (one transaction, all or nothing);
    /// nothing else of a sync happens (no knowledge exchange, no heads, no variant pass).
    static func deliver(_ delivery: Scenario.Delivery, in world: World) throws {
        let source = world.store(delivery.from), target = world.store(delivery.to)
        let link = "\(delivery.from) -> \(delivery.to)"
        let pages: [[LogEntry]]
        if delivery.again {
            guard let earlier = world.deliveredPages[link] else {
                throw StepFailure(expected: "an earlier delivery from \(delivery.from) to \(delivery.to) to repeat", replica: delivery.to, saw: "none")
            }
            pages = earlier
        } else {
            let entries = try source.outgoing(for: try target.knowledge(), limit: 1_000_000)
            pages = stride(from: 0, to: entries.count, by: delivery.pageSize).map {
                Array(entries[$0..<min(entries.count, $0 + delivery.pageSize)])
            }
            world.deliveredPages[link] = pages
        }
        let entries = pages.joined()
        let what = "\(delivery.from)'s pages \(delivery.order.map(String.init).joined(separator: ", ")) to \(delivery.to)"
        if let missing = delivery.order.first(where: { $0 > pages.count }) {
            throw StepFailure(
                expected: "page \(missing) of what \(delivery.to) lacks of \(delivery.from)", replica: delivery.to,
                saw: "\(entries.count) entries, \(pages.count) page(s) of \(delivery.pageSize)")
        }
        for number in delivery.order {
            do {
                try target.apply(pages[number - 1])
            } catch {
                let message = ErrorLine.text(for: error)
                guard let fails = delivery.fails else {
                    throw StepFailure(expected: "delivering \(what) to succeed", replica: delivery.to, saw: "page \(number) refused: \(message)")
                }
                guard message.contains(fails) else {
                    throw StepFailure(expected: "a refusal containing '\(fails)'", replica: delivery.to, saw: "page \(number) refused: \(message)")
                }
                return
            }
        }
        if let fails = delivery.fails {
            throw StepFailure(expected: "delivering \(what) to be refused with '\(fails)'", replica: delivery.to, saw: "every page applied")
        }
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
