/// The 64-bit FNV-1a hash, for the digests that are stored or compared
/// between replicas and processes (a change's digest, the search index's
/// digest of an article's text, a seeded identity): Swift's `Hasher` is
/// seeded per process, so it cannot serve them.
///
/// Texts are hashed as their UTF-8 bytes; ``separate()`` adds 0xff, a byte
/// no UTF-8 text holds, so that `("ab", "c")` and `("a", "bc")` differ.
package struct FNV1a: Sendable {
    @usableFromInline static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    @usableFromInline static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of everything added so far.
    package private(set) var value: UInt64

    @inlinable package init() { value = Self.offsetBasis }

    @inlinable package mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* Self.prime
    }

    @inlinable package mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
    }

    /// Adds `number` in decimal, digit by digit, without building its text.
    @inlinable package mutating func addDecimal(_ number: UInt64) {
        if number >= 10 { addDecimal(number / 10) }
        add(UInt8(truncatingIfNeeded: 48 + number % 10))
    }

    /// Adds the separator 0xff.
    @inlinable package mutating func separate() { add(0xff) }
}
