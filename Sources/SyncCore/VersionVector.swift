/// `replica -> highest counter seen`: a summary of every change a replica has
/// applied. It *covers* dot `(r, n)` when `self[r] >= n`.
public struct VersionVector: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Only non-zero counters are stored, so equal knowledge is equal values.
    public private(set) var counters: [ReplicaID: UInt64]

    public init() { counters = [:] }

    public init(_ counters: [ReplicaID: UInt64]) {
        self.counters = counters.filter { $0.value > 0 }
    }

    public subscript(replica: ReplicaID) -> UInt64 {
        get { counters[replica] ?? 0 }
        set { counters[replica] = newValue == 0 ? nil : newValue }
    }

    public var isEmpty: Bool { counters.isEmpty }

    /// True when this vector has seen `dot`.
    public func covers(_ dot: Dot) -> Bool { self[dot.replica] >= dot.counter }

    /// True when this vector has seen everything `other` has.
    public func includes(_ other: VersionVector) -> Bool {
        other.counters.allSatisfy { self[$0.key] >= $0.value }
    }

    /// The pointwise maximum: knowledge of both.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        result.merge(other)
        return result
    }

    public mutating func merge(_ other: VersionVector) {
        for (replica, counter) in other.counters where counter > self[replica] { counters[replica] = counter }
    }

    /// The sum of all counters: how many changes this vector summarises.
    public var total: UInt64 { counters.values.reduce(0, +) }

    public var description: String {
        "[" + counters.sorted { $0.key < $1.key }.map { "\($0.key.short):\($0.value)" }.joined(separator: ", ") + "]"
    }

    /// The compact text form stores use: `replica:counter,replica:counter`, sorted by replica.
    public var compactText: String {
        counters.sorted { $0.key < $1.key }.map { "\($0.key.rawValue):\($0.value)" }.joined(separator: ",")
    }

    /// Reads ``compactText``; nil when the text is not one.
    public init?(compactText text: String) {
        var counters: [ReplicaID: UInt64] = [:]
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let id = ReplicaID(String(pieces[0])), let counter = UInt64(pieces[1]) else { return nil }
            counters[id] = counter
        }
        self.init(counters)
    }

    /// Checks the representation: no zero counters.
    public func checkInvariants() {
        precondition(counters.values.allSatisfy { $0 > 0 }, "a version vector stores no zero counter")
    }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: UInt64].self)
        var counters: [ReplicaID: UInt64] = [:]
        for (key, value) in raw {
            guard let replica = ReplicaID(key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "version vector key '\(key)' is not a replica id"))
            }
            guard value <= Dot.maxCounter else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "version vector counter \(value) is above 2^53-1"))
            }
            counters[replica] = value
        }
        self.init(counters)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: counters.map { ($0.key.rawValue, $0.value) }))
    }
}
