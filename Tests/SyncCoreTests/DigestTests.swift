import Foundation
import ReadingListModel
import SyncCore
import Testing

/// Digests are stored (own changes, replaced ranges) and compared between
/// replicas: the digit-by-digit hashing must give exactly what hashing the
/// parts' text gave.
@Suite("Change digests")
struct DigestTests {
    /// The digest as first written: every part as text, FNV-1a, 0xff after each.
    static func reference(_ change: Change) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            hash ^= 0xff
            hash = hash &* 0x0000_0100_0000_01b3
        }
        mix(change.entity.type)
        mix(change.entity.id)
        mix(change.field)
        mix(change.value.canonicalText)
        for (replica, counter) in change.context.counters.sorted(by: { $0.key < $1.key }) { mix("\(replica.rawValue):\(counter)") }
        mix(String(change.hlc.rawValue))
        return hash
    }

    @Test func theDigestIsTheTextDigest() {
        var random = SplitMix64(seed: 42)
        let values: [JSONValue] = [.null, true, false, 0, 1, -2.5, 1e300, "", "naïve ✓ \"quoted\"", .object(["a": .array([1, 2]), "b": .null]), .array([.array([])])]
        let counters: [UInt64] = [0, 1, 9, 10, 99, 100, 12_345, UInt64(Int64.max), UInt64.max]
        for index in 0..<2_000 {
            var context = VersionVector()
            for _ in 0..<Int(random.next() % 4) {
                context[r(Int(random.next() % 6) + 1)] = counters[Int(random.next() % UInt64(counters.count))]
            }
            let change = Change(
                dot: Dot(r(1), UInt64(index) + 1), entity: index % 3 == 0 ? .highlight("h\(index)") : .article(ArticleID(url: try! NormalizedURL("https://example.com/\(index)"))),
                field: index % 2 == 0 ? Fields.title : "tag:ü\(index)", value: values[index % values.count], context: context,
                hlc: HLC(rawValue: index % 5 == 0 ? 0 : counters[Int(random.next() % UInt64(counters.count))] &+ UInt64(index)))
            #expect(change.digest == Self.reference(change), "\(change)")
        }
    }
}
