/// A hybrid logical clock timestamp: milliseconds since 1970 in the high 48
/// bits and a logical counter in the low 16. Used only to break ties between
/// concurrent writes and to show when something was edited.
package struct HLC: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    package let rawValue: UInt64

    package init(rawValue: UInt64) { self.rawValue = rawValue }

    package init(millis: Int64, logical: UInt16) {
        rawValue = UInt64(max(0, millis)) << 16 | UInt64(logical)
    }

    package var millis: Int64 { Int64(rawValue >> 16) }
    package var logical: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    package static let zero = HLC(rawValue: 0)

    /// Orders by time, then by the logical counter.
    package static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }
    /// `millis.logical`.
    package var description: String { "\(millis).\(logical)" }

    /// On the wire an HLC is a decimal string: 64-bit values do not survive JSON numbers in every language.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = UInt64(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "an hlc is a decimal string of a 64-bit unsigned integer, not '\(text.prefix(40))'")
        }
        rawValue = value
    }
    /// Encodes the clock reading as its 64-bit value in decimal text.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(rawValue))
    }
}

/// The clock a replica stamps its writes with. Time is passed in (no wall
/// clock is read here), so simulations can skew it.
package struct HybridClock: Sendable, Hashable {
    package private(set) var last: HLC
    /// How far ahead of the local wall clock a remote timestamp may pull this
    /// clock: a device whose clock is a year ahead must not drag every other
    /// device's timestamps a year into the future.
    package static let maximumPull: Int64 = 60_000

    package init(last: HLC = .zero) { self.last = last }

    /// A timestamp greater than every one this clock has issued or observed.
    package mutating func tick(now millis: Int64) -> HLC {
        if millis > last.millis {
            last = HLC(millis: millis, logical: 0)
        } else if last.logical == .max {
            last = HLC(millis: last.millis + 1, logical: 0)
        } else {
            last = HLC(millis: last.millis, logical: last.logical + 1)
        }
        return last
    }

    /// Takes a remote timestamp into account, at most `maximumPull` ahead of `now`.
    package mutating func observe(_ remote: HLC, now millis: Int64) {
        let bounded = min(remote, HLC(millis: millis + Self.maximumPull, logical: 0))
        if bounded > last { last = bounded }
    }
}
