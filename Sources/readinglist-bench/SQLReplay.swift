import Foundation
import GRDB
import ReadingListModel
import ReplicaStore
import SyncCore
import Synchronization

/// The SQL a replica ran for a workload, recorded statement by statement and
/// replayed into a copy of the file it started from, without the engine: the
/// same statements, arguments and transactions, on the same schema, through
/// the same library, each statement prepared once and reused as the engine
/// does. What the replay costs is what this schema's pages and B-trees cost;
/// what the engine costs beyond it is its own work (merging, materialising,
/// encoding). W1 reports it beside the raw table.
struct SQLRecording {
    struct Statement {
        var template: Int
        var arguments: StatementArguments
    }

    private(set) var templates: [String] = []
    private var templateIndex: [String: Int] = [:]
    /// The statements of each phase, in the order the replica ran them.
    private(set) var phases: [String: [Statement]] = [:]

    /// Runs `body` on `store` and records, as phase `name`, every statement it runs.
    mutating func record(_ name: String, _ store: ReplicaStore, _ body: () throws -> Void) throws {
        let lines = Mutex<[String]>([])
        store.traceStatements { sql in lines.withLock { $0.append(sql) } }
        defer { store.traceStatements(nil) }
        try body()
        store.traceStatements(nil)
        var statements: [Statement] = []
        for sql in lines.withLock({ $0 }) {
            let (template, arguments) = try SQLTemplate.parameterize(sql)
            let index: Int
            if let known = templateIndex[template] {
                index = known
            } else {
                index = templates.count
                templates.append(template)
                templateIndex[template] = index
            }
            statements.append(Statement(template: index, arguments: StatementArguments(arguments)))
        }
        phases[name] = statements
    }

    func count(_ phase: String) -> Int { phases[phase]?.count ?? 0 }

    /// Replays phase `name` on `db` (outside any transaction: the recording holds the engine's own `BEGIN` and `COMMIT`).
    func replay(_ name: String, _ db: Database, skipping skips: ((String) -> Bool)? = nil) throws {
        guard let statements = phases[name] else { throw BenchError("no recorded phase \(name)") }
        let skipped = skips.map { skips in templates.map(skips) }
        for statement in statements where skipped?[statement.template] != true {
            try db.cachedStatement(sql: templates[statement.template]).execute(arguments: statement.arguments)
        }
    }

    /// A replay target: the database a recorded replica started from, opened
    /// with a replica's settings (WAL, `synchronous = FULL`, the page cache
    /// `ReplicaStore.open` sets).
    static func target(copying source: String, to path: String, cacheMiB: Int = 32) throws -> DatabaseQueue {
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
            if suffix != "-shm" && FileManager.default.fileExists(atPath: source + suffix) {
                try FileManager.default.copyItem(atPath: source + suffix, toPath: path + suffix)
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(cacheMiB * 1024)") }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        return queue
    }
}

/// Turns SQL as SQLite expands it (`sqlite3_expanded_sql`: every bound
/// argument written in as a literal) back into a statement with parameters
/// and its arguments, so that a replay prepares each distinct statement once.
enum SQLTemplate {
    static func parameterize(_ sql: String) throws -> (String, [DatabaseValue]) {
        let bytes = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var arguments: [DatabaseValue] = []
        var index = 0
        func isWordByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x5F || byte == 0x24 || byte >= 0x80
        }
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        let quote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\"")
        while index < bytes.count {
            let byte = bytes[index]
            let previousIsWord = index > 0 && (isWordByte(bytes[index - 1]) || bytes[index - 1] == UInt8(ascii: "."))
            if byte == quote {
                // A string literal; '' is a quote inside it.
                var text: [UInt8] = []
                index += 1
                while true {
                    guard index < bytes.count else { throw BenchError("unterminated string in recorded SQL: \(sql.prefix(80))") }
                    if bytes[index] == quote {
                        if index + 1 < bytes.count && bytes[index + 1] == quote {
                            text.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    text.append(bytes[index])
                    index += 1
                }
                arguments.append(String(decoding: text, as: UTF8.self).databaseValue)
                out.append(UInt8(ascii: "?"))
            } else if (byte | 0x20) == UInt8(ascii: "x"), !previousIsWord, index + 1 < bytes.count, bytes[index + 1] == quote {
                // A blob literal, x'hex'.
                var end = index + 2
                while end < bytes.count && bytes[end] != quote { end += 1 }
                guard end < bytes.count else { throw BenchError("unterminated blob in recorded SQL: \(sql.prefix(80))") }
                let hex = Array(bytes[(index + 2)..<end])
                var blob: [UInt8] = []
                var position = 0
                while position + 1 < hex.count {
                    guard let value = UInt8(String(decoding: hex[position...(position + 1)], as: UTF8.self), radix: 16) else {
                        throw BenchError("bad blob in recorded SQL: \(sql.prefix(80))")
                    }
                    blob.append(value)
                    position += 2
                }
                arguments.append(Data(blob).databaseValue)
                out.append(UInt8(ascii: "?"))
                index = end + 1
            } else if isDigit(byte) && !previousIsWord {
                // A number: an integer, or a real with a point or an exponent.
                var end = index
                var isReal = false
                while end < bytes.count && isDigit(bytes[end]) { end += 1 }
                if end < bytes.count && bytes[end] == UInt8(ascii: ".") {
                    isReal = true
                    end += 1
                    while end < bytes.count && isDigit(bytes[end]) { end += 1 }
                }
                if end < bytes.count && (bytes[end] | 0x20) == UInt8(ascii: "e") {
                    var exponent = end + 1
                    if exponent < bytes.count && (bytes[exponent] == UInt8(ascii: "+") || bytes[exponent] == UInt8(ascii: "-")) { exponent += 1 }
                    if exponent < bytes.count && isDigit(bytes[exponent]) {
                        isReal = true
                        end = exponent
                        while end < bytes.count && isDigit(bytes[end]) { end += 1 }
                    }
                }
                let literal = String(decoding: bytes[index..<end], as: UTF8.self)
                if isReal, let value = Double(literal) {
                    arguments.append(value.databaseValue)
                    out.append(UInt8(ascii: "?"))
                } else if !isReal, let value = Int64(literal) {
                    arguments.append(value.databaseValue)
                    out.append(UInt8(ascii: "?"))
                } else {
                    // (-9223372036854775808 is written as - and a literal no Int64 holds: kept as written.)
                    out.append(contentsOf: bytes[index..<end])
                }
                index = end
            } else if byte == doubleQuote {
                // A quoted identifier, copied as written.
                var end = index + 1
                while end < bytes.count {
                    if bytes[end] == doubleQuote {
                        if end + 1 < bytes.count && bytes[end + 1] == doubleQuote { end += 2; continue }
                        break
                    }
                    end += 1
                }
                end = min(end + 1, bytes.count)
                out.append(contentsOf: bytes[index..<end])
                index = end
            } else if byte == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                // A comment to the end of the line.
                var end = index
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                out.append(contentsOf: bytes[index..<end])
                index = end
            } else {
                out.append(byte)
                index += 1
            }
        }
        return (String(decoding: out, as: UTF8.self), arguments)
    }
}

/// What each structure of the replica schema costs W1's writes: the recorded
/// SQL replayed as is, then without one structure at a time (an index dropped
/// from the copy, or the statements on a table left out). Not a measurement
/// with a target: the numbers say where a different schema would save time
/// (`readinglist-bench --schema-costs`, hidden).
enum SchemaCosts {
    struct Variant: Sendable {
        var name: String
        var setUp: [String] = []
        var skips: @Sendable (String) -> Bool = { _ in false }
    }

    static let variants: [Variant] = [
        Variant(name: "as recorded"),
        Variant(name: "no replica_meta write (knowledge, clock, sequence)", skips: { $0.hasPrefix("INSERT INTO replica_meta") }),
        Variant(name: "no change_log_dot index", setUp: ["DROP INDEX change_log_dot"]),
        Variant(name: "no change_log_article index", setUp: ["DROP INDEX change_log_article"]),
        Variant(name: "no article_listing index", setUp: ["DROP INDEX article_listing"]),
        Variant(name: "no article_tag_article index", setUp: ["DROP INDEX article_tag_article"]),
        Variant(name: "article as schema 4 had it: WITHOUT ROWID, keyed by id", setUp: [
            "DROP TABLE article",
            """
            CREATE TABLE article (id TEXT PRIMARY KEY NOT NULL, visible INTEGER NOT NULL, normalized_url TEXT NOT NULL, is_read INTEGER NOT NULL,
                is_archived INTEGER NOT NULL, is_favorite INTEGER NOT NULL, added_at INTEGER NOT NULL, conflict_count INTEGER NOT NULL,
                json TEXT NOT NULL) WITHOUT ROWID
            """,
            "CREATE INDEX article_listing ON article (visible, added_at)",
            "CREATE INDEX article_conflicts ON article (id) WHERE visible = 1 AND conflict_count > 0",
        ]),
        Variant(name: "no replaced_range and own_digest writes", skips: { $0.contains("INTO replaced_range") || $0.contains("INTO own_digest") || $0.hasPrefix("UPDATE replaced_range") || $0.hasPrefix("DELETE FROM replaced_range") }),
        Variant(name: "no materialised article (article, article_tag)", skips: { sql in
            ["INTO article ", "INTO article(", "UPDATE article ", "FROM article ", "article_tag"].contains { sql.contains($0) }
        }),
        Variant(name: "no change log (change_log, replaced_range, own_digest)", skips: { sql in
            ["change_log", "replaced_range", "own_digest"].contains { sql.contains($0) }
        }),
    ]

    static func run(perTransaction: Int, batch: Int, repetitions: Int, folder: WorkFolder) throws {
        var generator = ArticleGenerator(seed: 1)
        let singles = (0..<perTransaction).map { generator.article($0) }
        let bulk = (0..<batch).map { generator.article(perTransaction + $0) }
        let ids = try singles.map { try RawRow($0).id }
        var editRandom = SplitMix64(seed: 7)
        let edits = (0..<perTransaction).map { index in (Int(editRandom.next() % UInt64(perTransaction)), "Edited title \(index)") }
        let recordedPath = folder.file("schema-recorded.sqlite"), startPath = folder.file("schema-start.sqlite")
        try ReplicaStore.open(path: recordedPath).close()
        try FileManager.default.copyItem(atPath: recordedPath, toPath: startPath)
        var recording = SQLRecording()
        let store = try ReplicaStore.open(path: recordedPath)
        try recording.record("single", store) { for request in singles { try store.save(request) } }
        try recording.record("edit", store) { for (index, title) in edits { try store.edit(ids[index], [Fields.title: .string(title)]) } }
        try recording.record("batch", store) { try store.save(bulk) }
        try store.close()
        for phase in ["single", "edit", "batch"] {
            var counts: [Int: Int] = [:]
            for statement in recording.phases[phase] ?? [] { counts[statement.template, default: 0] += 1 }
            print("\(phase): \(recording.count(phase)) statements")
            for (template, count) in counts.sorted(by: { $0.value > $1.value }) {
                print(String(format: "  %6d  ", count) + recording.templates[template].replacingOccurrences(of: "\n", with: " ").prefix(150))
            }
        }
        // Pages written (WAL frames), counted once per variant with checkpoints off: unlike a time, a count does not vary.
        var frames: [String: [String: Int]] = [:]
        for variant in variants {
            let replay = try SQLRecording.target(copying: startPath, to: folder.file("schema-replay.sqlite"))
            try replay.writeWithoutTransaction { db in
                for sql in variant.setUp { try db.execute(sql: sql) }
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
                for phase in ["single", "edit", "batch"] {
                    _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                    try recording.replay(phase, db, skipping: variant.skips)
                    let counts = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
                    frames[variant.name, default: [:]][phase] = counts?[1] ?? -1
                }
            }
            try replay.close()
        }
        // The raw table's pages for the same work, counted the same way.
        var rawFrames: [String: Int] = [:]
        do {
            let rows = try singles.map(RawRow.init), bulkRows = try bulk.map(RawRow.init)
            let raw = try RawTable(path: folder.file("schema-raw.sqlite"))
            try raw.queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
            func count(_ phase: String, _ work: () throws -> Void) throws {
                try raw.queue.writeWithoutTransaction { db in _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                try work()
                rawFrames[phase] = try raw.queue.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")?[1] ?? -1 }
            }
            try count("single") { for row in rows { try raw.queue.write { try RawTable.insert(row, $0) } } }
            try count("edit") { for (index, title) in edits { try raw.queue.write { try RawTable.updateTitle(rows[index].id, title, $0) } } }
            try count("batch") { try raw.queue.write { db in for row in bulkRows { try RawTable.insert(row, db) } } }
            try raw.queue.close()
        }
        var times: [String: [String: [Double]]] = [:]
        for round in 0..<repetitions {
            for variant in variants {
                let replay = try SQLRecording.target(copying: startPath, to: folder.file("schema-replay.sqlite"))
                try replay.writeWithoutTransaction { db in for sql in variant.setUp { try db.execute(sql: sql) } }
                for phase in ["single", "edit", "batch"] {
                    let elapsed = try seconds { try replay.writeWithoutTransaction { try recording.replay(phase, $0, skipping: variant.skips) } }.1
                    times[variant.name, default: [:]][phase, default: []].append(elapsed)
                }
                try replay.close()
            }
            print("round \(round + 1) of \(repetitions) done")
        }
        print(String(
            format: "\nthe raw table's pages for the same work: %.2f / %.2f / %.2f",
            Double(rawFrames["single"]!) / Double(perTransaction), Double(rawFrames["edit"]!) / Double(perTransaction),
            Double(rawFrames["batch"]!) / Double(batch)))
        print("median µs per article or edit (per transaction / edit / in the batch), and against the recorded SQL:")
        let base = times[variants[0].name]!
        for variant in variants {
            let row = ["single", "edit", "batch"].map { phase -> String in
                let count = Double(phase == "batch" ? batch : perTransaction)
                let value = median(times[variant.name]![phase]!) / count * 1e6
                let reference = median(base[phase]!) / count * 1e6
                return String(format: "%7.1f (%+5.1f%%)", value, (value / reference - 1) * 100)
            }
            let pages = ["single", "edit", "batch"].map { phase -> String in
                let count = Double(phase == "batch" ? batch : perTransaction)
                return String(format: "%5.2f", Double(frames[variant.name]![phase]!) / count)
            }
            print(row.joined(separator: "  ") + "  pages " + pages.joined(separator: " / ") + "  " + variant.name)
        }
    }
}
