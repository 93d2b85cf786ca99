import ReadingListModel
@testable import SyncCore

/// Replica ids that sort in a known order: r(1) < r(2) < ...
func r(_ n: Int) -> ReplicaID { ReplicaID(String(repeating: "0", count: 31) + String(n, radix: 16))! }

let article = EntityRef.article(ArticleID(url: try! NormalizedURL("https://example.com/a")))

/// A write by replica `by` with counter `n`, having seen `seen`.
func write(_ by: Int, _ n: UInt64, value: JSONValue, seen: [Int: UInt64] = [:], hlc: UInt64 = 0) -> Change {
    write(by, n, Fields.title, value, seen: seen, hlc: hlc)
}

func write(
    _ by: Int, _ n: UInt64, _ field: String, _ value: JSONValue, seen: [Int: UInt64] = [:], hlc: UInt64 = 0,
    entity: EntityRef = article
) -> Change {
    var context = VersionVector(Dictionary(uniqueKeysWithValues: seen.map { (r($0.key), $0.value) }))
    context[r(by)] = n - 1
    return Change(dot: Dot(r(by), n), entity: entity, field: field, value: value, context: context, hlc: HLC(rawValue: hlc == 0 ? n : hlc))
}
