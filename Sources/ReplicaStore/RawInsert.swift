import GRDB
import GRDBSQLite

/// The INSERTs a batch of new articles makes by the hundred thousand (a log
/// row, an article row, its tag rows, its text row and index entry), bound
/// and stepped through SQLite's C API instead of GRDB's `execute(arguments:)`.
///
/// Why: `execute(arguments:)` builds a `StatementArguments` of
/// `DatabaseValue`s, checks it against the statement and binds it through
/// nested closures. For an import of 100 000 articles that was about 1 s of
/// the writing core's 6 (`perf record -g`, 2026-12-05; Docs/Performance.md,
/// W9), as much as half of SQLite's own work on those rows.
///
/// The statement still comes from GRDB's cache (GRDB prepares and finalises
/// it), under SQL of its own so that GRDB never runs it with stale bindings.
/// What this bypasses is GRDB's statement hooks, through which its
/// transaction observers (every `ValueObservation`, so every
/// ``ReplicaStore/Observation``) learn what a statement changed. So these
/// inserts are made only through a ``RawInserts`` whose owner calls
/// ``RawInserts/notifyObservers()`` before its transaction commits.
struct RawInserts {
    let db: Database
    /// The tables written so far, which observers are told about.
    private var tables: Set<String> = []

    init(_ db: Database) { self.db = db }

    /// Runs `sql` (an INSERT into `table`) once with the values `bind` binds.
    mutating func insert(into table: String, _ sql: String, _ bind: (inout Binder) -> Void) throws {
        let statement = try db.cachedStatement(sql: sql + " -- raw")
        let handle = statement.sqliteStatement
        var binder = Binder(handle: handle)
        bind(&binder)
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
        }
        tables.insert(table)
    }

    /// Tells GRDB's transaction observers that the tables written changed (see the type's note).
    func notifyObservers() throws {
        guard !tables.isEmpty else { return }
        for table in tables.sorted() { try db.notifyChanges(in: Table(table)) }
    }

    /// Binds a statement's parameters in order, from the first.
    struct Binder {
        let handle: OpaquePointer
        private var index: Int32 = 0

        init(handle: OpaquePointer) { self.handle = handle }

        mutating func bind(_ value: Int64) {
            index += 1
            sqlite3_bind_int64(handle, index, value)
        }

        mutating func bind(_ value: String) {
            index += 1
            var text = value
            // SQLITE_TRANSIENT: SQLite copies the bytes before this returns.
            _ = text.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    guard let start = chars.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, Self.transient) }
                    return sqlite3_bind_text(handle, index, start, Int32(chars.count), Self.transient)
                }
            }
        }

        mutating func bind(_ value: String?) {
            guard let value else {
                index += 1
                sqlite3_bind_null(handle, index)
                return
            }
            bind(value)
        }

        mutating func bind(_ value: DatabaseValue) {
            switch value.storage {
            case .null:
                index += 1
                sqlite3_bind_null(handle, index)
            case let .int64(number): bind(number)
            case let .double(number):
                index += 1
                sqlite3_bind_double(handle, index, number)
            case let .string(text): bind(text)
            case let .blob(data):
                index += 1
                _ = data.withUnsafeBytes { bytes in sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), Self.transient) }
            }
        }

        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    }
}
