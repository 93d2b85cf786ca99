import Foundation
import GRDB
import ReadingListModel
import SyncCore

extension ReplicaStore {
    /// Checks the store's representation and returns every violation found
    /// (empty when sound). Tests call it after every operation.
    ///
    /// - no live write replaces another live write of its field;
    /// - for every replica, the live dots and the replaced ranges cover
    ///   exactly `1...knowledge[replica]`, without overlap (no gap, no dot seen twice);
    /// - adjacent replaced ranges are merged;
    /// - every change made here that is no longer live has its digest kept
    ///   (fork detection), and no digest is kept beyond this replica's knowledge;
    /// - the materialised articles equal what the live writes say.
    public func checkInvariants() throws(StoreError) -> [String] {
        let materializes = materializes
        let me = replicaID
        return try read { db in
            var problems: [String] = []
            let knowledge = try LogTransaction.readKnowledge(db)
            let live = try LogTransaction.decodeChanges(Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns) FROM change_log"))
            // A run row holds two or more changes of one replica in ascending
            // counter order, starting at its counter column; no delete is in one.
            for row in try Row.fetchAll(db, sql: "SELECT \(LogTransaction.columns), seq FROM change_log WHERE field IS NULL") {
                let changes = try LogTransaction.decodeRow(row)
                let seq: Int64 = row[LogColumn.seq]
                if changes.count < 2 { problems.append("run row \(seq) holds \(changes.count) change(s)") }
                if changes.first?.dot.counter != UInt64(row[LogColumn.counter] as Int64) { problems.append("run row \(seq) does not start at its counter") }
                if zip(changes, changes.dropFirst()).contains(where: { $0.dot.counter >= $1.dot.counter }) {
                    problems.append("run row \(seq) is not in counter order")
                }
                if changes.contains(where: { $0.field == Fields.deleted && $0.value == true }) { problems.append("run row \(seq) holds a delete") }
            }
            var byField: [String: [Change]] = [:]
            for change in live { byField["\(change.entity.type)|\(change.entity.id)|\(change.field)", default: []].append(change) }
            for (key, siblings) in byField {
                for a in siblings { for b in siblings where a.dot != b.dot && a.replaces(b) {
                    problems.append("\(key): live \(a.dot) replaces live \(b.dot)")
                } }
            }
            var covered: [ReplicaID: [(UInt64, UInt64)]] = [:]
            for change in live { covered[change.dot.replica, default: []].append((change.dot.counter, change.dot.counter)) }
            for range in try StoredReplacedRange.fetchAll(db, sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range") {
                guard let replica = ReplicaID(range.replica) else { problems.append("bad replica id in replaced_range"); continue }
                covered[replica, default: []].append((range.from, range.to))
            }
            for replica in Set(covered.keys).union(knowledge.counters.keys) {
                let spans = (covered[replica] ?? []).sorted { $0.0 < $1.0 }
                var next: UInt64 = 1
                for (from, to) in spans {
                    if from != next { problems.append("replica \(replica.short): expected dot \(next), found \(from)...\(to)") }
                    next = to + 1
                }
                if next - 1 != knowledge[replica] {
                    problems.append("replica \(replica.short): dots cover 1...\(next - 1) but knowledge says \(knowledge[replica])")
                }
            }
            let adjacent = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM replaced_range a JOIN replaced_range b ON a.replica = b.replica AND b.from_counter = a.to_counter + 1
                """) ?? 0
            if adjacent > 0 { problems.append("\(adjacent) pairs of adjacent replaced ranges were not merged") }

            let ownLive = Set(live.lazy.filter { $0.dot.replica == me }.map(\.dot.counter))
            let kept = Set(try Int64.fetchAll(db, sql: "SELECT counter FROM own_digest").map { UInt64(bitPattern: $0) })
            if let beyond = kept.first(where: { $0 > knowledge[me] }) {
                problems.append("a digest is kept for own change \(beyond), beyond knowledge \(knowledge[me])")
            }
            if knowledge[me] > 0 {
                let lost = (1...knowledge[me]).lazy.filter { !ownLive.contains($0) && !kept.contains($0) }
                if let first = lost.first { problems.append("own change \(first) was replaced without keeping its digest") }
            }

            guard materializes else { return problems }
            var expected: [String: (Article, Bool)] = [:]
            for id in Set(live.compactMap(\.entity.articleID)) {
                if let result = ArticleMaterializer.materialize(id: id, changes: live.filter { $0.entity.articleID == id }) {
                    expected[id.rawValue] = result
                }
            }
            let rows = try MaterializedRow.fetchAll(db, sql: "SELECT id, visible, json FROM article")
            if rows.count != expected.count { problems.append("\(rows.count) materialised articles, \(expected.count) expected") }
            for row in rows {
                let id = row.id
                guard let (article, visible) = expected[id] else { problems.append("materialised article \(id) has no live writes"); continue }
                let stored = try JSONDecoder().decode(Article.self, from: Data(row.json.utf8))
                if stored != article || row.visible != visible { problems.append("materialised article \(id) is stale") }
            }
            // The tag index holds the tags of the visible articles, no more (byte for
            // byte: SQLite compares bytes, where Swift's strings compare canonically).
            func key(_ id: String, _ tag: String) -> [UInt8] { Array(id.utf8) + [32] + Array(tag.utf8) }
            var tagRows = Set<[UInt8]>()
            for row in try TagRow.fetchAll(db, sql: "SELECT article_id, tag FROM article_tag") { tagRows.insert(key(row.articleID, row.tag)) }
            let tagsExpected = Set(expected.flatMap { id, result in result.1 ? result.0.tags.map { key(id, $0) } : [] })
            if tagRows != tagsExpected {
                func shown(_ keys: Set<[UInt8]>) -> [String] { Array(keys.map { String(decoding: $0, as: UTF8.self) }.sorted().prefix(3)) }
                problems.append("article_tag holds \(shown(tagRows.subtracting(tagsExpected))) it should not and lacks \(shown(tagsExpected.subtracting(tagRows)))")
            }
            return problems
        }
    }
}

/// An `article` row as the invariant check compares it.
private struct MaterializedRow: FetchableRecord {
    enum Columns {
        static let id = Column("id")
        static let visible = Column("visible")
        static let json = Column("json")
    }

    var id: String
    var visible: Bool
    var json: String

    init(row: Row) {
        id = row[Columns.id]
        visible = row[Columns.visible]
        json = row[Columns.json]
    }
}

/// An `article_tag` row.
private struct TagRow: FetchableRecord {
    enum Columns {
        static let articleID = Column("article_id")
        static let tag = Column("tag")
    }

    var articleID: String
    var tag: String

    init(row: Row) {
        articleID = row[Columns.articleID]
        tag = row[Columns.tag]
    }
}
