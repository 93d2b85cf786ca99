import Foundation
import GRDB
import ReadingListModel
import SyncCore

/// Where a deferred materialisation stands: `replica_meta` holds the last
/// article id already materialised again (empty: none yet) while articles
/// wait; no row when none do.
enum PendingMaterialization {
    static let key = "materialize_after"
    /// The process that deferred (its pid): while it runs, another process
    /// opening the file leaves the pass to it.
    static let ownerKey = "materialize_owner"

    /// Records that articles from `first` on wait: the pass goes back to just
    /// before `first` if it had gone past it, and otherwise keeps its place
    /// (it will reach them), so that pages arriving during a pass do not make
    /// it start over.
    static func mark(before first: ArticleID, _ db: Database) throws {
        // A strict prefix sorts before `first` (ids are fixed-length hex).
        let bound = String(first.rawValue.dropLast())
        if try Meta.get(key, db).map({ $0 > bound }) ?? true { try Meta.set(key, bound, db) }
        try Meta.set(ownerKey, String(getpid()), db)
    }

    /// Whether another live process deferred the articles that wait.
    static func ownedByAnotherProcess(_ db: Database) throws -> Bool {
        guard let text = try Meta.get(ownerKey, db), let pid = Int32(text), pid != getpid() else { return false }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        // A killed process not yet reaped (a zombie) is gone too.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = stat.lastIndex(of: ")") {
            return stat[stat.index(after: end)...].trimmingWhitespace().first != "Z"
        }
        return true
    }
}

extension ReplicaStore {
    /// Applies a batch like ``apply(_:)``, but leaves the `article` table for
    /// ``materializePending(chunk:while:)``: for a large pull (an initial sync), whose
    /// articles arrive in the order they were written, at random places of the
    /// table. Materialising them afterwards in id order writes each page of the
    /// id index and the tag table once (and appends the new rows), instead of
    /// one page per article per batch.
    ///
    /// The log, knowledge and the mark that articles wait are committed
    /// together; until the pass runs, `articles()` may miss or show older
    /// versions of the articles the batch touched. Opening the replica
    /// finishes a pass a crash interrupted.
    @discardableResult
    package func applyDeferringMaterialization(_ entries: [LogEntry]) throws(StoreError) -> ApplyResult {
        // A bulk load: checkpoint the write-ahead log every 40 MB rather than
        // every 4 MB, so that a page the pull writes again and again reaches
        // the file fewer times (`materializePending` restores the default).
        if !bulkLoading.withLock({ $0 }) { try bulkCheckpointing() }
        return try apply(entries, materializing: false)
    }

    /// Checkpoints the write-ahead log every ``bulkCheckpointPages`` pages
    /// until ``restoreCheckpointing()``.
    func bulkCheckpointing() throws(StoreError) {
        try mapErrors { try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.bulkCheckpointPages)") } }
        bulkLoading.withLock { $0 = true }
    }

    static let bulkCheckpointPages = 10_000
    /// Articles the pass holds and prepares at a time.
    static let preparedBatch = 256
    static let defaultCheckpointPages = 1_000

    /// SQLite's default checkpoint interval again, and the write-ahead log
    /// (grown by the bulk load) checkpointed and truncated.
    func restoreCheckpointing() throws(StoreError) {
        try mapErrors {
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.defaultCheckpointPages)")
                if path != nil { try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            }
        }
        bulkLoading.withLock { $0 = false }
    }

    /// Whether the replica holds fewer than `count` articles (visible or not),
    /// reading at most `count` entries of an index.
    package func holdsFewerArticles(than count: Int) throws(StoreError) -> Bool {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT 1 FROM article LIMIT 1 OFFSET ?", arguments: [max(0, count - 1)]) == nil
        }
    }

    /// Finishes a pass a crash interrupted, when the file opens; not while
    /// another process that deferred is still running (an initial sync in
    /// progress: it materialises at its end). A failure leaves the mark, for
    /// the next open or sync: the replica still opens.
    func finishInterruptedPass() {
        guard (try? read({ db in try Meta.get(PendingMaterialization.key, db) != nil && !PendingMaterialization.ownedByAnotherProcess(db) })) == true
        else { return }
        _ = try? materializePending()
    }

    /// Whether articles wait for ``materializePending(chunk:while:)``.
    package func hasPendingMaterialization() throws(StoreError) -> Bool {
        try read { db in try Meta.get(PendingMaterialization.key, db) != nil }
    }

    /// Materialises every article again from the log, in id order, `chunk`
    /// articles per transaction, when a deferred apply left them waiting.
    /// Resumable: each transaction records how far it got. Returns the number
    /// of articles it went through (0 when none waited). `proceed` is asked
    /// before each chunk: false leaves the rest for a later call.
    @discardableResult
    package func materializePending(chunk: Int = 2_000, while proceed: () -> Bool = { true }) throws(StoreError) -> Int {
        precondition(chunk > 0)
        // Nearly always nothing waits: one read, no write transaction.
        guard try hasPendingMaterialization() else {
            if bulkLoading.withLock({ $0 }) { try restoreCheckpointing() }
            return 0
        }
        var done = 0
        while proceed() {
            let step: Int? = try mapErrors {
                try writer.write { db -> Int? in
                    guard let after = try Meta.get(PendingMaterialization.key, db) else { return nil }
                    let ids = try String.fetchAll(
                        db.cachedStatement(sql: "SELECT DISTINCT article_id FROM change_log WHERE article_id > ? ORDER BY article_id LIMIT ?"),
                        arguments: [after, chunk])
                    let last = ids.count == chunk ? ids[ids.count - 1] : nil
                    // This chunk: ids after `after`, up to `last` (to the end for the last chunk).
                    func chunkOf(_ column: String) -> String { "\(column) > ?" + (last == nil ? "" : " AND \(column) <= ?") }
                    let bounds: StatementArguments = last.map { [after, $0] } ?? [after]
                    // Articles with nothing left in the log (forgotten) go.
                    let orphans = Self.orphans(last != nil)
                    try db.execute(sql: Self.orphanTagDeletion(last != nil), arguments: bounds)
                    try db.execute(sql: "DELETE FROM article WHERE id IN (\(orphans))", arguments: bounds)
                    // Rows already there (none in an initial sync) are compared; the others are inserted.
                    let stored = Set(try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM article WHERE \(chunkOf("id"))"), arguments: bounds))
                    // The chunk's live changes in one pass over the index, an article's rows
                    // together, in batches: materialising is pure and the other core is idle
                    // by now, so every core prepares a batch, then the one writer writes it
                    // (a batch, not the chunk, in memory: articles may carry their full text).
                    var batch: [(id: ArticleID, changes: [Change])] = []
                    // New rows go through SQLite's C API; the observers are told once, below.
                    var inserts = RawInserts(db)
                    func flush() throws {
                        for prepared in Materializer.prepareAll(batch, searchText: { [stored] in !stored.contains($0.rawValue) }) {
                            try Materializer.write(prepared, &inserts, known: stored.contains(prepared.id.rawValue))
                        }
                        batch.removeAll(keepingCapacity: true)
                    }
                    let rows = try Row.fetchCursor(
                        db.cachedStatement(sql: "SELECT \(LogTransaction.columns), seq, article_id FROM change_log WHERE \(chunkOf("article_id")) ORDER BY article_id, seq"),
                        arguments: bounds)
                    while let row = try rows.next() {
                        let article: String = row[LogColumn.articleID]
                        if batch.last?.id.rawValue != article {
                            if batch.count == Self.preparedBatch { try flush() }
                            batch.append((try ArticleID(validating: article), []))
                        }
                        batch[batch.count - 1].changes += try LogTransaction.decodeRow(row, contexts: false)
                    }
                    try flush()
                    try inserts.notifyObservers()
                    try Meta.set(PendingMaterialization.key, last, db)
                    if last == nil { try Meta.set(PendingMaterialization.ownerKey, nil, db) }
                    return ids.count
                }
            }
            guard let step else {
                if bulkLoading.withLock({ $0 }) { try restoreCheckpointing() }
                return done
            }
            done += step
        }
        return done
    }
}

extension ReplicaStore {
    /// The articles of a chunk of the pass (ids above `?`, and up to a second
    /// `?` when `bounded`) that nothing in the log holds any more.
    static func orphans(_ bounded: Bool) -> String {
        "SELECT id FROM article WHERE id > ?\(bounded ? " AND id <= ?" : "") AND NOT EXISTS (SELECT 1 FROM change_log WHERE change_log.article_id = article.id)"
    }

    /// Deletes the tag rows of ``orphans(_:)``, found by `article_tag_article`.
    static func orphanTagDeletion(_ bounded: Bool) -> String {
        "DELETE FROM article_tag WHERE article_id IN (\(orphans(bounded)))"
    }
}
