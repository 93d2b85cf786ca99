import ReadingListModel

/// A conflict-resolution scenario: named replicas, `readinglist` commands as steps, syncs,
/// partitions, clock offsets and expectations. Parsed from YAML by ``ScenarioParser``.
public struct Scenario: Sendable {
    public struct ReplicaSpec: Sendable, Hashable {
        public var name: String
        /// Milliseconds this replica's clock is ahead (negative: behind).
        public var clockOffset: Int64
    }

    /// Where something was written, for messages.
    public struct Location: Sendable, Hashable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var description: String { "\(file):\(line)" }
    }

    public enum SyncTarget: Sendable, Hashable {
        /// Every replica through the server, twice round, so all converge.
        case all
        /// These replicas through the server, in this order.
        case replicas([String])
        /// Two replica files directly.
        case peers(String, String)
    }

    public enum Action: Sendable {
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
    public struct Delivery: Sendable, Hashable {
        public var from: String
        public var to: String
        public var pageSize: Int
        public var order: [Int]
        public var fails: String?
        public var again = false
    }

    public struct Step: Sendable {
        public var action: Action
        public var location: Location
    }

    public var name: String
    public var file: String
    public var replicas: [ReplicaSpec]
    /// How long the server keeps a replica's place (default 90 days).
    public var retentionDays: Int
    public var steps: [Step]
}

/// What a scenario expects of the replicas' lists.
public struct Expectation: Sendable {
    public var location: Scenario.Location
    /// Replicas the article expectations apply to (nil: all).
    public var replicas: [String]?
    /// All (listed) replicas show the identical list, conflicts included.
    public var converged: Bool?
    /// How many articles are visible.
    public var articleCount: Int?
    public var articles: [ArticleExpectation]
}

/// Expectations on one article, designated by a URL (any variant).
public struct ArticleExpectation: Sendable {
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case equals(JSONValue)
        case oneOf([JSONValue])

        func matches(_ value: JSONValue) -> Bool {
            switch self {
            case let .equals(expected): return expected.loosely(equals: value)
            case let .oneOf(options): return options.contains { $0.loosely(equals: value) }
            }
        }

        public var description: String {
            switch self {
            case let .equals(value): value.canonicalText
            case let .oneOf(values): "one of " + JSONValue.array(values).canonicalText
            }
        }
    }

    public var url: String
    public var location: Scenario.Location
    /// nil: the article must be visible (any other key implies it); false: must not be.
    public var visible: Bool?
    /// Field (as `show --json` names it) -> expected value.
    public var fields: [(String, Value, Scenario.Location)]
    /// nil: not checked; empty: no conflicts; else field -> values (any order).
    public var conflicts: [String: [JSONValue]]?
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
