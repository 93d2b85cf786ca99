/// One change's identity: the `counter`-th change made by `replica`.
/// Each replica's counters form a gap-free sequence 1, 2, 3, ...
public struct Dot: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The replica that made the change.
    public var replica: ReplicaID
    /// The change's number among that replica's changes (from 1).
    public var counter: UInt64

    package init(_ replica: ReplicaID, _ counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// `replica:counter`, with the replica's short form.
    public var description: String { "\(replica.short):\(counter)" }

    /// Orders by replica, then counter.
    public static func < (lhs: Dot, rhs: Dot) -> Bool { (lhs.replica, lhs.counter) < (rhs.replica, rhs.counter) }

    /// The largest counter accepted (2^53 - 1: exact in every JSON implementation).
    package static let maxCounter: UInt64 = (1 << 53) - 1

    private enum CodingKeys: String, CodingKey { case replica, counter }

    /// Decodes a dot, refusing a counter of 0 or above 2^53-1.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        replica = try container.decode(ReplicaID.self, forKey: .replica)
        counter = try container.decode(UInt64.self, forKey: .counter)
        guard (1...Self.maxCounter).contains(counter) else {
            throw DecodingError.dataCorruptedError(forKey: .counter, in: container, debugDescription: "a counter is 1 to 2^53-1, not \(counter)")
        }
    }
}

/// 64-bit digests travel as 16 lowercase hex digits.
enum DigestCoding {
    static func encode(_ digest: UInt64) -> String { hex16(digest) }

    static func decode(_ text: String) -> UInt64? {
        guard text.utf8.count == 16 else { return nil }
        return UInt64(text, radix: 16)
    }

    /// The digest at `key` of `container`; a decoding error naming the key when it is not 16 hex digits.
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, forKey key: Key) throws -> UInt64 {
        let text = try container.decode(String.self, forKey: key)
        guard let value = decode(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "a digest is 16 hex digits")
        }
        return value
    }
}

/// Consecutive dots of one replica, `from...to`, whose changes were replaced
/// by later changes. Sent in place of those changes so that a receiver's
/// version vector advances without gaps; holds no value.
public struct ReplacedRange: Sendable, Hashable, Codable, CustomStringConvertible {
    package var replica: ReplicaID
    package var from: UInt64
    package var to: UInt64
    /// The ``Change/digest`` of the change at `to`, so that a receiver can
    /// later tell whether a replica file was copied (see ``ForkCheck``).
    package var digest: UInt64

    package init(replica: ReplicaID, from: UInt64, to: UInt64, digest: UInt64) {
        precondition(from >= 1 && from <= to, "a replaced range runs from 1 upwards")
        self.replica = replica
        self.from = from
        self.to = to
        self.digest = digest
    }

    /// `replica:from...to` (or `replica:counter` for one dot).
    public var description: String { from == to ? "\(replica.short):\(from)" : "\(replica.short):\(from)...\(to)" }

    private enum CodingKeys: String, CodingKey { case replica, from, to, digest }

    /// Decodes a range, refusing one whose end is before its start.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        replica = try container.decode(ReplicaID.self, forKey: .replica)
        from = try container.decode(UInt64.self, forKey: .from)
        to = try container.decode(UInt64.self, forKey: .to)
        guard from >= 1, from <= to, to <= Dot.maxCounter else {
            throw DecodingError.dataCorruptedError(forKey: .to, in: container, debugDescription: "a replaced range needs 1 <= from <= to <= 2^53-1")
        }
        digest = try DigestCoding.decode(container, forKey: .digest)
    }

    /// Encodes the range as the sync protocol writes it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replica, forKey: .replica)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(DigestCoding.encode(digest), forKey: .digest)
    }
}
