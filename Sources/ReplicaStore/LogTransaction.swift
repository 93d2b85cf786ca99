import Foundation
import GRDB
import ReadableText
import ReadingListModel
import SyncCore
import Synchronization

/// The state of one write transaction on the change log: knowledge, clock
/// and local sequence are read once, updated in memory, and written back in
/// `commit()`, together with the materialised articles the transaction touched.
struct LogTransaction {
    /// The connection, in its write transaction; nil while the transaction
    /// is built apart (``init(detachedAt:replica:now:)``).
    private var connection: Database?
    /// The connection; a transaction built apart throws ``Detached`` instead
    /// of reading or writing (its builder then leaves the batch to a normal one).
    var db: Database {
        get throws {
            guard let connection else { throw Detached() }
            return connection
        }
    }
    let replica: ReplicaID
    let now: Int64
    var knowledge: VersionVector
    var clock: HybridClock
    var nextSeq: Int64
    private var knowledgeChanged = false
    private(set) var touched: Set<ArticleID> = []
    private(set) var appliedChanges = 0
    /// Whether `commit()` re-materialises touched articles.
    var materializes = true
    /// Whether local writes are checked as user input (size limits, no blank
    /// text). Off where values already in the list are written again (a
    /// rejoin's replay, a new identity): they were accepted once.
    var checksInput = true
    /// The live changes of every article this transaction read or wrote,
    /// with their local sequence: each article is read from the database
    /// once per transaction, and sibling lookups and re-materialisation work
    /// from memory.
    private var working: [ArticleID: [Live]] = [:]
    /// Whether anything was written (a transaction that wrote nothing commits nothing).
    private var dirty = false
    /// Article rows (by seq) whose changes this transaction added or
    /// replaced: written from the working set by ``flushRows()``.
    private var pendingRows: [Int64: ArticleID] = [:]
    /// The first counter of each article row as the database holds it (rows
    /// read or written by this transaction): a row that keeps its first change
    /// is updated in place, its index entries untouched.
    private var storedFirst: [Int64: UInt64] = [:]
    /// The run the next change may extend: its row, article and last change.
    private var openRun: (seq: Int64, article: ArticleID, last: Change)?
    /// The article whose re-materialisation `commit()` keeps in ``materialized``
    /// (an edit returns it without reading it back; a batch keeps none).
    var keeping: ArticleID?
    /// The article ``keeping`` names as `commit()` left it, when visible.
    private(set) var materialized: Article?
    /// Articles that had no row in the log when this transaction first read
    /// them: unless a deferred pass is pending, they have no `article` row yet.
    private var fresh: Set<ArticleID> = []
    /// Articles one of whose tag fields this transaction wrote or replaced:
    /// the others keep their tag rows unless their visibility changes.
    private var tagsTouched: Set<ArticleID> = []
    /// Whether a deferred pass had articles waiting when this transaction
    /// began: their rows, tag rows included, may be older than the log.
    private let passPending: Bool

    struct Live {
        var seq: Int64
        var change: Change
    }

    init(db: Database, replica: ReplicaID, now: Int64) throws {
        self.connection = db
        self.replica = replica
        self.now = now
        // Knowledge, clock and sequence, and whether a deferred pass is
        // pending: one read (one page).
        var state: [String: String] = [:]
        for entry in try MetaEntry.fetchAll(db.cachedStatement(sql: Self.stateQuery)) {
            state[entry.key] = entry.value
        }
        passPending = state[PendingMaterialization.key] != nil
        knowledge = try Self.knowledge(fromText: state["knowledge"])
        clock = HybridClock(last: HLC(rawValue: UInt64(state["hlc"] ?? "0") ?? 0))
        // Every transaction that takes a sequence number records the last one in
        // `seq` (replaced ranges keep old numbers, so change_log's maximum alone
        // would not do; scanning replaced_range for its maximum would cost the
        // size of the log on every write).
        let maxChange = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM change_log")) ?? 0
        nextSeq = max(maxChange, Int64(state["seq"] ?? "0") ?? 0) + 1
        start = passPending ? nil : Start(knowledge: knowledge, clock: clock, nextSeq: nextSeq)
    }

    /// A `replica_meta` row.
    private struct MetaEntry: FetchableRecord {
        enum Columns {
            static let key = Column("key")
            static let value = Column("value")
        }

        var key: String
        var value: String

        init(row: Row) {
            key = row[Columns.key]
            value = row[Columns.value]
        }
    }

    // MARK: Built apart

    /// What a transaction started from: equal starts mean that nothing was
    /// written to the log in between (every write takes a sequence number and
    /// moves the clock or knowledge).
    struct Start: Sendable, Equatable {
        var knowledge: VersionVector
        var clock: HybridClock
        var nextSeq: Int64
    }

    /// Where this transaction started (``Start``); nil while a deferred
    /// materialisation pass is pending, which a transaction built apart does not model.
    let start: Start?

    /// Where this transaction ends if it commits: the start of the next one.
    var end: Start { Start(knowledge: knowledge, clock: clock, nextSeq: nextSeq) }

    /// Where a committed transaction started and ended.
    typealias Span = (start: Start?, end: Start)
    var span: Span { (start, end) }

    /// A transaction built apart from the database, on another thread, from
    /// `start` (see ``ReplicaStore/importArticles(_:batchSize:batchWritten:)``):
    /// it may only touch articles ``assumeFresh(_:)`` enters, and any read or
    /// write of the database throws ``Detached``. ``attached(to:)`` hands it
    /// to the write transaction whose start is `start`.
    init(detachedAt start: Start, replica: ReplicaID, now: Int64) {
        self.connection = nil
        self.replica = replica
        self.now = now
        self.knowledge = start.knowledge
        self.clock = start.clock
        self.nextSeq = start.nextSeq
        self.passPending = false
        self.start = start
    }

    /// A read or write of the database by a transaction built apart.
    struct Detached: Error {}

    /// Enters articles the caller knows have no row in the log (as
    /// ``preload(_:)`` enters them when it finds none).
    mutating func assumeFresh(_ ids: some Sequence<ArticleID>) {
        for id in ids where working[id] == nil {
            working[id] = []
            fresh.insert(id)
        }
    }

    /// Computes, here and now, what ``commit()`` will write (the log rows'
    /// text and the materialised articles), so that the write transaction
    /// only executes statements. Done only when every pending row is new (a
    /// transaction built apart from fresh articles); otherwise ``commit()``
    /// computes them itself.
    ///
    /// `readable`: the readable text of articles whose content this
    /// transaction wrote as given, extracted already (an import's checks).
    mutating func prepareWrites(cores: Int = 1, readable: [ArticleID: ReadableDocument] = [:]) {
        guard connection == nil, materializes, !marksPending, storedFirst.isEmpty else { return }
        // One pass over each article's live changes (in id order, see
        // ``startPreparing(_:)``), copying each once: a row is a stretch of them that share a seq.
        var rows: [PreparedRow] = []
        rows.reserveCapacity(pendingRows.count)
        var items: [(id: ArticleID, changes: [Change])] = []
        items.reserveCapacity(touched.count)
        for id in touched.sorted() {
            let live = working[id] ?? []
            let changes = live.map(\.change)
            items.append((id, changes))
            var start = 0
            while start < live.count {
                let seq = live[start].seq
                var end = start + 1
                while end < live.count && live[end].seq == seq { end += 1 }
                guard pendingRows[seq] == id else { return }
                let (field, value) = Self.rowText(changes[start..<end])
                rows.append(PreparedRow(seq: seq, first: changes[start], article: id, field: field, value: value, context: Self.encode(changes[start].context)))
                start = end
            }
        }
        // (A row whose changes are not side by side would count twice: then commit() computes them.)
        guard rows.count == pendingRows.count else { return }
        rows.sort { $0.seq < $1.seq }
        let fresh = self.fresh
        preparedRows = rows
        preparedArticles = Materializer.prepareAll(items, searchText: { fresh.contains($0) }, readable: readable, cores: cores)
    }

    /// A log row ``prepareWrites(cores:)`` computed.
    struct PreparedRow {
        var seq: Int64
        var first: Change
        var article: ArticleID
        var field: String?
        var value: String
        var context: String
    }

    private var preparedRows: [PreparedRow]?
    private var preparedArticles: [Materializer.Prepared]?

    /// This transaction built apart, handed to `db`'s write transaction.
    /// The caller has checked that the write transaction's ``start`` is this one's.
    func attached(to db: Database) -> LogTransaction {
        var attached = self
        attached.connection = db
        return attached
    }

    static let stateQuery = "SELECT key, value FROM replica_meta WHERE key IN ('knowledge', 'hlc', 'seq', '\(PendingMaterialization.key)')"

    /// The replica's knowledge: `knowledge` in `replica_meta`, in ``VersionVector/compactText`` form.
    static func readKnowledge(_ db: Database) throws -> VersionVector {
        try knowledge(fromText: Meta.get("knowledge", db))
    }

    private static func knowledge(fromText text: String?) throws -> VersionVector {
        guard let text else { return VersionVector() }
        guard let knowledge = VersionVector(compactText: text) else {
            throw StoreError.database("corrupt knowledge in replica_meta: \(text.prefix(60))")
        }
        return knowledge
    }

    // MARK: Writing

    /// Writes `value` into `field` of `entity` as this replica's next change.
    /// Its context is everything this replica has seen, so it replaces every
    /// live sibling of the field.
    @discardableResult
    mutating func writeLocal(_ entity: EntityRef, _ field: String, _ value: JSONValue) throws -> Change {
        try writeLocal(entity, [(field, value)])[0]
    }

    /// Writes several fields of `entity` together, under one clock reading:
    /// consecutive changes that the log keeps as one run (one row).
    @discardableResult
    mutating func writeLocal(_ entity: EntityRef, _ writes: [(String, JSONValue)]) throws -> [Change] {
        guard !writes.isEmpty else { return [] }
        // What enters the list here is bounded and never blank (see FieldLimits and StoreError.blank).
        for (field, value) in writes where checksInput {
            guard case let .string(text) = value, let violation = InputRules.violation(field, text) else { continue }
            switch violation {
            case let .tooLarge(bytes, limit): throw StoreError.tooLarge(entity: entity, field: field, bytes: bytes, limit: limit)
            case .blank: throw StoreError.blank(field: field)
            case let .controlCharacter(scalar): throw StoreError.controlCharacter(field: field, scalar: scalar)
            }
        }
        let hlc = clock.tick(now: now)
        // The entity's article, read once for all its writes (it is parsed from the id).
        let article = entity.articleID
        var changes: [Change] = []
        changes.reserveCapacity(writes.count)
        for (field, value) in writes {
            let counter = knowledge[replica] + 1
            let change = Change(dot: Dot(replica, counter), entity: entity, field: field, value: value, context: knowledge, hlc: hlc)
            knowledge[replica] = counter
            knowledgeChanged = true
            try integrate(change, article: article)
            changes.append(change)
        }
        return changes
    }

    /// Applies a change the causal gate admitted.
    mutating func applyRemote(_ change: Change) throws {
        knowledge[change.dot.replica] = change.dot.counter
        knowledgeChanged = true
        clock.observe(change.hlc, now: now)
        try integrate(change, article: change.entity.articleID)
    }

    /// Records a range of replaced dots the gate admitted.
    mutating func applyRemote(_ range: ReplacedRange) throws {
        knowledge[range.replica] = range.to
        knowledgeChanged = true
        openRun = nil
        let seq = takeSeq()
        try addReplaced(range.replica, from: range.from, to: range.to, digest: range.digest, seq: seq)
    }

    /// Whether a change may be kept in a run with others. A delete stays a row
    /// of its own, so that garbage collection finds tombstones by index.
    /// (`article`: the change's ``EntityRef/articleID``, which the caller has.)
    private static func joinsRuns(_ change: Change, article: ArticleID?) -> Bool {
        article != nil && !(change.field == Fields.deleted && change.value == true)
    }

    /// `article` is `change.entity.articleID`, which the caller has read once.
    private mutating func integrate(_ change: Change, article: ArticleID?) throws {
        dirty = true
        noteTag(change, article: article)
        let outcome = LogRules.integrate(change, siblings: try siblings(of: change.entity, change.field, article: article))
        for old in outcome.replaced { try forget(old) }
        guard outcome.live else {
            // Known already replaced (cannot happen under causal delivery, kept for safety): record the dot only.
            openRun = nil
            try keepOwnDigest(change)
            try addReplaced(change.dot.replica, from: change.dot.counter, to: change.dot.counter, digest: change.digest, seq: takeSeq())
            if let article { touched.insert(article) }
            return
        }
        appliedChanges += 1
        guard let article else {
            openRun = nil
            try writeRow(seq: takeSeq(), [change], article: nil)
            return
        }
        touched.insert(article)
        let seq: Int64
        let joins = Self.joinsRuns(change, article: article)
        if joins, let run = openRun, run.article == article, ChangeRun.extends(run.last, with: change) {
            seq = run.seq
        } else {
            seq = takeSeq()
        }
        working[article, default: []].append(Live(seq: seq, change: change))
        pendingRows[seq] = article
        openRun = joins ? (seq, article, change) : nil
    }

    /// Turns a live change into a replaced dot, kept at its place in the local
    /// order: a later change replaced it, or garbage collection forgot it.
    mutating func forget(_ change: Change) throws {
        dirty = true
        let article = change.entity.articleID
        noteTag(change, article: article)
        try keepOwnDigest(change)
        if let article {
            touched.insert(article)
            _ = try live(article)
            var seq: Int64
            if let index = working[article]?.firstIndex(where: { $0.change.dot == change.dot }) {
                seq = working[article]!.remove(at: index).seq
                pendingRows[seq] = article
            } else {
                seq = takeSeq()
            }
            try addReplaced(change.dot.replica, from: change.dot.counter, to: change.dot.counter, digest: change.digest, seq: seq)
            return
        }
        // Entities of other types are never in runs: one row each.
        let known = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT seq FROM change_log WHERE replica = ? AND counter = ?"),
            arguments: [change.dot.replica.rawValue, Int64(change.dot.counter)])
        let seq = known ?? takeSeq()
        if known != nil {
            try db.cachedStatement(sql: "DELETE FROM change_log WHERE seq = ?").execute(arguments: [seq])
        }
        try addReplaced(change.dot.replica, from: change.dot.counter, to: change.dot.counter, digest: change.digest, seq: seq)
    }

    private mutating func noteTag(_ change: Change, article: ArticleID?) {
        if let article, change.field.hasPrefix(Fields.tagPrefix) { tagsTouched.insert(article) }
    }

    /// Keeps the digest of a change made here that leaves the log: a live
    /// change's digest is computed from its row (``ReplicaStore/digest(at:)``),
    /// so a save writes no digest row, and only replaced ones are stored.
    private func keepOwnDigest(_ change: Change) throws {
        guard change.dot.replica == replica else { return }
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO own_digest (counter, digest) VALUES (?, ?)")
            .execute(arguments: [Int64(change.dot.counter), Int64(bitPattern: change.digest)])
    }

    /// Writes the rows of the article changes this transaction added or
    /// replaced, from the working set: each row holds the live changes that
    /// share its seq (one change, or a run), or goes when none is left.
    mutating func flushRows() throws {
        guard !pendingRows.isEmpty else { return }
        if let rows = preparedRows {
            preparedRows = nil
            for row in rows {
                try writeRow(seq: row.seq, first: row.first, article: row.article, field: row.field, value: row.value, context: row.context)
                storedFirst[row.seq] = row.first.dot.counter
            }
            pendingRows.removeAll(keepingCapacity: true)
            return
        }
        for (seq, article) in pendingRows.sorted(by: { $0.key < $1.key }) {
            let members = Array((working[article] ?? []).lazy.filter { $0.seq == seq }.map(\.change))
            guard let first = members.first else {
                storedFirst[seq] = nil
                try db.cachedStatement(sql: "DELETE FROM change_log WHERE seq = ?").execute(arguments: [seq])
                continue
            }
            let (field, value) = Self.rowText(members)
            switch storedFirst[seq] {
            case first.dot.counter?:
                // The same first change: only the row's changes differ (no index entry moves).
                try db.cachedStatement(sql: "UPDATE change_log SET field = ?, value = ? WHERE seq = ?").execute(arguments: [field, value, seq])
            case .some:
                try db.cachedStatement(sql: "UPDATE change_log SET counter = ?, field = ?, value = ?, context = ? WHERE seq = ?")
                    .execute(arguments: [Int64(first.dot.counter), field, value, Self.encode(first.context), seq])
            case nil:
                try writeRow(seq: seq, members, article: article, text: (field, value))
            }
            storedFirst[seq] = first.dot.counter
        }
        pendingRows.removeAll(keepingCapacity: true)
    }

    /// One change_log row: a single change with its field and value, or a run
    /// of changes (field NULL, value `[[counter, field, value], ...]`). The
    /// context is the first change's; a run's later changes differ from it
    /// only in their own replica's entry, the previous counter.
    private mutating func writeRow(seq: Int64, _ changes: [Change], article: ArticleID?, text: (field: String?, value: String)? = nil) throws {
        let (field, value) = text ?? Self.rowText(changes)
        try writeRow(seq: seq, first: changes[0], article: article, field: field, value: value, context: Self.encode(changes[0].context))
    }

    private mutating func writeRow(seq: Int64, first: Change, article: ArticleID?, field: String?, value: String, context: String) throws {
        if inserts == nil { inserts = RawInserts(try db) }
        try inserts!.insert(into: "change_log", """
            INSERT OR REPLACE INTO change_log (seq, replica, counter, entity_type, entity_id, field, value, context, hlc, article_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """) { row in
            row.bind(seq)
            row.bind(first.dot.replica.rawValue)
            row.bind(Int64(first.dot.counter))
            row.bind(first.entity.type)
            row.bind(first.entity.id)
            row.bind(field)
            row.bind(value)
            row.bind(context)
            row.bind(Int64(bitPattern: first.hlc.rawValue))
            row.bind(article?.rawValue)
        }
    }

    /// The inserts this transaction made through SQLite's C API (``RawInserts``):
    /// ``commit()`` tells the observers.
    private var inserts: RawInserts?

    /// The `field` and `value` columns of a row holding `changes`.
    private static func rowText(_ changes: some Collection<Change>) -> (field: String?, value: String) {
        if changes.count == 1, let only = changes.first { return (only.field, only.value.canonicalText) }
        var text = "["
        // Room for every write, so that appending never reallocates (an excerpt alone is hundreds of bytes).
        var room = 2
        for change in changes {
            if case let .string(value) = change.value { room += value.utf8.count + 2 } else { room += 24 }
            room += change.field.utf8.count + 26
        }
        text.reserveCapacity(room)
        for (index, change) in changes.enumerated() {
            text += index > 0 ? ",[" : "["
            text += String(change.dot.counter)
            text += ","
            JSONValue.appendString(change.field, to: &text)
            text += ","
            change.value.appendCanonicalText(to: &text)
            text += "]"
        }
        text += "]"
        return (nil, text)
    }

    private mutating func takeSeq() -> Int64 {
        dirty = true
        defer { nextSeq += 1 }
        return nextSeq
    }

    /// Adds `from...to` of `replica` to the replaced ranges, merged with its
    /// neighbours (``ReplacedRanges/merge(_:below:above:)``).
    private func addReplaced(_ replica: ReplicaID, from: UInt64, to: UInt64, digest: UInt64, seq: Int64) throws {
        let new = ReplacedRow(from: from, to: to, seq: seq, digest: digest)
        // Ranges are keyed by their end (ranges of a replica never overlap, so
        // the next one up is the first whose end is above): one B-tree, no index.
        let below = try StoredReplacedRange.fetchOne(
            db.cachedStatement(sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range WHERE replica = ? AND to_counter = ?"),
            arguments: [replica.rawValue, Int64(ReplacedRanges.belowEnd(of: new))]
        ).map { ReplacedRow(from: $0.from, to: $0.to, seq: $0.seq, digest: $0.digest) }
        let above = try StoredReplacedRange.fetchOne(
            db.cachedStatement(sql: "SELECT \(StoredReplacedRange.columns) FROM replaced_range WHERE replica = ? AND to_counter > ? ORDER BY to_counter LIMIT 1"),
            arguments: [replica.rawValue, Int64(to)]
        ).flatMap { stored -> ReplacedRow? in
            guard stored.from == ReplacedRanges.aboveStart(of: new) else { return nil }
            return ReplacedRow(from: stored.from, to: stored.to, seq: stored.seq, digest: stored.digest)
        }
        let merged = ReplacedRanges.merge(new, below: below, above: above)
        if below != nil {
            try db.cachedStatement(sql: "DELETE FROM replaced_range WHERE replica = ? AND to_counter = ?")
                .execute(arguments: [replica.rawValue, Int64(ReplacedRanges.belowEnd(of: new))])
        }
        if above != nil {
            // The range just above keeps its key (the end) and digest, and grows down.
            try db.cachedStatement(sql: "UPDATE replaced_range SET from_counter = ?, seq = ? WHERE replica = ? AND to_counter = ?")
                .execute(arguments: [Int64(merged.from), merged.seq, replica.rawValue, Int64(merged.to)])
            return
        }
        try db.cachedStatement(sql: "INSERT INTO replaced_range (replica, from_counter, to_counter, seq, digest) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [replica.rawValue, Int64(merged.from), Int64(merged.to), merged.seq, Int64(bitPattern: merged.digest)])
    }

    // MARK: Reading inside the transaction

    /// The live writes of `field` of `entity`.
    /// Whether every live write of `field` already holds `value` (and there is
    /// one at least): writing it again would change nothing anyone sees, and
    /// a command that changes nothing writes nothing (no change to sync).
    mutating func holdsOnly(_ value: JSONValue, _ entity: EntityRef, _ field: String) throws -> Bool {
        let live = try siblings(of: entity, field)
        guard !live.isEmpty else {
            // Never written: the field shows its default (not a tag, not read, no text).
            switch field {
            case Fields.isRead, Fields.isArchived, Fields.isFavorite: return value == false
            case _ where field.hasPrefix(Fields.tagPrefix): return value == false
            case _ where Fields.articleTextFields.contains(field) || field == Fields.content || field == Fields.wordCount: return value == .null
            case Fields.progress: return value == ReadingProgress(epoch: 0, position: 0).jsonValue
            default: return false
            }
        }
        return live.allSatisfy { $0.value == value }
    }

    mutating func siblings(of entity: EntityRef, _ field: String) throws -> [Change] {
        try siblings(of: entity, field, article: entity.articleID)
    }

    /// (`article`: `entity.articleID`, which the caller has.)
    private mutating func siblings(of entity: EntityRef, _ field: String, article: ArticleID?) throws -> [Change] {
        guard let article else {
            return try Self.decodeChanges(Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Self.columns) FROM change_log WHERE article_id IS NULL AND entity_type = ? AND entity_id = ? AND field = ?"),
                arguments: [entity.type, entity.id, field]))
        }
        return try live(article).lazy.filter { $0.change.field == field && $0.change.entity == entity }.map(\.change)
    }

    /// The live writes of an article and its highlights.
    mutating func liveChanges(ofArticle id: ArticleID) throws -> [Change] {
        try live(id).map(\.change)
    }

    private mutating func live(_ id: ArticleID) throws -> [Live] {
        if let known = working[id] { return known }
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(Self.columns), seq FROM change_log WHERE article_id = ? ORDER BY seq"), arguments: [id.rawValue])
        return try load(id, rows)
    }

    /// Reads the live changes of every article in `ids` not read yet, in one
    /// statement (a pulled page touches hundreds of articles: one query each
    /// was a twentieth of an initial sync).
    mutating func preload(_ ids: Set<ArticleID>) throws {
        let wanted = ids.filter { working[$0] == nil }.map(\.rawValue)
        guard wanted.count > 1 else { return }
        var rowsByArticle: [String: [Row]] = [:]
        let list = JSONValue.array(wanted.map { .string($0) }).canonicalText
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: """
                SELECT \(Self.columns), seq, article_id FROM change_log
                WHERE article_id IN (SELECT value FROM json_each(?)) ORDER BY article_id, seq
                """), arguments: [list])
        while let row = try rows.next() { rowsByArticle[row[LogColumn.articleID], default: []].append(row.copy()) }
        for text in wanted {
            try load(ArticleID(validating: text), rowsByArticle[text] ?? [])
        }
    }

    /// Enters an article's rows (by seq) in the working set.
    @discardableResult
    private mutating func load(_ id: ArticleID, _ rows: [Row]) throws -> [Live] {
        var loaded: [Live] = []
        loaded.reserveCapacity(rows.count)
        for row in rows {
            let seq: Int64 = row[LogColumn.seq]
            storedFirst[seq] = UInt64(row[LogColumn.counter] as Int64)
            for change in try Self.decodeRow(row) { loaded.append(Live(seq: seq, change: change)) }
        }
        if loaded.isEmpty { fresh.insert(id) }
        working[id] = loaded
        return loaded
    }

    static func liveChanges(ofArticle id: ArticleID, _ db: Database) throws -> [Change] {
        try decodeChanges(Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(columns) FROM change_log WHERE article_id = ? ORDER BY seq"), arguments: [id.rawValue]))
    }

    // MARK: Commit

    /// Leaves the articles this transaction touches to ``ReplicaStore/materializePending(chunk:)``:
    /// the log is written now, and the replica records (in the same
    /// transaction) that its articles must be materialised again from the start.
    mutating func defersMaterialization() {
        materializes = false
        marksPending = true
    }

    private var marksPending = false

    /// Re-materialises `id` at commit, without writing anything to its log
    /// (a row materialised by an earlier normaliser, see ``ReplicaStore/mergeURLVariants()``).
    mutating func rematerialize(_ id: ArticleID) throws {
        _ = try live(id)
        touched.insert(id)
        dirty = true
    }

    /// Writes back knowledge, clock and sequence, and re-materialises every touched article.
    mutating func commit() throws {
        guard dirty else { return }
        if marksPending, let first = touched.min() { try PendingMaterialization.mark(before: first, db) }
        // The articles are computed from their live changes alone, so a batch
        // (an import, a large save) computes them on the other cores while
        // this one writes its log rows; only the writes are sequential.
        let preparing = materializes ? try startPreparing(preparedArticles.take()) : nil
        defer { preparing?.group.wait() }
        try flushRows()
        openRun = nil
        // Clock and sequence (and knowledge, when it moved) in one statement.
        let upsert = " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        if knowledgeChanged {
            try db.cachedStatement(sql: "INSERT INTO replica_meta (key, value) VALUES ('hlc', ?), ('seq', ?), ('knowledge', ?)" + upsert)
                .execute(arguments: [String(clock.last.rawValue), String(nextSeq - 1), knowledge.compactText])
        } else {
            try db.cachedStatement(sql: "INSERT INTO replica_meta (key, value) VALUES ('hlc', ?), ('seq', ?)" + upsert)
                .execute(arguments: [String(clock.last.rawValue), String(nextSeq - 1)])
        }
        knowledgeChanged = false
        if inserts == nil { inserts = RawInserts(try db) }
        if let preparing {
            let rowsMayLinger = preparing.rowsMayLinger
            preparing.group.wait()
            for prepared in preparing.results.withLock({ $0 }) {
                let id = prepared.id
                let article = try Materializer.write(
                    prepared, &inserts!, known: rowsMayLinger || !fresh.contains(id),
                    // (While a pass is pending a row may be older than the
                    // log, its tags too: the pass leaves a row this commit
                    // brought up to date alone, so its tags are compared now.)
                    tagsMayChange: passPending || tagsTouched.contains(id))
                if id == keeping { materialized = article }
            }
        }
        try inserts?.notifyObservers()
    }

    /// The touched articles being prepared (``Materializer/prepareAll(_:searchText:cores:)``).
    private final class Preparing: Sendable {
        let group = DispatchGroup()
        let results = Mutex<[Materializer.Prepared]>([])
        /// Whether a deferred pass may have left rows of fresh articles behind.
        let rowsMayLinger: Bool
        init(rowsMayLinger: Bool) { self.rowsMayLinger = rowsMayLinger }
    }

    /// Starts preparing every touched article: on the other cores while
    /// ``commit()`` writes the log rows when there are many (a batch), here
    /// and now when there are few (one save: no hand-over to wait for).
    /// (`prepared`: what ``prepareWrites(cores:)`` computed, if it did.)
    private mutating func startPreparing(_ prepared: [Materializer.Prepared]?) throws -> Preparing {
        // A fresh article has no row to compare with (a save, a first pull):
        // no lookup, unless a deferred pass may have left rows behind.
        let preparing = Preparing(rowsMayLinger: !fresh.isEmpty && passPending)
        if let prepared {
            preparing.results.withLock { $0 = prepared }
            return preparing
        }
        var items: [(id: ArticleID, changes: [Change])] = []
        items.reserveCapacity(touched.count)
        // In id order: consecutive inserts into the indexes on the id meet the same pages.
        for id in touched.sorted() { items.append((id, try liveChanges(ofArticle: id))) }
        let (fresh, rowsMayLinger) = (self.fresh, preparing.rowsMayLinger)
        @Sendable func searchText(_ id: ArticleID) -> Bool { !rowsMayLinger && fresh.contains(id) }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard items.count >= Self.preparedApart, cores > 1 else {
            preparing.results.withLock { $0 = Materializer.prepareAll(items, searchText: searchText) }
            return preparing
        }
        DispatchQueue.global().async(group: preparing.group) { [items] in
            let prepared = Materializer.prepareAll(items, searchText: searchText, cores: cores - 1)
            preparing.results.withLock { $0 = prepared }
        }
        return preparing
    }

    /// From how many touched articles ``commit()`` prepares them beside its log writes.
    static let preparedApart = 256

    // MARK: Encoding

    /// The change_log columns a change is decoded from, at the positions ``LogColumn`` names.
    static let columns = "replica, counter, entity_type, entity_id, field, value, context, hlc"

    static func decodeChanges(_ rows: [Row]) throws -> [Change] {
        var changes: [Change] = []
        changes.reserveCapacity(rows.count)
        for row in rows { changes.append(contentsOf: try decodeRow(row)) }
        return changes
    }

    /// The change a row holds, or the changes of a run, in counter order.
    ///
    /// `contexts: false` reads the context of deletes only, for
    /// ``ArticleMaterializer`` over live changes: among live changes no
    /// context covers another's dot, so the others' contexts decide nothing
    /// there, and decoding them (a version vector per change of a run) was
    /// a fifth of the materialisation pass.
    static func decodeRow(_ row: Row, contexts: Bool = true) throws -> [Change] {
        let replicaText: String = row[LogColumn.replica]
        guard let replica = ReplicaID(replicaText) else { throw StoreError.database("corrupt replica id '\(replicaText)' in change_log") }
        let entity = EntityRef(type: row[LogColumn.entityType], id: row[LogColumn.entityID])
        let field = row[LogColumn.field] as String?
        let context = contexts || field == Fields.deleted ? try decodeContext(row[LogColumn.context]) : VersionVector()
        let hlc = HLC(rawValue: UInt64(bitPattern: row[LogColumn.hlc] as Int64))
        if let field {
            return [Change(
                dot: Dot(replica, UInt64(row[LogColumn.counter] as Int64)), entity: entity, field: field,
                value: try decodeValue(row[LogColumn.value]), context: context, hlc: hlc)]
        }
        let members = try runMembers(row[LogColumn.value])
        var changes: [Change] = []
        changes.reserveCapacity(members.count)
        for (counter, write) in members {
            var own = context
            if contexts { own[replica] = counter - 1 }
            changes.append(Change(dot: Dot(replica, counter), entity: entity, field: write.field, value: write.value, context: own, hlc: hlc))
        }
        return changes
    }

    /// The members of a run row's `value`, `[[counter, field, value], ...]`, in order.
    static func runMembers(_ text: String) throws -> [(counter: UInt64, write: ChangeRun.Write)] {
        guard case let .array(members)? = JSONValue(jsonText: text), !members.isEmpty else {
            throw StoreError.database("corrupt run in change_log: \(text.prefix(60))")
        }
        var writes: [(counter: UInt64, write: ChangeRun.Write)] = []
        writes.reserveCapacity(members.count)
        for member in members {
            guard case let .array(parts) = member, parts.count == 3, let number = parts[0].numberValue,
                  let counter = UInt64(exactly: number), counter >= 1, let field = parts[1].stringValue else {
                throw StoreError.database("corrupt run in change_log: \(text.prefix(60))")
            }
            writes.append((counter, ChangeRun.Write(field: field, value: parts[2])))
        }
        return writes
    }

    /// The log entries of a row, from counter `floor + 1` on: a single change,
    /// or the run cut into pieces at its holes (replaced changes), each piece of
    /// more than one change a run. No context per change is decoded: a stored
    /// run is a run (its changes were checked when they joined it), so each
    /// piece only needs the row's context with its own first counter.
    static func entries(ofRow row: Row, above floor: UInt64) throws -> [LogEntry] {
        guard (row[LogColumn.field] as String?) == nil else {
            let change = try decodeRow(row)[0]
            return change.dot.counter > floor ? [.change(change)] : []
        }
        let replicaText: String = row[LogColumn.replica]
        guard let replica = ReplicaID(replicaText) else { throw StoreError.database("corrupt replica id '\(replicaText)' in change_log") }
        let writes = try runMembers(row[LogColumn.value]).filter { $0.counter > floor }
        guard !writes.isEmpty else { return [] }
        let entity = EntityRef(type: row[LogColumn.entityType], id: row[LogColumn.entityID])
        let context = try decodeContext(row[LogColumn.context])
        let hlc = HLC(rawValue: UInt64(bitPattern: row[LogColumn.hlc] as Int64))
        var entries: [LogEntry] = []
        var start = 0
        func cut(_ end: Int) {
            let first = writes[start].counter
            var own = context
            own[replica] = first - 1
            if end - start == 1 {
                let write = writes[start].write
                entries.append(.change(Change(dot: Dot(replica, first), entity: entity, field: write.field, value: write.value, context: own, hlc: hlc)))
            } else {
                entries.append(.run(ChangeRun(
                    replica: replica, counter: first, entity: entity, context: own, hlc: hlc, writes: writes[start..<end].map(\.write))))
            }
            start = end
        }
        for index in 1..<writes.count where writes[index].counter != writes[index - 1].counter + 1 { cut(index) }
        cut(writes.count)
        return entries
    }

    /// The live change at `dot`, looked up in the row (single or run) that would hold it.
    static func change(at dot: Dot, _ db: Database) throws -> Change? {
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(columns) FROM change_log WHERE replica = ? AND counter <= ? ORDER BY counter DESC LIMIT 1"),
            arguments: [dot.replica.rawValue, Int64(dot.counter)]) else { return nil }
        if (row[LogColumn.field] as String?) != nil {
            return (row[LogColumn.counter] as Int64) == Int64(dot.counter) ? try decodeRow(row).first : nil
        }
        return try decodeRow(row).first { $0.dot == dot }
    }

    static func decodeValue(_ text: String) throws -> JSONValue {
        guard let value = JSONValue(jsonText: text) else { throw StoreError.database("corrupt value in change_log: \(text.prefix(60))") }
        return value
    }

    /// Contexts are stored in ``VersionVector/compactText`` form.
    static func encode(_ context: VersionVector) -> String { context.compactText }

    static func decodeContext(_ text: String) throws -> VersionVector {
        guard let vector = VersionVector(compactText: text) else { throw StoreError.database("corrupt context in change_log: \(text.prefix(60))") }
        return vector
    }
}

/// The positions of a change_log row's columns, as the queries select
/// them: ``LogTransaction/columns``, then `seq`, then `article_id`.
///
/// Change-log rows are read by position, not by column name or through a
/// record type: they are the hot reads (loading an article's changes in a
/// write, applying and sending pages, the deferred materialisation pass),
/// and a name costs a lookup per column per row. Decoding 200 000 rows of a
/// replica (20 000 saved articles, 5 000 title edits) from a cursor, as
/// ``LogTransaction/decodeRow(_:contexts:)`` does, took 5.2-5.6 µs a row by position and
/// 8-15% more by name or through a `FetchableRecord` with `Columns` (release
/// build, two runs of 7 alternating rounds, medians); the column reads alone
/// were 0.84 µs by position, 1.13-1.31 µs by name or record. See
/// Docs/Performance.md, "Reading change_log rows".
enum LogColumn {
    static let replica = 0
    static let counter = 1
    static let entityType = 2
    static let entityID = 3
    static let field = 4
    static let value = 5
    static let context = 6
    static let hlc = 7
    /// `seq`, selected after ``LogTransaction/columns``.
    static let seq = 8
    /// `article_id`, selected after ``LogTransaction/columns`` and `seq`.
    static let articleID = 9
}

/// A `replaced_range` row: the dots `from...to` of `replica`, replaced,
/// kept at local sequence `seq` with the digest of the range.
struct StoredReplacedRange: FetchableRecord {
    /// The columns a query selects for this record.
    static let columns = "replica, from_counter, to_counter, seq, digest"

    enum Columns {
        static let replica = Column("replica")
        static let from = Column("from_counter")
        static let to = Column("to_counter")
        static let seq = Column("seq")
        static let digest = Column("digest")
    }

    var replica: String
    var from: UInt64
    var to: UInt64
    var seq: Int64
    var digest: UInt64

    init(row: Row) {
        replica = row[Columns.replica]
        from = UInt64(row[Columns.from] as Int64)
        to = UInt64(row[Columns.to] as Int64)
        seq = row[Columns.seq]
        digest = UInt64(bitPattern: row[Columns.digest] as Int64)
    }
}

/// Key-value settings of a replica (`replica_meta`).
enum Meta {
    static func get(_ key: String, _ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM replica_meta WHERE key = ?"), arguments: [key])
    }

    static func set(_ key: String, _ value: String?, _ db: Database) throws {
        if let value {
            try db.cachedStatement(
                sql: "INSERT INTO replica_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ).execute(arguments: [key, value])
        } else {
            try db.execute(sql: "DELETE FROM replica_meta WHERE key = ?", arguments: [key])
        }
    }
}

/// Keeps the `article` and `article_tag` tables equal to what the live writes say.
///
/// Writes only what differs from the stored row: an edit of one field
/// updates the columns it changed and leaves the tags and the indexes on
/// unchanged columns alone, so its transaction writes fewer pages.
enum Materializer {
    /// The `article` columns a row is compared and written by, in the order of ``Prepared/values``.
    ///
    /// The stored row is read by position: position `i` is `columns[i]`,
    /// compared with `values[i]` (the two lists are one table's header and
    /// row), so that a changed value names its column without a lookup.
    static let columns = ["visible", "normalized_url", "is_read", "is_archived", "is_favorite", "added_at", "conflict_count", "json"]
    static let insertion = "INSERT INTO article (id, \(columns.joined(separator: ", "))) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    /// The position of `visible` in ``columns``.
    private static let visibleColumn = 0

    /// What the database must hold for one article: computed from its live
    /// changes alone (pure, so that a pass can prepare many at once).
    struct Prepared: Sendable {
        var id: ArticleID
        /// Nil when no write of its URL is live: no row.
        var article: Article?
        var visible: Bool
        /// In the order of ``columns``.
        var values: [DatabaseValue]
        var tags: [String]
        /// Its searched text (the readable body is the costly part), derived
        /// here for an article that has no row yet, so that a batch derives it
        /// on every core; nil otherwise (``SearchIndex`` derives it only when
        /// the stored digest differs).
        var document: SearchIndex.Document?
    }

    /// `searchText`: derive the searched text too (for an article with no row yet).
    /// `readable`: the readable text of the article's content, when the caller extracted it already.
    static func prepare(_ id: ArticleID, changes: [Change], searchText: Bool = false, readable: ReadableDocument? = nil) -> Prepared {
        guard let (article, visible) = ArticleMaterializer.materialize(id: id, changes: changes) else {
            return Prepared(id: id, article: nil, visible: false, values: [], tags: [], document: nil)
        }
        let values: [DatabaseValue] = [
            visible.databaseValue, article.normalizedURL.databaseValue, article.isRead.databaseValue, article.isArchived.databaseValue,
            article.isFavorite.databaseValue, article.addedAt.databaseValue, article.conflicts.count.databaseValue,
            article.storageJSON.databaseValue,
        ]
        return Prepared(
            id: id, article: article, visible: visible, values: values, tags: visible ? article.tags : [],
            document: searchText && visible ? SearchIndex.Document(article, readable: readable) : nil)
    }

    /// Prepares every article of `items`, spread over the processor's cores
    /// (the articles are independent; results come back in order);
    /// `searchText` says which have no row yet (see ``prepare(_:changes:searchText:)``).
    static func prepareAll(
        _ items: [(id: ArticleID, changes: [Change])], searchText: @Sendable (ArticleID) -> Bool = { _ in false },
        readable: [ArticleID: ReadableDocument] = [:], cores: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> [Prepared] {
        @Sendable func prepare(_ item: (id: ArticleID, changes: [Change])) -> Prepared {
            Self.prepare(item.id, changes: item.changes, searchText: searchText(item.id), readable: readable[item.id])
        }
        let parts = min(cores, items.count / 64)
        guard parts > 1 else { return items.map(prepare) }
        let results = Mutex([[Prepared]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = (items.count * part / parts)..<(items.count * (part + 1) / parts)
            let prepared = items[range].map(prepare)
            results.withLock { $0[part] = prepared }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// Returns the article when it is visible.
    /// `known: false` says the article has no row yet (the caller checked), which saves a lookup.
    @discardableResult
    static func rematerialize(
        _ id: ArticleID, changes: [Change], _ db: Database, known: Bool = true, tagsMayChange: Bool = true
    ) throws -> Article? {
        try write(prepare(id, changes: changes), db, known: known, tagsMayChange: tagsMayChange)
    }

    /// Makes the `article` and `article_tag` rows of one article what `prepared` says.
    /// `tagsMayChange: false` says no tag field of the article changed (the
    /// caller knows its changes): its tag rows are then left alone, not read
    /// and compared, unless its visibility changed (only a visible article has tag rows).
    @discardableResult
    static func write(_ prepared: Prepared, _ db: Database, known: Bool = true, tagsMayChange: Bool = true) throws -> Article? {
        var inserts = RawInserts(db)
        let article = try write(prepared, &inserts, known: known, tagsMayChange: tagsMayChange)
        try inserts.notifyObservers()
        return article
    }

    /// ``write(_:_:known:tagsMayChange:)`` for a caller that makes many: its
    /// new rows go through `inserts`, whose observers the caller tells before it commits.
    @discardableResult
    static func write(_ prepared: Prepared, _ inserts: inout RawInserts, known: Bool = true, tagsMayChange: Bool = true) throws -> Article? {
        let db = inserts.db
        let id = prepared.id
        let stored = known ? try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(columns.joined(separator: ", ")) FROM article WHERE id = ?"),
            arguments: [id.rawValue]) : nil
        guard let article = prepared.article else {
            if stored != nil {
                try db.cachedStatement(sql: "DELETE FROM article_tag WHERE article_id = ?").execute(arguments: [id.rawValue])
                try db.cachedStatement(sql: "DELETE FROM article WHERE id = ?").execute(arguments: [id.rawValue])
            }
            return nil
        }
        let (values, tags, visible) = (prepared.values, prepared.tags, prepared.visible)
        guard let stored else {
            try inserts.insert(into: "article", Self.insertion) { row in
                row.bind(id.rawValue)
                for value in values { row.bind(value) }
            }
            for tag in tags {
                try inserts.insert(into: "article_tag", "INSERT INTO article_tag (article_id, tag) VALUES (?, ?)") { row in
                    row.bind(id.rawValue)
                    row.bind(tag)
                }
            }
            try SearchIndex.write(prepared, &inserts, known: false)
            return visible ? article : nil
        }
        let changed = values.indices.filter { stored[$0] != values[$0] }
        if !changed.isEmpty {
            let assignments = changed.map { "\(columns[$0]) = ?" }.joined(separator: ", ")
            var arguments = StatementArguments()
            for index in changed { arguments += [values[index]] }
            arguments += [id.rawValue]
            try db.cachedStatement(sql: "UPDATE article SET \(assignments) WHERE id = ?").execute(arguments: arguments)
            try SearchIndex.write(prepared, &inserts, known: true)
            // Tags change only with the article (its JSON holds them), and
            // only through a tag field or the article's visibility.
            guard tagsMayChange || changed.contains(visibleColumn) else { return visible ? article : nil }
            let before = try String.fetchAll(db.cachedStatement(sql: "SELECT tag FROM article_tag WHERE article_id = ?"), arguments: [id.rawValue])
            let (old, new) = (Set(before), Set(tags))
            for tag in old.subtracting(new) {
                try db.cachedStatement(sql: "DELETE FROM article_tag WHERE article_id = ? AND tag = ?").execute(arguments: [id.rawValue, tag])
            }
            for tag in new.subtracting(old) {
                try db.cachedStatement(sql: "INSERT INTO article_tag (article_id, tag) VALUES (?, ?)").execute(arguments: [id.rawValue, tag])
            }
        }
        return visible ? article : nil
    }
}
