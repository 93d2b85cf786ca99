/// The identity of one replica (a database file): 128 random bits, written as
/// 32 lowercase hexadecimal digits. Created once, never reused.
public struct ReplicaID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The id's text: 32 lowercase hexadecimal digits.
    public let rawValue: String

    /// Validates `rawValue` (32 lowercase hex digits).
    public init?(_ rawValue: String) {
        guard rawValue.utf8.count == 32, rawValue.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.rawValue = rawValue
    }

    /// A fresh identity drawn from `generator` (injected, so simulations are reproducible).
    package static func random<G: RandomNumberGenerator>(using generator: inout G) -> ReplicaID {
        let high = UInt64.random(in: .min ... .max, using: &generator)
        let low = UInt64.random(in: .min ... .max, using: &generator)
        return ReplicaID(unchecked: hex16(high) + hex16(low))
    }

    package init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// The id's text (``rawValue``).
    public var description: String { rawValue }
    /// The first 8 digits, enough to tell replicas apart in messages.
    public var short: String { String(rawValue.prefix(8)) }

    /// Orders ids by their text.
    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Decodes an id from its text, refusing one that is not a replica id.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ReplicaID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "replica id '\(text)' is not 32 lowercase hex digits")
        }
        self = id
    }

    /// Encodes the id as its text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

package func hex16(_ value: UInt64) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: 16 - text.count) + text
}
