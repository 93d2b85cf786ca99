import Foundation
import GRDB
import ReadingListModel
import SyncCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Live values of a replica for an app's screens: built on GRDB's
// `ValueObservation`, which re-runs a fetch after every committed transaction
// that touched what the fetch read (the store's own `DatabaseQueue`, so a
// local edit and a sync round seen by the same `ReplicaStore` are noticed at
// their commit), plus a watch on the database file for commits made by other
// processes (which SQLite does not report to this connection).

extension ReplicaStore {
    /// Where this replica stands with its sync partners, as ``observeSyncState()`` publishes it.
    public struct SyncState: Sendable, Hashable {
        /// Changes made on this replica so far (its own counter; grows with every local edit).
        public var localChanges: UInt64
        /// Local changes no sync partner is known to have (what the next sync pushes).
        public var pendingChanges: UInt64
        /// When this replica last synced with a partner (milliseconds since 1970), nil before its first sync.
        public var lastSync: Int64?

        package init(localChanges: UInt64, pendingChanges: UInt64, lastSync: Int64?) {
            self.localChanges = localChanges
            self.pendingChanges = pendingChanges
            self.lastSync = lastSync
        }
    }

    /// A live value of this replica: iterate it to get the current value
    /// first, then a new one after every committed change that alters it.
    ///
    /// - A change is a local edit, a sync (a page applied), or a write by
    ///   another process on the same file (another `readinglist` command, an
    ///   app extension): all are seen.
    /// - One transaction gives at most one new value (several transactions
    ///   committed while the value was being fetched may give one), and a
    ///   value equal to the last one delivered is not delivered again.
    /// - A consumer slower than the changes gets the newest value, never a
    ///   backlog of stale ones.
    /// - Each iteration is its own subscription; it ends when the iterating
    ///   task is cancelled or the iterator is released. It throws a
    ///   ``StoreError`` when the database cannot be read.
    public struct Observation<Value: Sendable & Equatable>: AsyncSequence, Sendable {
        /// Each value the observation delivers.
        public typealias Element = Value

        let store: ReplicaStore
        let fetch: @Sendable (Database) throws -> Value

        /// Starts a subscription: its first value is the current one.
        public func makeAsyncIterator() -> Iterator {
            // The watch for other processes' commits starts before the first fetch:
            // a commit made after the first value was read is always noticed.
            let watch = store.path.map { ExternalCommits(store: store, path: $0) }
            let fetch = self.fetch
            let values = ValueObservation.tracking { db in try fetch(db) }
                .removeDuplicates()
                .values(in: store.writer, bufferingPolicy: .bufferingNewest(1))
            return Iterator(values: values.makeAsyncIterator(), watch: watch)
        }

        /// Delivers the observation's values, skipping one equal to the last delivered.
        public struct Iterator: AsyncIteratorProtocol {
            var values: AsyncValueObservation<Value>.Iterator
            /// Held for as long as the iteration lasts; stops the watch when released.
            let watch: ExternalCommits?
            var last: Value?

            /// The next distinct value (the newest one when several changes happened meanwhile); nil when the task is cancelled.
            public mutating func next() async throws -> Value? {
                while true {
                    let value: Value?
                    do { value = try await values.next() } catch let error as StoreError {
                        throw error
                    } catch is CancellationError {
                        return nil
                    } catch {
                        throw StoreError.database("\(error)")
                    }
                    guard let value else { return nil }
                    // (A newest-only buffer may hold a value equal to the one delivered last.)
                    if let last, last == value { continue }
                    last = value
                    return value
                }
            }
        }
    }

    /// The visible articles `filter` selects, in its order, as ``articles(_:includeContent:)``
    /// returns them, after every change that alters that list (an edit of an
    /// article in it, one entering or leaving it, a sync, another process's write).
    public func observeArticles(_ filter: ListFilter = .all, includeContent: Bool = false) -> Observation<[Article]> {
        let decoded = DecodedArticles()
        return Observation(store: self) { db in
            // A change touches a few articles: the others are not decoded again
            // (decoding is most of the fetch: 500 articles, several milliseconds).
            var fresh: [String: Article] = [:]
            let articles = try Self.articles(filter, includeContent: includeContent, db) { text in
                let article = try decoded.last.withLock { $0[text] } ?? JSONDecoder().decode(Article.self, from: Data(text.utf8))
                fresh[text] = article
                return article
            }
            decoded.last.withLock { $0 = fresh }
            return articles
        }
    }

    /// The articles a list's last fetch decoded, by their stored JSON (kept only for the next fetch).
    final class DecodedArticles: Sendable {
        let last = Mutex<[String: Article]>([:])
    }

    /// Article `id` with its content, highlights and conflicts, after every
    /// change to it; nil while it is not visible (deleted, or not yet synced here).
    public func observeArticle(_ id: ArticleID) -> Observation<Article?> {
        Observation(store: self) { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT json FROM article WHERE id = ? AND visible = 1"), arguments: [id.rawValue])
                .map { try JSONDecoder().decode(Article.self, from: Data($0.utf8)) }
        }
    }

    /// The article an id, an id prefix or a URL designates (resolved now, as
    /// ``article(_:)`` does), observed as the article's id is.
    public func observeArticle(_ idOrURL: String) throws(StoreError) -> Observation<Article?> {
        observeArticle(try resolve(idOrURL))
    }

    /// The visible articles that match `query`, as ``search(_:limit:)``
    /// returns them (best first, with snippets), after every committed change
    /// that may alter them: an edit, a save or a delete, a sync, another
    /// process's write. A query with no word to look for finds nothing, now
    /// and after every change.
    public func observeSearch(_ query: String, limit: Int = 20) -> Observation<[SearchHit]> {
        let match = limit > 0 ? SearchQuery.translate(query) : nil
        return Observation(store: self) { db in
            // What the results come from: the searched text and the articles.
            // (Registered whatever the query reads: FTS5's index is a virtual
            // table, whose writes GRDB does not see, and a query that matches
            // nothing would read nothing else.)
            try db.registerAccess(to: Table("article_text"))
            try db.registerAccess(to: Table("article"))
            guard let match else { return [] }
            return try Self.search(match: match, limit: limit, db)
        }
    }

    /// The number of visible articles with conflicts, as ``conflictCount()`` counts them, after every change to it.
    public func observeConflictCount() -> Observation<Int> {
        Observation(store: self) { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM article INDEXED BY article_conflicts WHERE visible = 1 AND conflict_count > 0") ?? 0
        }
    }

    /// This replica's ``SyncState`` (its local changes, those not yet pushed,
    /// its last sync), after every change to it.
    public func observeSyncState() -> Observation<SyncState> {
        Observation(store: self) { [self] db in try Self.syncState(of: replicaID, db) }
    }

    /// This replica's sync state now.
    public func syncState() throws(StoreError) -> SyncState {
        let replica = replicaID
        return try read { db in try Self.syncState(of: replica, db) }
    }

    static func syncState(of replica: ReplicaID, _ db: Database) throws -> SyncState {
        // `replica_meta` (the knowledge) and `sync_partner` are WITHOUT ROWID tables,
        // whose changes SQLite does not report to GRDB: a local edit or an applied
        // page is noticed through the change log it writes, a recorded sync through
        // the notification ``recordSync(partner:replica:knowledge:)`` sends.
        try db.registerAccess(to: Table("change_log"))
        let knowledge = try LogTransaction.readKnowledge(db)
        var acknowledged: UInt64 = 0
        var lastSync: Int64?
        for partner in try SyncPartnerRow.fetchAll(db, sql: "SELECT \(SyncPartnerRow.columns) FROM sync_partner") {
            acknowledged = max(acknowledged, try LogTransaction.decodeContext(partner.knowledge)[replica])
            lastSync = max(lastSync ?? partner.lastSync, partner.lastSync)
        }
        let local = knowledge[replica]
        return SyncState(localChanges: local, pendingChanges: local - min(acknowledged, local), lastSync: lastSync)
    }
}

/// Notices commits that another process (another connection) made to a
/// replica file, and tells this store's observations to fetch again.
///
/// SQLite reports no other connection's commit to this one; `PRAGMA
/// data_version` changes exactly when one happened, and reading it costs
/// about 2.5 µs (measured here). What decides when to read it: on Linux,
/// inotify on the file's folder (a commit writes the write-ahead log, a
/// checkpoint the file). Measured with `readinglist watch` and
/// `readinglist edit` in two processes, 15 edits: the watch printed the new
/// value at most 1.4 ms after the editing process exited (mostly before), and
/// nothing runs while nothing is written. A periodic check would cost a
/// wake-up per period whether anything changed or not and add up to a period
/// of latency (125 ms on average at 4 checks a second), so it is only the
/// fallback where inotify is missing (not Linux): every 250 ms. Our own
/// commits also wake the watch; the check then finds the version unchanged
/// and notifies nothing.
final class ExternalCommits: Sendable {
    /// Stops the watch (closes its descriptors, ends its thread or task).
    private let stop: @Sendable () -> Void

    init(store: ReplicaStore, path: String) {
        let seen = LastVersion()
        let check: @Sendable () -> Void = { Self.check(store, seen: seen) }
        // The baseline: commits before it are in the first value the observation fetches.
        check()
        #if canImport(Glibc)
        stop = Self.watchWithInotify(path: path, check) ?? Self.checkPeriodically(check)
        #else
        stop = Self.checkPeriodically(check)
        #endif
    }

    deinit { stop() }

    /// Reads `data_version`; when another connection committed since the last
    /// reading, notifies the store's observers of a change to the whole database.
    /// The `data_version` last read (nil before the first reading).
    final class LastVersion: Sendable {
        let value = Mutex<Int64?>(nil)
    }

    static func check(_ store: ReplicaStore, seen: LastVersion) {
        try? store.writer.writeWithoutTransaction { db in
            guard let version = try Int64.fetchOne(db, sql: "PRAGMA data_version") else { return }
            let changed = seen.value.withLock { last in
                defer { last = version }
                return last != nil && last != version
            }
            guard changed else { return }
            // Observers fetch at a commit: an empty transaction carries the notification.
            try db.inTransaction(.deferred) {
                try db.notifyChanges(in: .fullDatabase)
                return .commit
            }
        }
    }

    /// The fallback: a check every quarter of a second.
    private static func checkPeriodically(_ check: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                check()
            }
        }
        return { task.cancel() }
    }

    #if canImport(Glibc)
    /// Watches the folder of `path` for writes to the file and its write-ahead
    /// log, on a thread of its own blocked in `poll(2)` while nothing happens;
    /// a burst of events gives one check. Nil when inotify is unavailable.
    private static func watchWithInotify(path: String, _ check: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL
        let folder = absolute.deletingLastPathComponent().path
        let name = absolute.lastPathComponent
        let watched: Set<String> = [name, name + "-wal"]
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0 else { return nil }
        guard inotify_add_watch(inotify, folder, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)) >= 0 else {
            close(inotify)
            return nil
        }
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            close(inotify)
            return nil
        }
        let (stopRead, stopWrite) = (ends[0], ends[1])
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 8192)
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0), pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
            // The checks still due after the last event, in milliseconds from the one before.
            var trailing: [Int32] = []
            while true {
                fds[0].revents = 0
                fds[1].revents = 0
                let ready = Glibc.poll(&fds, 2, trailing.first ?? -1)
                if ready < 0 && errno == EINTR { continue }
                // (On another failure the thread ends; the pipe's read end stays open for the stop's write.)
                if ready < 0 { return }
                if fds[1].revents != 0 { break }
                if ready == 0 {
                    trailing.removeFirst()
                    check()
                    continue
                }
                // Drain every queued event; one check for the lot.
                var relevant = false
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    if count <= 0 { break }
                    var offset = 0
                    // struct inotify_event: wd, mask, cookie, len (4 bytes each), then `len` bytes of name.
                    while offset + 16 <= count {
                        let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                        let nameBytes = buffer[(offset + 16)..<min(count, offset + 16 + length)].prefix { $0 != 0 }
                        if watched.contains(String(decoding: nameBytes, as: UTF8.self)) { relevant = true }
                        offset += 16 + length
                    }
                }
                if relevant {
                    check()
                    // A commit writes its last frame to the log, then publishes it in the
                    // shared-memory index, which no event reports: a check right at the
                    // event may come before it. Two more, 2 and 20 ms later, see it.
                    trailing = [2, 18]
                }
            }
            close(inotify)
            close(stopRead)
        }
        thread.name = "replica-commits"
        thread.start()
        return {
            var byte: UInt8 = 1
            _ = write(stopWrite, &byte, 1)
            close(stopWrite)
        }
    }
    #endif
}
