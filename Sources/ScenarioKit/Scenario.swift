import ReadingListModel

/// A conflict-resolution scenario: named replicas, `readinglist` commands as steps, syncs,
/// partitions, clock offsets and expectations. Parsed from YAML by ``ScenarioParser``.
package struct Scenario: Sendable {
    package struct ReplicaSpec: Sendable, Hashable {
        package var name: String
        /// Milliseconds this replica's clock is ahead (negative: behind).
        package var clockOffset: Int64
    }

    /// Where something was written, for messages.
    package struct Location: Sendable, Hashable, CustomStringConvertible {
        package var file: String
        package var line: Int
        package var description: String { "\(file):\(line)" }
    }

    package enum SyncTarget: Sendable, Hashable {
        /// Every replica through the server, twice round, so all converge.
        case all
        /// These replicas through the server, in this order.
        case replicas([String])
        /// Two replica files directly.
        case peers(String, String)
    }

    package enum Action: Sendable {
        /// A `readinglist` command on a replica (parsed by the CLI's own command types); `fails` expects an error containing it.
        case command(replica: String, arguments: [String], fails: String?)
        case sync(SyncTarget)
        case partition([String])
        case heal([String]?)
        case advance(Int64)
        case setClock(replica: String, offset: Int64)
        case copy(from: String, to: String)
        /// A faulty network between two replica files: what `to` lacks of `from`, cut into pages,
        /// delivered in the given order (a page may come twice, or before the one it follows).
        case deliver(Delivery)
        case expect(Expectation)
    }

    /// A `deliver` step: `from`'s entries that `to` lacks (as a sync would push them, in
    /// `from`'s order), cut into pages of `pageSize` entries, applied to `to` page by page
    /// in `order` (1-based page numbers). `fails`: a delivery must be refused with an error
    /// containing it (the deliveries after the refused one are not made). `again`: the
    /// pages are those of the previous `deliver` from `from` to `to`, as cut then (a late
    /// copy of pages already delivered).
    package struct Delivery: Sendable, Hashable {
        package var from: String
        package var to: String
        package var pageSize: Int
        package var order: [Int]
        package var fails: String?
        package var again = false
    }

    package struct Step: Sendable {
        package var action: Action
        package var location: Location
    }

    package var name: String
    package var file: String
    package var replicas: [ReplicaSpec]
    /// How long the server keeps a replica's place (default 90 days).
    package var retentionDays: Int
    package var steps: [Step]
}

/// What a scenario expects of the replicas' lists.
package struct Expectation: Sendable {
    package var location: Scenario.Location
    /// Replicas the article expectations apply to (nil: all).
    package var replicas: [String]?
    /// All (listed) replicas show the identical list, conflicts included.
    package var converged: Bool?
    /// How many articles are visible.
    package var articleCount: Int?
    package var articles: [ArticleExpectation]
}

/// Expectations on one article, designated by a URL (any variant).
package struct ArticleExpectation: Sendable {
    package enum Value: Sendable, Hashable, CustomStringConvertible {
        case equals(JSONValue)
        case oneOf([JSONValue])

        func matches(_ value: JSONValue) -> Bool {
            switch self {
            case let .equals(expected): return expected.loosely(equals: value)
            case let .oneOf(options): return options.contains { $0.loosely(equals: value) }
            }
        }

        package var description: String {
            switch self {
            case let .equals(value): value.canonicalText
            case let .oneOf(values): "one of " + JSONValue.array(values).canonicalText
            }
        }
    }

    package var url: String
    package var location: Scenario.Location
    /// nil: the article must be visible (any other key implies it); false: must not be.
    package var visible: Bool?
    /// Field (as `show --json` names it) -> expected value.
    package var fields: [(String, Value, Scenario.Location)]
    /// nil: not checked; empty: no conflicts; else field -> values (any order).
    package var conflicts: [String: [JSONValue]]?
}

extension JSONValue {
    /// Equality where numbers compare by value and arrays of strings as given.
    func loosely(equals other: JSONValue) -> Bool {
        switch (self, other) {
        case let (.number(a), .number(b)): return abs(a - b) < 1e-9
        case let (.array(a), .array(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.loosely(equals: $1) }
        default: return self == other
        }
    }
}
