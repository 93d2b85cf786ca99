import Foundation
import GRDB
import ReadingListImport
import ReadingListModel
import ReplicaStore
import SyncCore

/// W9: `readinglist import` of a Pocket CSV export, end to end (read the
/// file, parse, merge rows, save in batches into a new replica file, close),
/// beside raw SQLite inserts of the same rows (already parsed) into one plain
/// table in one transaction, in the same run.
enum ImportBenchmark {
    /// A Pocket CSV (variant A) of `rows` rows drawn reproducibly: ArticleGenerator's
    /// titles and URLs, unix-second times, `|`-separated tags, a third archived;
    /// a title in ten quoted with a comma, as real exports have.
    static func pocketCSV(rows: Int) -> (csv: String, raw: [RawRow]) {
        var generator = ArticleGenerator(seed: 9)
        var csv = "title,url,time_added,tags,status\n"
        csv.reserveCapacity(rows * 140)
        var raw: [RawRow] = []
        raw.reserveCapacity(rows)
        for index in 0..<rows {
            let article = generator.article(index)
            let added = 1_600_000_000 + index * 37
            var title = article.title ?? ""
            if index % 10 == 0 { title = "\"\(title), and more\"" }
            csv += "\(title),\(article.url),\(added),\(article.tags.joined(separator: "|")),\(index % 3 == 0 ? "archive" : "unread")\n"
            var row = try! RawRow(article)
            row.excerpt = nil
            row.addedAt = Int64(added) * 1000
            raw.append(row)
        }
        return (csv, raw)
    }

    static func run(rows: Int, repetitions: Int, folder: WorkFolder, report: Report) throws {
        let (csv, raw) = pocketCSV(rows: rows)
        let path = folder.file("w9-pocket.csv")
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        var ours: [Double] = [], baseline: [Double] = [], reading: [Double] = [], writing: [Double] = []
        for round in 0..<repetitions {
            let rawTable = try RawTable(path: folder.file("w9-raw-\(round).sqlite"))
            baseline.append(try seconds { try rawTable.queue.write { db in for row in raw { try RawTable.insert(row, db) } } }.1)
            try rawTable.queue.close()
            let replica = folder.file("w9-replica-\(round).sqlite")
            // `Importer.importFiles` is `read` then `write`: called apart here
            // to report the two steps (reading and merging the file; writing
            // the batches, opening and closing the replica included).
            let (imported, elapsed) = try seconds {
                let (plan, read) = try seconds { try Importer.read([path]) }
                let (report, written) = try seconds {
                    let store = try ReplicaStore.open(path: replica)
                    let report = try Importer.write(plan, into: store)
                    try store.close()
                    return report
                }
                reading.append(read)
                writing.append(written)
                return report
            }
            ours.append(elapsed)
            guard imported.created == rows, imported.skipped.isEmpty else {
                throw BenchError("W9: the import created \(imported.created) of \(rows) articles, skipped \(imported.skipped.count)")
            }
            if round == 0 {
                // Importing the same file again writes nothing (idempotence), and says so quickly.
                let store = try ReplicaStore.open(path: replica)
                let again = try Importer.importFiles([path], into: store)
                try store.close()
                guard again.unchanged == rows else { throw BenchError("W9: a second import changed \(rows - again.unchanged) articles") }
            }
        }
        report.add(Measurement(
            id: "W9", name: "import of a \(rows)-row Pocket CSV (end to end, into a new replica)", value: median(ours), unit: "s",
            baseline: median(baseline), baselineName: "s raw INSERT of the same rows", higherIsBetter: false,
            target: rows == 100_000 ? 5 : nil, targetText: rows == 100_000 ? "<= 5 s" : "(5 s at 100k)",
            detail: [
                "rows": "\(rows)", "csv_bytes": "\(csv.utf8.count)", "repetitions": "\(repetitions)",
                "rows_per_second": String(format: "%.0f", Double(rows) / median(ours)),
                "read_merge_seconds": String(format: "%.3f", median(reading)), "write_seconds": String(format: "%.3f", median(writing)),
            ]))
    }
}
