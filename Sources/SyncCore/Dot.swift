/// One change's identity: the `counter`-th change made by `replica`.
/// Each replica's counters form a gap-free sequence 1, 2, 3, ...
public struct Dot: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var replica: ReplicaID
    public var counter: UInt64

    public init(_ replica: ReplicaID, _ counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    public var description: String { "\(replica.short):\(counter)" }

    public static func < (lhs: Dot, rhs: Dot) -> Bool { (lhs.replica, lhs.counter) < (rhs.replica, rhs.counter) }
}

/// Consecutive dots of one replica, `from...to`, whose changes were replaced
/// by later changes. Sent in place of those changes so that a receiver's
/// version vector advances without gaps; holds no value.
public struct ReplacedRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var replica: ReplicaID
    public var from: UInt64
    public var to: UInt64
    /// The ``Change/digest`` of the change at `to`, so that a receiver can
    /// later tell whether a replica file was copied (see ``ForkCheck``).
    public var digest: UInt64

    public init(replica: ReplicaID, from: UInt64, to: UInt64, digest: UInt64) {
        precondition(from >= 1 && from <= to, "a replaced range runs from 1 upwards")
        self.replica = replica
        self.from = from
        self.to = to
        self.digest = digest
    }

    public var description: String { from == to ? "\(replica.short):\(from)" : "\(replica.short):\(from)...\(to)" }
}
