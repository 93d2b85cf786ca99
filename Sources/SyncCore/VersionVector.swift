/// `replica -> highest counter seen`: a summary of every change a replica has
/// applied. It *covers* dot `(r, n)` when `self[r] >= n`.
public struct VersionVector: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Only non-zero counters are stored, so equal knowledge is equal values.
    public private(set) var counters: [ReplicaID: UInt64]

    package init() { counters = [:] }

    package init(_ counters: [ReplicaID: UInt64]) {
        self.counters = counters.filter { $0.value > 0 }
    }

    /// The highest counter of `replica` this vector covers (0 when none).
    public subscript(replica: ReplicaID) -> UInt64 {
        get { counters[replica] ?? 0 }
        set { counters[replica] = newValue == 0 ? nil : newValue }
    }

    /// Whether the vector covers no change at all.
    public var isEmpty: Bool { counters.isEmpty }

    /// True when this vector has seen `dot`.
    package func covers(_ dot: Dot) -> Bool { self[dot.replica] >= dot.counter }

    /// True when this vector has seen everything `other` has.
    package func includes(_ other: VersionVector) -> Bool {
        other.counters.allSatisfy { self[$0.key] >= $0.value }
    }

    /// The pointwise maximum: knowledge of both.
    package func merged(with other: VersionVector) -> VersionVector {
        var result = self
        result.merge(other)
        return result
    }

    package mutating func merge(_ other: VersionVector) {
        for (replica, counter) in other.counters where counter > self[replica] { counters[replica] = counter }
    }

    /// The sum of all counters: how many changes this vector summarises.
    public var total: UInt64 { counters.values.reduce(0, +) }

    /// The counters by replica, for a person (`{short:counter, ...}`).
    public var description: String {
        "[" + counters.sorted { $0.key < $1.key }.map { "\($0.key.short):\($0.value)" }.joined(separator: ", ") + "]"
    }

    /// The compact text form stores use: `replica:counter,replica:counter`, sorted by replica.
    public var compactText: String {
        counters.sorted { $0.key < $1.key }.map { "\($0.key.rawValue):\($0.value)" }.joined(separator: ",")
    }

    /// Reads ``compactText``; nil when the text is not one. (Byte by byte: every
    /// stored change has a context in this form, and the server reads one per
    /// change it sends.)
    package init?(compactText text: String) {
        var text = text
        guard let counters = text.withUTF8({ Self.parseCompact($0) }) else { return nil }
        self.init(counters)
    }

    private static func parseCompact(_ bytes: UnsafeBufferPointer<UInt8>) -> [ReplicaID: UInt64]? {
        var counters: [ReplicaID: UInt64] = [:]
        var index = 0
        while index < bytes.count {
            // 32 lowercase hex digits, ':', a decimal counter, then ',' or the end.
            guard index + 34 <= bytes.count, bytes[index + 32] == UInt8(ascii: ":") else { return nil }
            for byte in bytes[index..<(index + 32)] {
                guard (48...57).contains(byte) || (97...102).contains(byte) else { return nil }
            }
            let id = ReplicaID(unchecked: String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<(index + 32)]), as: UTF8.self))
            index += 33
            var counter: UInt64 = 0
            let digitsStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") {
                let digit = bytes[index] &- 48
                guard digit < 10 else { return nil }
                let (times10, overflowA) = counter.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times10.addingReportingOverflow(UInt64(digit))
                guard !overflowA, !overflowB else { return nil }
                counter = sum
                index += 1
            }
            guard index > digitsStart else { return nil }
            counters[id] = counter
            if index < bytes.count {
                index += 1  // the comma
                guard index < bytes.count else { return nil }  // a trailing comma
            }
        }
        return counters
    }

    /// Checks the representation: no zero counters.
    package func checkInvariants() {
        precondition(counters.values.allSatisfy { $0 > 0 }, "a version vector stores no zero counter")
    }

    /// Decodes a vector as the sync protocol writes it (an object of counters by replica id).
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

    /// Encodes the vector as the sync protocol writes it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: counters.map { ($0.key.rawValue, $0.value) }))
    }
}
