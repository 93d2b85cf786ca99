import Foundation
import GRDB
import ReadableText
import ReadingListModel
import SyncCore
import Synchronization

/// A highlight as an import gives it.
package struct ImportedHighlight: Sendable, Hashable, Codable {
    package var quote: String
    package var note: String?
    package var color: String?
    /// Where the quote starts, as a fraction of the article (0...1), if known.
    package var position: Double?
    /// Milliseconds since 1970, if the file says when it was made.
    package var createdAt: Int64?
    /// The highlight's id in this app's own export (nil for other apps):
    /// kept, so that two highlights of one quote stay two, and a round trip
    /// gives the same highlights. An id that does not belong to the article
    /// is ignored (the id is then derived from the quote).
    package var id: String?

    package init(
        quote: String, note: String? = nil, color: String? = nil, position: Double? = nil, createdAt: Int64? = nil, id: String? = nil
    ) {
        self.quote = quote
        self.note = note
        self.color = color
        self.position = position
        self.createdAt = createdAt
        self.id = id
    }
}

/// One article as an import gives it: what a save gives, plus the states,
/// times and highlights other apps export.
///
/// States (`isRead`, `isArchived`, `isFavorite`) only ever add: `false`
/// means "the file does not say", so an import never unarchives or unreads.
package struct ImportedArticle: Sendable, Hashable {
    /// URL, title, tags, note, content and excerpt, as a save gives them.
    package var request: SaveRequest
    package var author: String?
    package var siteName: String?
    package var imageURL: String?
    package var language: String?
    package var wordCount: Int?
    /// When it was first saved in the other app, in milliseconds since 1970 (nil: now).
    package var addedAt: Int64?
    package var isRead: Bool
    package var isArchived: Bool
    package var isFavorite: Bool
    /// Reading progress, 0...1 (nil: the file does not say).
    package var progress: Double?
    /// The read-through `progress` belongs to (this app's export says; nil: the current one).
    package var readEpoch: Int?
    package var highlights: [ImportedHighlight]
    /// The id of `request.url` (`ArticleID(url: NormalizedURL(request.url))`)
    /// when the caller has worked it out already, as the importer does for
    /// every row on every core; nil: the store works it out. A URL with an id
    /// here normalises.
    package var knownID: ArticleID?

    package init(
        request: SaveRequest, author: String? = nil, siteName: String? = nil, imageURL: String? = nil, language: String? = nil,
        wordCount: Int? = nil, addedAt: Int64? = nil, isRead: Bool = false, isArchived: Bool = false, isFavorite: Bool = false,
        progress: Double? = nil, readEpoch: Int? = nil, highlights: [ImportedHighlight] = []
    ) {
        self.request = request
        self.author = author
        self.siteName = siteName
        self.imageURL = imageURL
        self.language = language
        self.wordCount = wordCount
        self.addedAt = addedAt
        self.isRead = isRead
        self.isArchived = isArchived
        self.isFavorite = isFavorite
        self.progress = progress
        self.readEpoch = readEpoch
        self.highlights = highlights
    }
}

/// What ``ReplicaStore/importArticles(_:)`` did with one ``ImportedArticle``.
package enum ImportOutcome: Sendable, Hashable {
    /// Not in the list (or deleted): saved afresh.
    case created
    /// Already in the list: these fields (and `highlights` new highlights) were added.
    case updated(written: [String], highlights: Int)
    /// Already in the list with everything the import gives: nothing written.
    case unchanged
    /// Not written: why (an invalid URL, a field over its limit...). The rest of the batch is written.
    case refused(String)
}

extension ReplicaStore {
    /// Imports a batch of articles in one transaction: all the accepted ones
    /// or, on a database error, none (a crash leaves whole batches).
    ///
    /// Each article goes through the rules of ``save(_:)-(SaveRequest)``: URL normalisation,
    /// credentials stripped from the stored URL, the size and text limits of
    /// every field, `deleted = false`. An article not in the list (or deleted)
    /// is a fresh save, with the import's added time. For one already in the
    /// list the import adds only what it gives and the list lacks (the merge
    /// rules of rows that name one page):
    /// - tags are added (never removed); read, archived and favourite are
    ///   OR-ed (never cleared); the earlier added time is kept; progress only
    ///   moves forward within the current read-through;
    /// - a note the list lacks is set, a different one is appended after a
    ///   `---` line (unless the list's note already contains it);
    /// - title, excerpt, content, author, site, image, language and word
    ///   count fill only fields the list leaves empty (an import never
    ///   overwrites what the user has);
    /// - the readable text of the content (title, byline, site, excerpt,
    ///   language, word count) fills what neither the import nor the list
    ///   holds, as ``save(_:)-(SaveRequest)`` does;
    /// - a highlight whose quote the article already has is left alone.
    ///   Imported highlights get ids derived from the article and the quote,
    ///   so two devices importing the same file write the same highlights.
    ///
    /// An article that would change nothing writes nothing: importing the same
    /// file twice leaves the change log as it was. An article that breaks a
    /// rule is `refused` (with the reason) and the rest of the batch goes on.
    @discardableResult
    package func importArticles(_ items: [ImportedArticle]) throws(StoreError) -> [ImportOutcome] {
        try importChecked(items, Self.checkAll(items)).outcomes
    }

    /// Imports `items` in batches of `batchSize`, each as
    /// ``importArticles(_:)`` imports it (one transaction, all or nothing),
    /// in order; `batchWritten` is told each batch's range in `items` and its
    /// outcomes once it is committed. A database error stops the import at
    /// the batch it happened in: the batches before it stay written.
    ///
    /// While a batch is written, the next one is built on another core: its
    /// checks that need no database (URL, id, tags, limits) and, when none of
    /// its articles is in the log yet (an import into a new list), its whole
    /// transaction (the changes, the log rows' text, the materialised
    /// articles), built apart from where the batch before it ends. Its write
    /// transaction then only executes the statements, once it has checked
    /// that it starts where the build did (else the batch is written as any
    /// other: nothing another process wrote meanwhile is overlooked).
    package func importArticles(
        _ items: [ImportedArticle], batchSize: Int, batchWritten: (Range<Int>, [ImportOutcome]) -> Void
    ) throws(StoreError) {
        let size = max(1, batchSize)
        let ranges = stride(from: 0, to: items.count, by: size).map { $0..<min($0 + size, items.count) }
        guard let first = ranges.first else { return }
        // A bulk load: the write-ahead log is checkpointed every 40 MB rather
        // than every 4 MB, so that an index page every batch writes again
        // reaches the file fewer times (the default is restored at the end).
        let bulk = ranges.count > 1 && !bulkLoading.withLock({ $0 })
        if bulk { try bulkCheckpointing() }
        defer { if bulk { try? restoreCheckpointing() } }
        // Where the first batch starts, and which of the articles the log has:
        // a batch is built apart only when none of its articles is there.
        let (replica, start, inLog) = ranges.count > 1 && materializes ? try buildStart(items) : (replicaID, nil, [])
        // Where the next write starts if nothing but this import wrote to the
        // log since `start` was read (nil once something else did: no more builds).
        var chain = start
        var building = BatchBuild.start(Array(items[first]), from: start, inLog: inLog, replica: replica, now: now)
        // The last batch written, whose build (every change of thousands of
        // articles) the next build frees before it starts: on the building
        // core, into the allocator's arenas the building threads use. Freed
        // on a core of its own while the next batch was built, it made the
        // threads wait on the allocator's locks (futex samples in W9 647 ->
        // 453). The builds no build follows are freed on another core, never
        // on the writing one: freeing 5 000 pages' readable text there added
        // more than a second to W9c.
        var written: BatchBuild?
        for (number, range) in ranges.enumerated() {
            let build = building
            build.wait()
            let next = number + 1 < ranges.count ? Array(items[ranges[number + 1]]) : nil
            // The next batch is built (or, with no start to build from, only
            // checked) while this one is written, on every core: the writing
            // core often waits for the disk, and pages' readable text (an
            // import of pages) is most of a build. When this batch was not
            // built but the log is still this import's alone, the next one
            // waits for where this one ends, to be built from there.
            let ahead = next != nil && (build.end != nil || chain == nil)
            if let next, ahead {
                building = BatchBuild.start(next, from: build.end, inLog: inLog, replica: replica, now: now, freeing: written.take())
            }
            let outcomes: [ImportOutcome]
            do {
                let span: LogTransaction.Span?
                (outcomes, span) = try importBuilt(Array(items[range]), build)
                if let span { chain = chain != nil && span.start == chain ? span.end : nil }
            } catch {
                building.wait()
                throw error
            }
            if let next, !ahead {
                building = BatchBuild.start(next, from: chain, inLog: inLog, replica: replica, now: now, freeing: written.take())
            }
            batchWritten(range, outcomes)
            if let written { DispatchQueue.global().async { written.discard() } }
            written = build
        }
        if let written { DispatchQueue.global().async { written.discard() } }
    }

    /// The replica, where its log's next transaction starts, and which of
    /// `items`' articles the log has rows of (read together, in one snapshot).
    private func buildStart(_ items: [ImportedArticle]) throws(StoreError) -> (ReplicaID, LogTransaction.Start?, Set<ArticleID>) {
        let (replica, time) = (replicaID, now())
        return try read { db in
            let tx = try LogTransaction(db: db, replica: replica, now: time)
            // A new list (the usual first import) has no article in its log: no ids to compute.
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM change_log WHERE article_id IS NOT NULL LIMIT 1") != nil else {
                return (replica, tx.start, [])
            }
            let ids = Self.articleIDs(items)
            var inLog = Set<ArticleID>()
            let rows = try String.fetchCursor(
                db, sql: "SELECT DISTINCT article_id FROM change_log WHERE article_id IN (SELECT value FROM json_each(?))",
                arguments: [JSONValue.array(ids.map { .string($0.rawValue) }).canonicalText])
            while let text = try rows.next() { inLog.insert(try ArticleID(validating: text)) }
            return (replica, tx.start, inLog)
        }
    }

    /// The article ids of `items` with a valid URL, computed on every core.
    private static func articleIDs(_ items: [ImportedArticle]) -> [ArticleID] {
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, items.count / 1024))
        let results = Mutex([[ArticleID]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let ids = items[(items.count * part / parts)..<(items.count * (part + 1) / parts)].compactMap { item in
                item.knownID ?? (try? NormalizedURL(item.request.url)).map(ArticleID.init(url:))
            }
            results.withLock { $0[part] = ids }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// Writes one batch: as ``BatchBuild`` built it when its transaction
    /// starts where the build did, else as ``importChecked(_:_:)`` writes it.
    /// Returns where its transaction started and ended (nil: it wrote nothing).
    private func importBuilt(_ items: [ImportedArticle], _ build: BatchBuild) throws(StoreError) -> ([ImportOutcome], LogTransaction.Span?) {
        let built = build.built
        guard let detached = built.transaction, var outcomes = built.outcomes else { return try importChecked(items, built.checked) }
        let (written, span): ([(Int, ImportOutcome)]?, LogTransaction.Span) = try transaction({ tx in
            guard let start = tx.start, start == detached.start else {
                // Someone wrote to the log since the build began: build it here
                // (the refused items' outcomes are in `outcomes` already).
                var refused = outcomes
                return try Self.importAccepted(Self.accepted(items, built.checked, into: &refused), in: &tx)
            }
            tx = detached.attached(to: try tx.db)
            return nil
        }, then: { written, tx in (written, tx.span) })
        guard let written else {
            importBatchesBuiltApart.withLock { $0 += 1 }
            return (outcomes, span)
        }
        for (index, outcome) in written { outcomes[index] = outcome }
        return (outcomes, span)
    }

    /// The accepted items of a batch with their checks; `outcomes` gets the refused ones' reasons.
    private static func accepted(
        _ items: [ImportedArticle], _ checked: [Result<Checked, Refusal>], into outcomes: inout [ImportOutcome]
    ) -> [(index: Int, item: ImportedArticle, checked: Checked)] {
        var accepted: [(index: Int, item: ImportedArticle, checked: Checked)] = []
        accepted.reserveCapacity(items.count)
        for (index, checked) in checked.enumerated() {
            switch checked {
            case let .success(checked): accepted.append((index, items[index], checked))
            case let .failure(problem): outcomes[index] = .refused(problem.reason)
            }
        }
        return accepted
    }

    /// Writes `items` in one transaction, `checked` being ``checkAll(_:cores:)`` of them;
    /// returns where the transaction started and ended (nil: none was needed).
    private func importChecked(
        _ items: [ImportedArticle], _ checked: [Result<Checked, Refusal>]
    ) throws(StoreError) -> (outcomes: [ImportOutcome], span: LogTransaction.Span?) {
        var outcomes = [ImportOutcome](repeating: .unchanged, count: items.count)
        let accepted = Self.accepted(items, checked, into: &outcomes)
        guard !accepted.isEmpty else { return (outcomes, nil) }
        let (written, span) = try transaction({ tx in try Self.importAccepted(accepted, in: &tx) }, then: { written, tx in (written, tx.span) })
        for (index, outcome) in written { outcomes[index] = outcome }
        return (outcomes, span)
    }

    /// The body of a batch's transaction: each accepted item through ``importOne(_:_:in:)``.
    private static func importAccepted(
        _ accepted: [(index: Int, item: ImportedArticle, checked: Checked)], in tx: inout LogTransaction
    ) throws -> [(Int, ImportOutcome)] {
        // A batch asks the log about all its articles in one query, not one each.
        try tx.preload(Set(accepted.map(\.checked.id)))
        return try accepted.map { entry in (entry.index, try importOne(entry.item, entry.checked, in: &tx)) }
    }

    /// One batch being checked, and built when it can be, on another thread.
    private final class BatchBuild: @unchecked Sendable {
        // (Unchecked: `result` is written once, on the building thread, and
        // read only after `group.wait()`; its transaction is detached, holding
        // no connection.)
        struct Built {
            var checked: [Result<Checked, Refusal>]
            /// The batch's transaction built apart, when it could be (its
            /// articles all fresh, and nothing in it needed the database).
            var transaction: LogTransaction?
            /// Every item's outcome in that transaction (refused ones included).
            var outcomes: [ImportOutcome]?
        }

        private let group = DispatchGroup()
        private var result: Built?

        /// Checks `batch` and, from `start` (nil: do not build), builds its
        /// transaction, after freeing what `written` (a batch written) holds.
        static func start(
            _ batch: [ImportedArticle], from start: LogTransaction.Start?, inLog: Set<ArticleID>, replica: ReplicaID,
            now: @escaping @Sendable () -> Int64, freeing written: BatchBuild? = nil
        ) -> BatchBuild {
            let build = BatchBuild()
            DispatchQueue.global().async(group: build.group) {
                written?.discard()
                let checked = checkAll(batch)
                var result = Built(checked: checked)
                if let start {
                    var outcomes = [ImportOutcome](repeating: .unchanged, count: batch.count)
                    let accepted = ReplicaStore.accepted(batch, checked, into: &outcomes)
                    if !accepted.contains(where: { inLog.contains($0.checked.id) }) {
                        var tx = LogTransaction(detachedAt: start, replica: replica, now: now())
                        tx.assumeFresh(accepted.map(\.checked.id))
                        // A write that needs the database (or breaks a rule) leaves
                        // the batch to its write transaction, which meets it again.
                        // In id order, and so are the log rows: consecutive inserts into the indexes on the id meet the same pages.
                        let order = accepted.indices.map { (accepted[$0].checked.id, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
                        if let written = try? order.map({ position in
                            let entry = accepted[position]
                            return (entry.index, try importOne(entry.item, entry.checked, in: &tx))
                        }) {
                            for (index, outcome) in written { outcomes[index] = outcome }
                            // A page's readable text, extracted by the checks, is not extracted again for the index.
                            var readable: [ArticleID: ReadableDocument] = [:]
                            for entry in accepted { if let document = entry.checked.document { readable[entry.checked.id] = document } }
                            tx.prepareWrites(cores: ProcessInfo.processInfo.activeProcessorCount, readable: readable)
                            (result.transaction, result.outcomes) = (tx, outcomes)
                        }
                    }
                }
                build.result = result
            }
            return build
        }

        /// Waits until the batch is checked (and built).
        func wait() { group.wait() }

        /// What the build found; after ``wait()``.
        var built: Built { result! }

        /// Where the built transaction ends (nil: not built); after ``wait()``.
        var end: LogTransaction.Start? { result?.transaction?.end }

        /// Frees what the build holds (once the batch is written).
        func discard() { result = nil }
    }

    private struct Refusal: Error { var reason: String }

    /// What the checks outside the transaction found for an accepted item.
    private struct Checked: Sendable {
        var id: ArticleID
        /// Its tags, validated.
        var tags: [String]
        /// The readable text of its content (nil without content).
        var document: ReadableDocument?
    }

    /// Each item's id, validated tags and readable text, or why it is
    /// refused: the work that needs no database (URL normalisation, the id's
    /// digest, tags, the write rules, extracting the content's readable
    /// text), spread over the processor's cores for a large batch (the items
    /// are independent; results come back in order), outside the write
    /// transaction.
    private static func checkAll(
        _ items: [ImportedArticle], cores: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> [Result<Checked, Refusal>] {
        @Sendable func check(_ item: ImportedArticle) -> Result<Checked, Refusal> {
            do {
                // (Not `??`: its autoclosure would lose the typed throw.)
                let id: ArticleID
                if let known = item.knownID { id = known } else { id = ArticleID(url: try NormalizedURL(item.request.url)) }
                let tags = try item.request.tags.map { tag throws(ModelError) in try Tag.validated(tag) }
                if let problem = importProblem(item) { return .failure(Refusal(reason: problem)) }
                return .success(Checked(id: id, tags: tags, document: item.request.readableDocument))
            } catch {
                return .failure(Refusal(reason: error.description))
            }
        }
        let parts = min(cores, items.count / 256)
        guard parts > 1 else { return items.map(check) }
        let results = Mutex([[Result<Checked, Refusal>]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let checked = items[(items.count * part / parts)..<(items.count * (part + 1) / parts)].map(check)
            results.withLock { $0[part] = checked }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// Why `item` breaks a rule every local write follows (``LogTransaction``
    /// checks them as it writes, which would abort the whole batch), or nil.
    static func importProblem(_ item: ImportedArticle) -> String? {
        var texts: [(String, String?)] = [
            (Fields.url, item.request.url), (Fields.title, item.request.title), (Fields.note, item.request.note),
            (Fields.content, item.request.content), (Fields.excerpt, item.request.excerpt), (Fields.author, item.author),
            (Fields.siteName, item.siteName), (Fields.imageURL, item.imageURL), (Fields.language, item.language),
        ]
        for highlight in item.highlights {
            texts += [(Fields.quote, highlight.quote), (Fields.note, highlight.note), (Fields.color, highlight.color)]
        }
        for case let (field, text?) in texts {
            if let problem = textProblem(field, text) { return problem }
        }
        if let progress = item.progress, !(progress.isFinite && (0...1).contains(progress)) { return "progress \(progress) is not a fraction from 0 to 1" }
        if let position = item.highlights.compactMap(\.position).first(where: { !($0.isFinite && (0...1).contains($0)) }) {
            return "a highlight position \(position) is not a fraction from 0 to 1"
        }
        if let imageURL = item.imageURL {
            do { _ = try checkedImageURL(imageURL) } catch { return error.description }
        }
        return nil
    }

    /// Why `text` may not be written into `field` (the rules ``LogTransaction`` enforces), or nil.
    static func textProblem(_ field: String, _ text: String) -> String? {
        switch InputRules.violation(field, text) {
        case nil: nil
        case let .tooLarge(bytes, limit):
            "the \(field) holds \(FieldLimits.describe(bytes: bytes)), more than the \(FieldLimits.describe(bytes: limit)) it may"
        case .blank: "the \(field) is empty or only spaces"
        case let .controlCharacter(scalar): "the \(field) holds the control character U+\(String(scalar, radix: 16, uppercase: true))"
        }
    }

    /// ENRICHMENT CALL SITE: the one place an import enriches an article from
    /// its content. The readable text of `request.content` fills the fields
    /// that neither the import (`writes`) nor the article (`existing`) holds,
    /// as ``save(_:)-(SaveRequest)`` does (see `SaveRequest.readableFields`); a value that
    /// would break a write rule is left out rather than failing the batch.
    static func enrichment(
        _ request: SaveRequest, _ document: ReadableDocument?, existing: Article?, besides writes: [(String, JSONValue)]
    ) -> [(String, JSONValue)] {
        guard request.content != nil else { return [] }
        let written = Set(writes.map(\.0))
        return request.readableFields(of: document, keeping: existing).filter { field, value in
            guard !written.contains(field) else { return false }
            if case let .string(text) = value { return textProblem(field, text) == nil }
            return true
        }
    }

    /// The id of an imported highlight: the article's id and the quote's
    /// digest, so that the same highlight imported twice (or on two devices)
    /// is one entity.
    static func importedHighlightID(_ article: ArticleID, quote: String) -> String {
        let digest = SHA256.digest(Array(quote.utf8)).prefix(8)
        return "\(article.rawValue)/" + digest.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    private static func importOne(_ item: ImportedArticle, _ checked: Checked, in tx: inout LogTransaction) throws -> ImportOutcome {
        let (id, tags) = (checked.id, checked.tags)
        let entity = EntityRef.article(id)
        let live = try tx.liveChanges(ofArticle: id)
        let materialized = live.isEmpty ? nil : ArticleMaterializer.materialize(id: id, changes: live)
        let request = item.request
        let texts: [(String, JSONValue?)] = [
            (Fields.title, request.title.map(JSONValue.string)), (Fields.excerpt, request.excerpt.map(JSONValue.string)),
            (Fields.content, request.content.map(JSONValue.string)), (Fields.author, item.author.map(JSONValue.string)),
            (Fields.siteName, item.siteName.map(JSONValue.string)),
            (Fields.imageURL, item.imageURL.map { JSONValue.string(NormalizedURL.removingCredentials($0.trimmingCharacters(in: .whitespacesAndNewlines))) }),
            (Fields.language, item.language.map(JSONValue.string)), (Fields.wordCount, item.wordCount.map { JSONValue.number(Double($0)) }),
        ]
        if case let (current, visible)? = materialized, visible {
            var writes: [(String, JSONValue)] = []
            let held: [String: Bool] = [
                Fields.title: current.title != nil, Fields.excerpt: current.excerpt != nil, Fields.content: current.content != nil,
                Fields.author: current.author != nil, Fields.siteName: current.siteName != nil, Fields.imageURL: current.imageURL != nil,
                Fields.language: current.language != nil, Fields.wordCount: current.wordCount != nil,
            ]
            for case let (field, value?) in texts where held[field] != true { writes.append((field, value)) }
            writes += enrichment(request, checked.document, existing: current, besides: writes)
            if let note = request.note {
                if let existing = current.note {
                    if !existing.contains(note) { writes.append((Fields.note, .string(existing + "\n\n---\n\n" + note))) }
                } else {
                    writes.append((Fields.note, .string(note)))
                }
            }
            let has = Set(current.tags)
            for tag in Set(tags).sorted() where !has.contains(tag) { writes.append((Fields.tag(tag), true)) }
            if item.isRead && !current.isRead { writes.append((Fields.isRead, true)) }
            if item.isArchived && !current.isArchived { writes.append((Fields.isArchived, true)) }
            if item.isFavorite && !current.isFavorite { writes.append((Fields.isFavorite, true)) }
            // Progress moves forward only: a later read-through, or further in the current one.
            if let position = item.progress {
                let epoch = item.readEpoch ?? current.progress.epoch
                if epoch > current.progress.epoch || (epoch == current.progress.epoch && position > current.progress.position) {
                    writes.append((Fields.progress, ReadingProgress(epoch: epoch, position: position).jsonValue))
                }
            }
            if let addedAt = item.addedAt, addedAt < current.addedAt { writes.append((Fields.addedAt, .number(Double(addedAt)))) }
            // A highlight the article has (by id when the file gives one, else by quote) is left alone.
            let (ids, quotes) = (Set(current.highlights.map(\.id)), Set(current.highlights.map(\.quote)))
            var seen = Set<String>()
            let newHighlights = item.highlights.filter { highlight in
                let key = highlightID(highlight, of: id)
                guard seen.insert(key).inserted, !ids.contains(key) else { return false }
                return validHighlightID(highlight.id, of: id) != nil || !quotes.contains(highlight.quote)
            }
            guard !writes.isEmpty || !newHighlights.isEmpty else { return .unchanged }
            writes.sort { $0.0 < $1.0 }
            // As a save: "keep this" against a concurrent delete, with what it adds.
            try tx.writeLocal(entity, [(Fields.deleted, false)] + writes)
            try writeHighlights(newHighlights, of: id, in: &tx)
            return .updated(written: writes.map(\.0), highlights: newHighlights.count)
        }
        var writes: [(String, JSONValue)] = [
            (Fields.deleted, false),
            (Fields.url, .string(NormalizedURL.removingCredentials(request.url))),
            (Fields.addedAt, .number(Double(item.addedAt ?? tx.now))),
        ]
        var given: [(String, JSONValue)] = []
        for case let (field, value?) in texts { given.append((field, value)) }
        given += enrichment(request, checked.document, existing: nil, besides: given)
        if let note = request.note { given.append((Fields.note, .string(note))) }
        for tag in Set(tags) { given.append((Fields.tag(tag), true)) }
        if item.isRead { given.append((Fields.isRead, true)) }
        if item.isArchived { given.append((Fields.isArchived, true)) }
        if item.isFavorite { given.append((Fields.isFavorite, true)) }
        let state = EntityState(entity: entity, changes: live.filter { $0.entity == entity })
        if let position = item.progress, position > 0 || (item.readEpoch ?? 0) > 0 {
            let epoch = live.isEmpty ? item.readEpoch ?? 0 : max(nextEpoch(state), item.readEpoch ?? 0)
            given.append((Fields.progress, ReadingProgress(epoch: epoch, position: position).jsonValue))
        }
        given.sort { $0.0 < $1.0 }
        writes += given
        if !live.isEmpty {
            // A save after a delete is a fresh save: reset what this replica knows of (as `save` does).
            let written: Set<String> = Set(writes.map(\.0))
            for field in state.fields.keys.sorted() where !written.contains(field) {
                guard let reset = defaultValue(of: field, in: state) else { continue }
                writes.append((field, reset))
            }
        }
        try tx.writeLocal(entity, writes)
        if !live.isEmpty {
            let highlightIDs = Set(live.filter { $0.entity.type == EntityRef.highlightType }.map(\.entity))
            for highlight in highlightIDs.sorted() {
                let highlightState = EntityState(entity: highlight, changes: live.filter { $0.entity == highlight })
                if highlightState.isVisible() { try tx.writeLocal(highlight, Fields.deleted, true) }
            }
        }
        var seen = Set<String>()
        try writeHighlights(item.highlights.filter { seen.insert(highlightID($0, of: id)).inserted }, of: id, in: &tx)
        return .created
    }

    /// The id `highlight` is written under: the file's, when it belongs to
    /// the article, or one derived from the article and the quote.
    static func highlightID(_ highlight: ImportedHighlight, of article: ArticleID) -> String {
        validHighlightID(highlight.id, of: article) ?? importedHighlightID(article, quote: highlight.quote)
    }

    /// `id` when it is a highlight id of `article` (`ARTICLEID/` and 1 to 40 lowercase hex digits), else nil.
    static func validHighlightID(_ id: String?, of article: ArticleID) -> String? {
        guard let id, id.hasPrefix(article.rawValue + "/") else { return nil }
        let suffix = id.utf8.dropFirst(article.rawValue.utf8.count + 1)
        guard (1...40).contains(suffix.count), suffix.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return id
    }

    private static func writeHighlights(_ highlights: [ImportedHighlight], of id: ArticleID, in tx: inout LogTransaction) throws {
        for highlight in highlights {
            let entity = EntityRef.highlight(highlightID(highlight, of: id))
            var fields: [(String, JSONValue)] = [
                (Fields.deleted, false), (Fields.quote, .string(highlight.quote)),
                (Fields.createdAt, .number(Double(highlight.createdAt ?? tx.now))),
            ]
            if let position = highlight.position { fields.append((Fields.position, .number(position))) }
            if let note = highlight.note { fields.append((Fields.note, .string(note))) }
            if let color = highlight.color { fields.append((Fields.color, .string(color))) }
            try tx.writeLocal(entity, fields)
        }
    }
}
