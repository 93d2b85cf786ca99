import Foundation
import GRDB
import ReplicaStore
import Synchronization

/// The SQL a replica ran for a workload, recorded statement by statement (as
/// written, and with its arguments as SQLite expands them) and
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
        let lines = Mutex<[(String, String)]>([])
        store.traceStatements { sql, expanded in lines.withLock { $0.append((sql, expanded)) } }
        defer { store.traceStatements(nil) }
        try body()
        store.traceStatements(nil)
        var statements: [Statement] = []
        // Not what the replica ran but what ran inside it: a trigger's program
        // (traced as `-- TRIGGER name`) and FTS5's own statements on its
        // shadow tables; the replayed statements run the same triggers.
        for (template, expanded) in lines.withLock({ $0 }) where !template.hasPrefix("--") && !template.contains("article_search_") {
            let arguments = try SQLTemplate.arguments(template: template, expanded: expanded)
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

    /// A digest of a replica file's contents (articles, tags, log, replaced
    /// ranges, settings), each table in a stable order: a replay must leave
    /// what the recorded replica left, row for row.
    static func contentDigest(_ db: Database) throws -> Int {
        var hasher = Hasher()
        for sql in [
            "SELECT id, visible, normalized_url, is_read, is_archived, is_favorite, added_at, conflict_count, json FROM article ORDER BY id",
            "SELECT article_id, tag FROM article_tag ORDER BY tag, article_id",
            "SELECT seq, replica, counter, entity_type, entity_id, field, value, context, hlc, article_id FROM change_log ORDER BY seq",
            "SELECT replica, from_counter, to_counter, seq, digest FROM replaced_range ORDER BY replica, to_counter",
            "SELECT counter, digest FROM own_digest ORDER BY counter",
            "SELECT key, value FROM replica_meta ORDER BY key",
        ] {
            let rows = try Row.fetchCursor(db, sql: sql)
            var count = 0
            while let row = try rows.next() {
                for value in row.databaseValues { hasher.combine(value) }
                count += 1
            }
            hasher.combine(count)
        }
        return hasher.finalize()
    }

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

/// Reads back the arguments of a recorded statement: its SQL as written
/// (with `?` parameters) beside the same SQL as SQLite expands it
/// (`sqlite3_expanded_sql`: every bound argument written in as a literal).
/// Everything but the parameters must be the same text in both, so literals
/// written in the statement itself stay literals (a partial index's `WHERE`
/// still matches, a `PRAGMA` keeps its number).
enum SQLTemplate {
    static func arguments(template: String, expanded: String) throws -> [DatabaseValue] {
        let t = Array(template.utf8), e = Array(expanded.utf8)
        var i = 0, j = 0
        var values: [DatabaseValue] = []
        func failure(_ why: String) -> BenchError { BenchError("recorded SQL that cannot be read back (\(why)): \(template.prefix(100))") }
        /// Copies `t[i..<end]` verbatim, checking the expanded text holds the same.
        func same(until end: Int) throws {
            let length = end - i
            guard j + length <= e.count, t[i..<end].elementsEqual(e[j..<(j + length)]) else { throw failure("the texts differ") }
            i = end
            j += length
        }
        while i < t.count {
            let byte = t[i]
            if byte == UInt8(ascii: "?") {
                i += 1
                while i < t.count && isDigit(t[i]) { i += 1 }
                let (value, end) = try literal(e, at: j, failure)
                values.append(value)
                j = end
            } else if byte == quote || byte == doubleQuote {
                // A literal or a quoted name written in the statement: the same in both.
                var end = i + 1
                while end < t.count {
                    if t[end] == byte {
                        if end + 1 < t.count && t[end + 1] == byte { end += 2; continue }
                        break
                    }
                    end += 1
                }
                guard end < t.count else { throw failure("an unterminated quote") }
                try same(until: end + 1)
            } else if byte == UInt8(ascii: "-"), i + 1 < t.count, t[i + 1] == UInt8(ascii: "-") {
                var end = i
                while end < t.count && t[end] != UInt8(ascii: "\n") { end += 1 }
                try same(until: end)
            } else if byte == UInt8(ascii: "/"), i + 1 < t.count, t[i + 1] == UInt8(ascii: "*") {
                var end = i + 2
                while end + 1 < t.count && !(t[end] == UInt8(ascii: "*") && t[end + 1] == UInt8(ascii: "/")) { end += 1 }
                try same(until: min(end + 2, t.count))
            } else if [UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "$")].contains(byte), i + 1 < t.count, isLetter(t[i + 1]) {
                throw failure("a named parameter")
            } else {
                try same(until: i + 1)
            }
        }
        guard j == e.count else { throw failure("the expanded text is longer") }
        return values
    }

    private static let quote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\"")
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x5F }

    /// The literal SQLite wrote for one argument at `start`: text, a blob, NULL, an integer or a real.
    private static func literal(_ e: [UInt8], at start: Int, _ failure: (String) -> BenchError) throws -> (DatabaseValue, Int) {
        guard start < e.count else { throw failure("an argument missing") }
        if e[start] == quote {
            var text: [UInt8] = []
            var index = start + 1
            while true {
                guard index < e.count else { throw failure("an unterminated string") }
                if e[index] == quote {
                    if index + 1 < e.count && e[index + 1] == quote { text.append(quote); index += 2; continue }
                    return (String(decoding: text, as: UTF8.self).databaseValue, index + 1)
                }
                text.append(e[index])
                index += 1
            }
        }
        if e[start] | 0x20 == UInt8(ascii: "x"), start + 1 < e.count, e[start + 1] == quote {
            var end = start + 2
            while end < e.count && e[end] != quote { end += 1 }
            guard end < e.count, (end - start - 2) % 2 == 0 else { throw failure("a bad blob") }
            var blob: [UInt8] = []
            var position = start + 2
            while position < end {
                guard let value = UInt8(String(decoding: e[position...(position + 1)], as: UTF8.self), radix: 16) else { throw failure("a bad blob") }
                blob.append(value)
                position += 2
            }
            return (Data(blob).databaseValue, end + 1)
        }
        if e.count - start >= 4, String(decoding: e[start..<(start + 4)], as: UTF8.self) == "NULL" {
            return (.null, start + 4)
        }
        var end = start
        if e[end] == UInt8(ascii: "-") { end += 1 }
        guard end < e.count, isDigit(e[end]) else {
            // SQLite writes an infinite real as Inf and cannot be read back.
            throw failure("an argument SQLite wrote as \(String(decoding: e[start..<min(start + 6, e.count)], as: UTF8.self))")
        }
        var isReal = false
        while end < e.count && isDigit(e[end]) { end += 1 }
        if end < e.count && e[end] == UInt8(ascii: ".") {
            isReal = true
            end += 1
            while end < e.count && isDigit(e[end]) { end += 1 }
        }
        if end < e.count && e[end] | 0x20 == UInt8(ascii: "e") {
            isReal = true
            end += 1
            if end < e.count && (e[end] == UInt8(ascii: "+") || e[end] == UInt8(ascii: "-")) { end += 1 }
            while end < e.count && isDigit(e[end]) { end += 1 }
        }
        let text = String(decoding: e[start..<end], as: UTF8.self)
        // (A real comes back with the 15 digits SQLite writes; W1 binds none.)
        if isReal, let value = Double(text) { return (value.databaseValue, end) }
        if !isReal, let value = Int64(text) { return (value.databaseValue, end) }
        throw failure("a number out of range, \(text)")
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
        let work = try WriteWorkload(perTransaction: perTransaction, batch: batch)
        let startPath = folder.file("schema-start.sqlite")
        let recording = try work.record(recorded: folder.file("schema-recorded.sqlite"), start: startPath)
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
            let (rows, bulkRows) = (work.singleRows, work.bulkRows)
            let raw = try RawTable(path: folder.file("schema-raw.sqlite"))
            try raw.queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
            func count(_ phase: String, _ work: () throws -> Void) throws {
                try raw.queue.writeWithoutTransaction { db in _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                try work()
                rawFrames[phase] = try raw.queue.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")?[1] ?? -1 }
            }
            try count("single") { for row in rows { try raw.queue.write { try RawTable.insert(row, $0) } } }
            try count("edit") { for (index, title) in work.edits { try raw.queue.write { try RawTable.updateTitle(rows[index].id, title, $0) } } }
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
