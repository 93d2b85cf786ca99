import Foundation
import GRDB
import ReadableText
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
        var builtApart = 0
        for round in 0..<repetitions {
            // Each round starts with the disk caught up: the files of the
            // round before (hundreds of MB) are gone, none left to write back meanwhile.
            settleDisk()
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
                    builtApart = store.importBatchesBuiltApart.withLock { $0 }
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
            removeDatabase(replica)
            removeDatabase(folder.file("w9-raw-\(round).sqlite"))
        }
        report.add(Measurement(
            id: "W9", name: "import of a \(rows)-row Pocket CSV (end to end, into a new replica)", value: median(ours), unit: "s",
            baseline: median(baseline), baselineName: "s raw INSERT of the same rows", higherIsBetter: false,
            target: rows == 100_000 ? 5 : nil, targetText: rows == 100_000 ? "<= 5 s" : "(5 s at 100k)",
            detail: [
                "rows": "\(rows)", "csv_bytes": "\(csv.utf8.count)", "repetitions": "\(repetitions)",
                "rows_per_second": String(format: "%.0f", Double(rows) / median(ours)),
                "read_merge_seconds": String(format: "%.3f", median(reading)), "write_seconds": String(format: "%.3f", median(writing)),
                "batches_built_apart": "\(builtApart)",
            ]))
    }
}

/// W9c: `readinglist import` of a Wallabag JSON export whose entries carry
/// their page as HTML (navigation, share and subscribe prompts around the
/// story), end to end into a new replica: the import extracts each page's
/// readable text (to fill title, byline, excerpt, language and word count,
/// and to index the body for search). The baseline: the same pages through
/// `ReadableText.extract` one after the other on one core, plus raw inserts
/// of the same rows (URL, title, page) in one transaction, in the same run.
enum ContentImportBenchmark {
    /// A page of about 6 KB: a header with navigation, six to ten paragraphs,
    /// a share prompt and a footer; the story's words drawn from `generator`.
    static func page(_ generator: inout ArticleGenerator, title: String) -> String {
        var html = "<html><head><title>\(title) | Example News</title><meta property=\"og:site_name\" content=\"Example News\"></head><body>"
        html += "<nav><a href=\"/\">Home</a> <a href=\"/world\">World</a> <a href=\"/tech\">Tech</a> <a href=\"/subscribe\">Subscribe</a></nav>"
        html += "<article><h1>\(title)</h1><p class=\"byline\">By A. Reporter</p>"
        for _ in 0..<generator.int(6...10) {
            html += "<p>" + (0..<4).map { _ in generator.sentence(12...20).capitalizedFirst + "." }.joined(separator: " ") + "</p>"
        }
        html += "</article><aside class=\"share\">Share this story on social media. Sign up for our newsletter.</aside>"
        html += "<footer>Support independent journalism: donate today. © Example News</footer></body></html>"
        return html
    }

    static func run(entries: Int, repetitions: Int, folder: WorkFolder, report: Report) throws {
        var generator = ArticleGenerator(seed: 19)
        var items: [JSONValue] = []
        var rows: [(url: String, title: String, page: String)] = []
        for index in 0..<entries {
            let article = generator.article(index)
            let title = article.title ?? "Untitled \(index)"
            let html = page(&generator, title: title)
            rows.append((article.url, title, html))
            items.append(.object([
                "id": .number(Double(index + 1)), "url": .string(article.url), "title": .string(title), "content": .string(html),
                "is_archived": .number(Double(index % 3 == 0 ? 1 : 0)), "is_starred": .number(0), "mimetype": .string("text/html"),
                "created_at": .string("2021-03-0\(1 + index % 9)T10:00:00+0000"), "tags": .array(article.tags.map(JSONValue.string)),
            ]))
        }
        let json = JSONValue.array(items).canonicalText
        let path = folder.file("w9c-wallabag.json")
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        var ours: [Double] = [], extraction: [Double] = [], inserts: [Double] = []
        for round in 0..<repetitions {
            settleDisk()
            extraction.append(seconds { for row in rows { _ = ReadableText.extract(row.page) } }.1)
            let rawTable = try RawTable(path: folder.file("w9c-raw-\(round).sqlite"))
            inserts.append(try seconds {
                try rawTable.queue.write { db in
                    for row in rows {
                        try db.cachedStatement(sql: "INSERT INTO article (id, url, title, excerpt, tags, added_at) VALUES (?, ?, ?, ?, '', 0)")
                            .execute(arguments: [row.url, row.url, row.title, row.page])
                    }
                }
            }.1)
            try rawTable.queue.close()
            let replica = folder.file("w9c-replica-\(round).sqlite")
            let (imported, elapsed) = try seconds {
                let store = try ReplicaStore.open(path: replica)
                let report = try Importer.importFiles([path], into: store)
                try store.close()
                return report
            }
            ours.append(elapsed)
            guard imported.created == entries, imported.skipped.isEmpty else {
                throw BenchError("W9c: the import created \(imported.created) of \(entries) articles, skipped \(imported.skipped.count)")
            }
            removeDatabase(replica)
            removeDatabase(folder.file("w9c-raw-\(round).sqlite"))
        }
        let baseline = median(extraction) + median(inserts)
        report.add(Measurement(
            id: "W9c", name: "import of a \(entries)-entry Wallabag JSON with HTML pages (end to end, into a new replica)",
            value: median(ours), unit: "s",
            baseline: baseline, baselineName: "s extracting the pages on one core + raw INSERT of the same rows", higherIsBetter: false,
            detail: [
                "entries": "\(entries)", "json_bytes": "\(json.utf8.count)", "repetitions": "\(repetitions)",
                "extract_one_core_seconds": String(format: "%.3f", median(extraction)),
                "raw_insert_seconds": String(format: "%.3f", median(inserts)),
                "entries_per_second": String(format: "%.0f", Double(entries) / median(ours)),
            ]))
    }
}

extension String {
    /// The text with its first character upper-cased.
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// Removes a database file and its write-ahead log.
func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

/// Writes every dirty page to disk, so that a measurement does not share the
/// cores with the kernel writing back what the one before it wrote.
func settleDisk() { sync() }
