import Foundation
import GRDB
import ReplicaStore
import SyncCore

/// W10: `search` over a list (100 000 articles at full size), against a scan
/// of the same list with `LIKE` (what a search costs without the index), and
/// the bytes the index adds per article against the bytes of the rest of the replica.
///
/// The list's words follow Zipf's law over a vocabulary of 30 000 words (as
/// a language's do), so that a query's words match as many articles as real
/// words would: ArticleGenerator's hundred words would put every word in a
/// third of the list. Queries are one or two words drawn from the whole
/// vocabulary but its 50 most common words (those are measured apart: the
/// worst case, a word in most articles).
enum SearchBenchmark {
    static func run(articles count: Int, folder: WorkFolder, report: Report) throws {
        var words = Vocabulary(seed: 8)
        let path = folder.file("search-\(count).sqlite")
        let store = try ReplicaStore.open(path: path)
        var withContent = 0
        let build = try seconds {
            var index = 0
            while index < count {
                let batch = (index..<min(count, index + 5000)).map { i -> SaveRequest in
                    let tags = (0..<words.int(0...3)).map { _ in ArticleGenerator.tags[words.int(0...(ArticleGenerator.tags.count - 1))] }
                    var request = SaveRequest(
                        url: "https://\(ArticleGenerator.hosts[i % ArticleGenerator.hosts.count])/\(i)/\(words.text(3...5).replacingOccurrences(of: " ", with: "-"))",
                        title: words.text(6...12).capitalizedFirst, tags: Array(Set(tags)).sorted(), excerpt: words.text(25...45) + ".")
                    if i % 10 == 0 { request.note = words.text(5...15) }
                    if i % 20 == 0 {
                        // A page's text, as `add --content-file` or an import gives it: paragraphs of sentences.
                        request.content = (0..<words.int(4...8)).map { _ in
                            (0..<words.int(3...5)).map { _ in words.text(8...16).capitalizedFirst + "." }.joined(separator: " ")
                        }.joined(separator: "\n\n")
                        withContent += 1
                    }
                    return request
                }
                try store.save(batch)
                index += batch.count
            }
        }.1
        let queries = (0..<300).map { n in (0..<(n % 5 < 3 ? 1 : 2)).map { _ in words.word(rank: words.int(50...(Vocabulary.size - 1))) }.joined(separator: " ") }
        let common = (0..<50).map { _ in words.word(rank: words.int(0...49)) }
        for query in queries.prefix(20) { _ = try store.search(query) }
        var found = 0
        let times = try queries.map { query in
            let (hits, time) = try seconds { try store.search(query, limit: 20) }
            found += hits.count
            return time * 1000
        }
        let commonTimes = try common.map { query in try seconds { try store.search(query, limit: 20) }.1 * 1000 }
        try store.close()

        // The baseline and the sizes, read on the same file by a plain connection.
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        func likeScan(_ query: String) throws -> Double {
            // Every word in the title, excerpt, note, tags or content (the article's JSON holds them all).
            let words = query.split(separator: " ")
            let sql = "SELECT id FROM article WHERE visible = 1" + String(repeating: " AND json LIKE ?", count: words.count) + " LIMIT 20"
            return try seconds { try queue.read { db in try String.fetchAll(db, sql: sql, arguments: StatementArguments(words.map { "%\($0)%" })) } }.1 * 1000
        }
        let scanTimes = try queries.prefix(40).map(likeScan)
        let commonScanTimes = try common.prefix(20).map(likeScan)
        let (indexBytes, otherBytes) = try queue.read { db -> (Int, Int) in
            let index = try Int.fetchOne(db, sql: """
                SELECT sum(pgsize) FROM dbstat WHERE name = 'article_text' OR name LIKE 'article_search%' OR name LIKE 'sqlite_autoindex_article_text%'
                """) ?? 0
            let all = try Int.fetchOne(db, sql: "SELECT sum(pgsize) FROM dbstat") ?? 0
            return (index, all - index)
        }
        let detail = [
            "articles": "\(count)", "with_content": "\(withContent)", "queries": "\(queries.count)", "build_seconds": String(format: "%.1f", build),
            "mean_hits": String(format: "%.1f", Double(found) / Double(queries.count)),
        ]
        report.add(Measurement(
            id: "W10", name: "search, p50 of \(queries.count) queries of 1-2 words over \(count) articles", value: percentile(times, 0.5), unit: "ms",
            baseline: percentile(scanTimes, 0.5), baselineName: "ms LIKE scan", higherIsBetter: false,
            target: count == 100_000 ? 10 : nil, targetText: count == 100_000 ? "<= 10 ms" : "(10 ms at 100k)",
            detail: detail.merging(["p95_ms": String(format: "%.2f", percentile(times, 0.95)), "p99_ms": String(format: "%.2f", percentile(times, 0.99))]) { $1 }))
        report.add(Measurement(
            id: "W10", name: "search, p50 of one of the 50 most common words over \(count) articles", value: percentile(commonTimes, 0.5), unit: "ms",
            baseline: percentile(commonScanTimes, 0.5), baselineName: "ms LIKE scan", higherIsBetter: false, targetText: "-",
            detail: ["articles": "\(count)", "p95_ms": String(format: "%.2f", percentile(commonTimes, 0.95))]))
        report.add(Measurement(
            id: "W10", name: "bytes the search index adds per article (text and FTS5 index)", value: Double(indexBytes) / Double(count), unit: "bytes",
            baseline: Double(otherBytes) / Double(count), baselineName: "bytes the rest of the replica", higherIsBetter: false, targetText: "-",
            detail: ["articles": "\(count)", "with_content": "\(withContent)"]))
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
    }

    /// Pronounceable words of 2 to 4 syllables, drawn by Zipf's law (rank r with weight 1/(r+1)).
    struct Vocabulary {
        static let size = 30_000
        var random: SplitMix64
        let words: [String]
        let cumulative: [Double]

        init(seed: UInt64) {
            random = SplitMix64(seed: seed)
            let onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "st", "tr", "pl", "gr", "ch", "sh", "th"]
            let vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
            var seen = Set<String>()
            var words: [String] = []
            var generator = SplitMix64(seed: seed ^ 0x5EED)
            while words.count < Self.size {
                let syllables = 2 + Int(generator.next() % 3)
                let word = (0..<syllables).map { _ in onsets[Int(generator.next() % UInt64(onsets.count))] + vowels[Int(generator.next() % UInt64(vowels.count))] }.joined()
                if seen.insert(word).inserted { words.append(word) }
            }
            self.words = words
            var total = 0.0
            cumulative = (0..<Self.size).map { rank in
                total += 1 / Double(rank + 1)
                return total
            }
        }

        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }

        func word(rank: Int) -> String { words[rank] }

        /// A word drawn by frequency.
        mutating func next() -> String {
            let target = Double(random.next() % 1_000_000_000) / 1_000_000_000 * cumulative[cumulative.count - 1]
            var low = 0
            var high = cumulative.count - 1
            while low < high {
                let mid = (low + high) / 2
                if cumulative[mid] < target { low = mid + 1 } else { high = mid }
            }
            return words[low]
        }

        mutating func text(_ count: ClosedRange<Int>) -> String { (0..<int(count)).map { _ in next() }.joined(separator: " ") }
    }
}

extension String {
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
