import Foundation
import GRDB
import ReadableText
import ReadingListModel
import SyncCore

/// An article a search found, with the passage that matched.
public struct SearchHit: Sendable, Hashable {
    /// The article as the list shows it (without its content).
    public var article: Article
    /// Relevance: higher is better (SQLite FTS5's bm25, negated, with the
    /// title weighted most, then tags, highlights and notes, the excerpt, the text).
    public var score: Double
    /// A short passage around the matched words (from whichever of the
    /// title, excerpt, text, note, highlights or tags matched best), "…" where cut.
    public var snippet: String
    /// Where the matched words are in ``snippet``.
    public var matches: [Range<String.Index>]
}

extension ReplicaStore {
    /// The visible articles that match `query`, best first, at most `limit`.
    ///
    /// Searches titles, excerpts, the readable text derived from each
    /// article's content, notes, highlights (quotes and their notes) and
    /// tags, through an SQLite FTS5 index kept in step with the articles in
    /// the same transaction. Words are matched whole, case- and
    /// accent-insensitively, and by their English stem (`guarantee` finds
    /// `guarantees`); every word must match. Besides words, a query may hold
    /// `"a phrase"`, `word*` (a prefix), `-word` (without it) and `#tag` (that
    /// word in the tags). Any other punctuation is taken as a space, so no
    /// query is an error: one with no word finds nothing.
    ///
    /// ``observeSearch(_:limit:)`` gives the same results as a live value.
    public func search(_ query: String, limit: Int = 20) throws(StoreError) -> [SearchHit] {
        guard limit > 0, let match = SearchQuery.translate(query) else { return [] }
        return try read { db in try Self.search(match: match, limit: limit, db) }
    }

    /// The hits of the FTS5 query `match` (see ``SearchQuery``), best first, at most `limit`.
    static func search(match: String, limit: Int, _ db: Database) throws -> [SearchHit] {
        // Ranked on the index alone (no lookup per match: a common word matches most of the list),
        // then the few hits are read.
        var ranked: [(rowid: Int64, json: String, score: Double)] = []
        for hit in try RankedRow.fetchAll(db.cachedStatement(sql: SearchIndex.rankQuery), arguments: [match, limit]) {
            guard let json = try String.fetchOne(db.cachedStatement(sql: SearchIndex.articleQuery), arguments: [hit.rowid]) else { continue }
            ranked.append((hit.rowid, json, -hit.score))
        }
        var hits: [SearchHit] = []
        hits.reserveCapacity(ranked.count)
        for hit in ranked {
            var article = try JSONDecoder().decode(Article.self, from: Data(hit.json.utf8))
            article.content = nil
            let marked = try String.fetchOne(db.cachedStatement(sql: SearchIndex.snippetQuery), arguments: [match, hit.rowid]) ?? ""
            let (snippet, matches) = SearchIndex.unmark(marked)
            hits.append(SearchHit(article: article, score: hit.score, snippet: snippet, matches: matches))
        }
        // Equal scores in the same order on every replica (row ids differ between replicas).
        hits.sort { $0.score != $1.score ? $0.score > $1.score : $0.article.id.rawValue < $1.article.id.rawValue }
        return hits
    }

    /// The readable text of a visible article: its content without the
    /// page's clutter (see `ReadableText`), derived on this replica from
    /// the synced content. Nil when the article has no content.
    public func readableText(_ idOrURL: String) throws(StoreError) -> String? {
        try read { db in
            let id = try Self.resolve(idOrURL, db)
            let body = try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM article_text WHERE article_id = ?"), arguments: [id.rawValue])
            return body?.isEmpty == false ? body : nil
        }
    }

    /// Derives again what this replica derived from articles' content with
    /// an earlier version of the extraction rules (`ReadableText.rulesVersion`):
    /// run when the replica is opened, a no-op once done for the current rules.
    ///
    /// - The readable text in the search index: every visible article whose
    ///   indexed text was derived by other rules (its digest, which holds the
    ///   rules' version, differs) is indexed again.
    /// - The metadata (title, byline, site, excerpt, language, word count):
    ///   fields the article still lacks are filled from its content, as a
    ///   save does. Fields it holds are kept: they are synced, and whether the
    ///   user or an earlier derivation set one cannot be told apart. (Every
    ///   replica that runs the pass writes the same values, which are not a
    ///   conflict.)
    ///
    /// `chunk` articles (in id order) per transaction; `proceed` is asked
    /// before each chunk, and false leaves the rest for the next run.
    /// Interrupted, it starts again from the beginning the next time, and
    /// what it did already is found in step and passed over; the rules'
    /// version is recorded (`readable_rules` in `replica_meta`) with the last
    /// chunk. Returns the number of articles it changed.
    @discardableResult
    package func rederiveReadableText(chunk: Int = 500, proceed: () -> Bool = { true }) throws(StoreError) -> Int {
        let current = String(ReadableText.rulesVersion)
        // (A store that does not materialise, a snapshot being read, leaves it to the replica.)
        guard materializes, try read({ db in try Meta.get(SearchIndex.rulesKey, db) }) != current else { return 0 }
        var after = ""
        var changed = 0
        while proceed() {
            let (last, count): (String?, Int) = try transaction { tx in
                let rows = try ArticleJSONRow.fetchAll(
                    tx.db.cachedStatement(sql: Self.rederiveChunkSQL),
                    arguments: [after, max(1, chunk)])
                var count = 0
                for row in rows {
                    let article = try JSONDecoder().decode(Article.self, from: Data(row.json.utf8))
                    guard let content = article.content else {
                        // (No derived text: only the digest, which holds the rules' version, moves.)
                        try SearchIndex.refresh(article, tx.db)
                        continue
                    }
                    let fields = SaveRequest(url: article.url, content: content).readableFields(keeping: article)
                    if fields.isEmpty {
                        if try SearchIndex.refresh(article, tx.db) { count += 1 }
                    } else {
                        // The commit materialises the article again, its text included.
                        try tx.writeLocal(.article(article.id), fields)
                        count += 1
                    }
                }
                let last = rows.last?.id
                if last == nil || rows.count < max(1, chunk) { try Meta.set(SearchIndex.rulesKey, current, tx.db) }
                return (rows.count < max(1, chunk) ? nil : last, count)
            }
            changed += count
            guard let last else { break }
            after = last
        }
        return changed
    }

    /// A chunk of the pass: the next visible articles after an id, by the id
    /// index (`+visible`). Left to itself the planner took `article_listing`
    /// (visible) and sorted every visible article for each chunk of 500:
    /// quadratic, 30 s of reads for the 100 000 articles of a snapshot.
    static let rederiveChunkSQL = "SELECT id, json FROM article WHERE +visible = 1 AND id > ? ORDER BY id LIMIT ?"

    /// Package-only, for tests: what the search index should hold and does
    /// not (an empty list when it is in step with the visible articles), and
    /// the FTS5 index's own integrity check.
    package func searchIndexProblems() throws(StoreError) -> [String] {
        try read { db in
            var problems: [String] = []
            var expected: [String: SearchIndex.Document] = [:]
            for text in try String.fetchAll(db, sql: "SELECT json FROM article WHERE visible = 1") {
                let article = try JSONDecoder().decode(Article.self, from: Data(text.utf8))
                expected[article.id.rawValue] = SearchIndex.Document(article)
            }
            var stored: [String: SearchIndex.Document] = [:]
            for row in try IndexedTextRow.fetchAll(db, sql: "SELECT article_id, \(SearchIndex.Document.columns) FROM article_text") {
                stored[row.articleID] = row.document
            }
            for (id, document) in expected where stored[id] != document {
                problems.append(stored[id] == nil ? "\(id): not indexed" : "\(id): indexed text differs")
            }
            for id in stored.keys where expected[id] == nil { problems.append("\(id): indexed but not visible") }
            do {
                try db.execute(sql: "INSERT INTO article_search (article_search, rank) VALUES ('integrity-check', 1)")
            } catch {
                problems.append("FTS5 integrity check: \(error)")
            }
            return problems.sorted()
        }
    }
}

extension SaveRequest {
    /// What the content of this save says of itself (nil without content):
    /// see `ReadableText.extract(_:)`.
    package var readableDocument: ReadableDocument? { content.map(ReadableText.extract) }

    /// The metadata fields a save of this request fills from its content:
    /// title, author (the byline), site name, excerpt, language and word
    /// count, each only when this request does not give it and `existing`
    /// (the article as it is, when the save updates one) does not hold it.
    /// ``ReplicaStore/save(_:)-(SaveRequest)`` writes them in the same run as the save; an
    /// import that builds its own writes calls this for the same result.
    package func readableFields(keeping existing: Article?) -> [(String, JSONValue)] {
        readableFields(of: readableDocument, keeping: existing)
    }

    /// ``readableFields(keeping:)`` from `document`, this request's
    /// ``readableDocument`` computed before (an import extracts it on every
    /// core, outside the write transaction).
    func readableFields(of document: ReadableDocument?, keeping existing: Article?) -> [(String, JSONValue)] {
        guard let document else { return [] }
        var fields: [(String, JSONValue)] = []
        func fill(_ field: String, _ value: String?, given: String?, held: String?) {
            guard given == nil, held == nil, let value, !value.allSatisfy(\.isWhitespace) else { return }
            guard value.utf8.count <= FieldLimits.maxBytes(of: field) ?? .max else { return }
            fields.append((field, .string(value)))
        }
        fill(Fields.title, document.title, given: title, held: existing?.title)
        fill(Fields.author, document.byline, given: nil, held: existing?.author)
        fill(Fields.siteName, document.siteName, given: nil, held: existing?.siteName)
        fill(Fields.excerpt, document.excerpt, given: excerpt, held: existing?.excerpt)
        fill(Fields.language, document.language, given: nil, held: existing?.language)
        if existing?.wordCount == nil, document.wordCount > 0 { fields.append((Fields.wordCount, .number(Double(document.wordCount)))) }
        return fields
    }
}

/// The query language of ``ReplicaStore/search(_:limit:)``, translated into
/// an FTS5 query that cannot fail to parse: every word becomes a quoted FTS5
/// string (inside which only `"` is special, and it never reaches one), so
/// `:`, `-`, `*`, `^`, `(`, `)`, `+`, `NEAR`, `AND`, `OR` and `NOT` typed by a
/// user are text, never syntax.
enum SearchQuery {
    /// The FTS5 query for `text`, or nil when it holds no word to look for.
    static func translate(_ text: String) -> String? {
        var positive: [String] = []
        var negative: [String] = []
        var rest = Substring(text)
        while let start = rest.firstIndex(where: { !$0.isWhitespace }) {
            rest = rest[start...]
            var negated = false
            var column: String?
            if rest.first == "-", rest.dropFirst().first.map({ !$0.isWhitespace }) == true {
                negated = true
                rest = rest.dropFirst()
            }
            if rest.first == "#", rest.dropFirst().first.map({ !$0.isWhitespace && $0 != "#" }) == true {
                column = "tags"
                rest = rest.dropFirst()
            }
            var words: Substring
            if rest.first == "\"" {
                // A phrase, to the next quote (or the end).
                let body = rest.dropFirst()
                let end = body.firstIndex(of: "\"") ?? body.endIndex
                words = body[body.startIndex..<end]
                rest = end < body.endIndex ? body[body.index(after: end)...] : body[end...]
            } else {
                let end = rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
                words = rest[rest.startIndex..<end]
                rest = rest[end...]
            }
            var prefix = false
            while words.last == "*" {
                prefix = true
                words = words.dropLast()
            }
            // Only letters and digits are looked for; anything else separates words.
            let tokens = words.split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            guard !tokens.isEmpty else { continue }
            var term = "\"" + tokens.joined(separator: " ") + "\"" + (prefix ? " *" : "")
            if let column { term = "{\(column)} : " + term }
            if negated { negative.append(term) } else { positive.append(term) }
        }
        guard !positive.isEmpty else { return nil }
        let all = positive.joined(separator: " AND ")
        guard !negative.isEmpty else { return all }
        return "(\(all)) NOT (\(negative.joined(separator: " OR ")))"
    }
}

/// The search index: `article_text` holds, for each visible article, the
/// text that is searched (the readable body derived from its content
/// included), and `article_search` is an FTS5 index over it (external
/// content: the text is stored once).
///
/// The materialiser writes both (``write(_:_:known:)``) in the same
/// transaction as the article's row, rather than triggers on `article`:
/// the body comes from Swift code (`ReadableText`), which a trigger could
/// only reach through an application-defined SQL function, and then any
/// other SQLite client writing the file (the benchmark's replay of a
/// replica's SQL, the `sqlite3` shell) would fail on it; the materialiser
/// also knows when none of the searched text changed (a progress or read
/// edit), which a trigger would see only as a changed JSON column.
///
/// Nor do triggers on `article_text` copy its rows into `article_search`
/// (schema 6 had them; schema 7 dropped them): a statement that fires a
/// trigger runs in a statement journal, and SQLite 3.40's FTS5 writes its
/// pending terms out as a new segment at every statement savepoint, so a
/// batch of 5 000 saves wrote 5 000 one-article segments and merged them
/// again and again (most of an import's time, see Docs/Performance.md, W9).
/// Single-row statements without triggers open no statement journal: the
/// terms of a whole batch gather in FTS5's memory and are written once, at
/// commit or when ``hashSize`` fills. One trigger remains on `article`: a row
/// deleted outright takes its text and its index entries with it, whoever
/// deletes it (rare: a purge).
enum SearchIndex {
    /// The two tables (schema 6 and later).
    static let tables = """
        CREATE TABLE article_text (
            id INTEGER PRIMARY KEY,
            article_id TEXT NOT NULL UNIQUE,
            digest INTEGER NOT NULL, -- of the searched fields and the extraction rules: unchanged, nothing to index
            title TEXT NOT NULL,
            excerpt TEXT NOT NULL,
            body TEXT NOT NULL,      -- the readable text derived from the content (ReadableText)
            notes TEXT NOT NULL,
            highlights TEXT NOT NULL,
            tags TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE article_search USING fts5(
            title, excerpt, body, notes, highlights, tags,
            content = 'article_text', content_rowid = 'id',
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """

    /// Schema 6's triggers (dropped by schema 7, see above).
    static let version6Triggers = """
        CREATE TRIGGER article_text_insert AFTER INSERT ON article_text BEGIN
            INSERT INTO article_search (rowid, title, excerpt, body, notes, highlights, tags)
                VALUES (new.id, new.title, new.excerpt, new.body, new.notes, new.highlights, new.tags);
        END;
        CREATE TRIGGER article_text_delete AFTER DELETE ON article_text BEGIN
            INSERT INTO article_search (article_search, rowid, title, excerpt, body, notes, highlights, tags)
                VALUES ('delete', old.id, old.title, old.excerpt, old.body, old.notes, old.highlights, old.tags);
        END;
        CREATE TRIGGER article_text_update AFTER UPDATE ON article_text BEGIN
            INSERT INTO article_search (article_search, rowid, title, excerpt, body, notes, highlights, tags)
                VALUES ('delete', old.id, old.title, old.excerpt, old.body, old.notes, old.highlights, old.tags);
            INSERT INTO article_search (rowid, title, excerpt, body, notes, highlights, tags)
                VALUES (new.id, new.title, new.excerpt, new.body, new.notes, new.highlights, new.tags);
        END;
        CREATE TRIGGER article_gone AFTER DELETE ON article BEGIN
            DELETE FROM article_text WHERE article_id = old.id;
        END;
        """

    /// Schema 7: the materialiser keeps `article_search` in step itself; only
    /// a deleted `article` row still reaches the index through a trigger.
    static let version7Triggers = """
        DROP TRIGGER article_text_insert;
        DROP TRIGGER article_text_delete;
        DROP TRIGGER article_text_update;
        DROP TRIGGER article_gone;
        CREATE TRIGGER article_gone AFTER DELETE ON article BEGIN
            INSERT INTO article_search (article_search, rowid, title, excerpt, body, notes, highlights, tags)
                SELECT 'delete', id, title, excerpt, body, notes, highlights, tags FROM article_text WHERE article_id = old.id;
            DELETE FROM article_text WHERE article_id = old.id;
        END;
        """

    /// Bytes of terms FTS5 gathers in memory before it writes them out as a
    /// segment (its default is 1 MiB). A 5 000-article import batch holds
    /// about 2 MiB of terms: 8 MiB writes each batch as one segment, and
    /// fewer, larger segments are fewer merges. Only a large transaction
    /// ever fills this much; the memory is freed at commit.
    static let hashSize = 8 * 1024 * 1024

    /// Column weights for bm25, in the order of the columns: title, excerpt, body, notes, highlights, tags.
    static let rankQuery = """
        SELECT rowid, bm25(article_search, 10.0, 2.0, 1.0, 3.0, 3.0, 6.0) AS score
        FROM article_search WHERE article_search MATCH ? ORDER BY score, rowid LIMIT ?
        """
    /// (The content left out in SQL: a hit is shown without it, and decoding a long page for nothing is slow.)
    static let articleQuery = "SELECT json_remove(a.json, '$.content') FROM article_text t JOIN article a ON a.id = t.article_id WHERE t.id = ? AND a.visible = 1"
    /// Snippet markers: private-use characters, which saved text does not hold.
    static let open: Character = "\u{E000}"
    static let close: Character = "\u{E001}"
    static let snippetQuery = """
        SELECT snippet(article_search, -1, char(57344), char(57345), '…', 24) FROM article_search
        WHERE article_search MATCH ? AND rowid = ?
        """

    /// The searched text of an article.
    struct Document: Equatable, Sendable {
        var digest: Int64
        var title: String
        var excerpt: String
        var body: String
        var notes: String
        var highlights: String
        var tags: String

        init(digest: Int64, title: String, excerpt: String, body: String, notes: String, highlights: String, tags: String) {
            (self.digest, self.title, self.excerpt, self.body, self.notes, self.highlights, self.tags) =
                (digest, title, excerpt, body, notes, highlights, tags)
        }

        /// Binds the searched columns, in the index's order.
        func bindText(_ row: inout RawInserts.Binder) {
            for text in [title, excerpt, body, notes, highlights, tags] { row.bind(text) }
        }

        /// Derives it (the body is the expensive part: computed only when the
        /// digest says so); `readable`: the readable text of `article.content`,
        /// when the caller extracted it already.
        init(_ article: Article, readable: ReadableDocument? = nil) {
            let (title, excerpt, notes, highlights, tags) = Self.fields(article)
            let body = article.content.map { readable?.body ?? ReadableText.extract($0).body } ?? ""
            self.init(digest: Self.digest(article), title: title, excerpt: excerpt, body: body, notes: notes, highlights: highlights, tags: tags)
        }

        static func fields(_ article: Article) -> (String, String, String, String, String) {
            let highlights = article.highlights.map { [$0.quote, $0.note].compactMap { $0 }.joined(separator: "\n") }.joined(separator: "\n")
            return (article.title ?? "", article.excerpt ?? "", article.note ?? "", highlights, article.tags.joined(separator: " "))
        }

        /// FNV-1a over the searched fields (the content as given) and the
        /// extraction rules' version: stable across processes and platforms.
        static func digest(_ article: Article) -> Int64 {
            var hash = FNV1a()
            let (title, excerpt, notes, highlights, tags) = fields(article)
            for text in [String(ReadableText.rulesVersion), title, excerpt, notes, highlights, tags, article.content ?? ""] {
                hash.add(text)
                hash.separate()
            }
            return Int64(bitPattern: hash.value)
        }
    }

    /// The `replica_meta` key of the extraction rules' version the text and
    /// metadata were last derived with (see ``ReplicaStore/rederiveReadableText(chunk:proceed:)``).
    static let rulesKey = "readable_rules"

    /// Brings the indexed text of visible `article` in step with it, as
    /// ``write(_:_:known:)`` does; true when it wrote. Without content only
    /// the digest can differ (the rules' version is in it): it is updated in
    /// place, the index left alone.
    @discardableResult
    static func refresh(_ article: Article, _ db: Database) throws -> Bool {
        let digest = Document.digest(article)
        guard let row = try TextDigestRow.fetchOne(
            db.cachedStatement(sql: "SELECT id, digest FROM article_text WHERE article_id = ?"), arguments: [article.id.rawValue])
        else {
            var inserts = RawInserts(db)
            try insert(article, &inserts)
            try inserts.notifyObservers()
            return true
        }
        let rowid = row.id
        guard row.digest != digest else { return false }
        guard article.content != nil else {
            try db.cachedStatement(sql: "UPDATE article_text SET digest = ? WHERE id = ?").execute(arguments: [digest, rowid])
            return true
        }
        try update(rowid: rowid, Document(article), db)
        return true
    }

    /// Brings the searched text of one article in step with its materialised
    /// row: called by the materialiser after it wrote the row of `prepared`
    /// (`known: false`: the article had no row, so it has no text row either).
    static func write(_ prepared: Materializer.Prepared, _ inserts: inout RawInserts, known: Bool) throws {
        let (db, id) = (inserts.db, prepared.id.rawValue)
        guard let article = prepared.article, prepared.visible else {
            if known { try remove(articleID: id, db) }
            return
        }
        var rowid: Int64?
        if known, let row = try TextDigestRow.fetchOne(db.cachedStatement(sql: "SELECT id, digest FROM article_text WHERE article_id = ?"), arguments: [id]) {
            if row.digest == Document.digest(article) { return }
            rowid = row.id
        }
        if let rowid { try update(rowid: rowid, prepared.document ?? Document(article), db) } else { try insert(article, &inserts, prepared.document) }
    }

    /// Writes the text row of `article`, which has none, and indexes it
    /// (`document`: its ``Document``, when the caller derived it already).
    private static func insert(_ article: Article, _ inserts: inout RawInserts, _ document: Document? = nil) throws {
        let document = document ?? Document(article)
        try inserts.insert(into: "article_text", """
            INSERT INTO article_text (article_id, digest, title, excerpt, body, notes, highlights, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """) { row in
            row.bind(article.id.rawValue)
            row.bind(document.digest)
            document.bindText(&row)
        }
        let rowid = inserts.db.lastInsertedRowID
        try inserts.insert(into: "article_search", """
            INSERT INTO article_search (rowid, title, excerpt, body, notes, highlights, tags) VALUES (?, ?, ?, ?, ?, ?, ?)
            """) { row in
            row.bind(rowid)
            document.bindText(&row)
        }
    }

    /// Replaces the text row `rowid` with `document`, in the index too.
    private static func update(rowid: Int64, _ document: Document, _ db: Database) throws {
        try unindex(rowid: rowid, db)
        try db.cachedStatement(sql: """
            UPDATE article_text SET digest = ?, title = ?, excerpt = ?, body = ?, notes = ?, highlights = ?, tags = ? WHERE id = ?
            """).execute(arguments: [document.digest, document.title, document.excerpt, document.body, document.notes, document.highlights, document.tags, rowid])
        try index(rowid: rowid, document, db)
    }

    /// Adds the `article_text` row `rowid` (holding `document`) to the FTS5 index.
    private static func index(rowid: Int64, _ document: Document, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO article_search (rowid, title, excerpt, body, notes, highlights, tags) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [rowid, document.title, document.excerpt, document.body, document.notes, document.highlights, document.tags])
    }

    /// Takes the `article_text` row `rowid`, as it is stored, out of the FTS5
    /// index (an external-content index is told the old text to remove). Its
    /// text is read here and passed back as values: an `INSERT ... SELECT`
    /// would run in a statement journal (see the type's note).
    private static func unindex(rowid: Int64, _ db: Database) throws {
        guard let old = try Document.fetchOne(
            db.cachedStatement(sql: "SELECT \(Document.columns) FROM article_text WHERE id = ?"), arguments: [rowid])
        else { return }
        try db.cachedStatement(sql: """
            INSERT INTO article_search (article_search, rowid, title, excerpt, body, notes, highlights, tags) VALUES ('delete', ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [rowid, old.title, old.excerpt, old.body, old.notes, old.highlights, old.tags])
    }

    /// Takes an article's text out of the index (it is no longer visible).
    private static func remove(articleID id: String, _ db: Database) throws {
        guard let rowid = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM article_text WHERE article_id = ?"), arguments: [id]) else { return }
        try unindex(rowid: rowid, db)
        try db.cachedStatement(sql: "DELETE FROM article_text WHERE id = ?").execute(arguments: [rowid])
    }

    /// Creates the index and fills it from the materialised articles (the
    /// migration to schema 6 of a replica written before search existed):
    /// the text rows first, then the FTS5 index in one pass, then the
    /// triggers schema 6 had (schema 7 replaces them).
    static func create(_ db: Database) throws {
        try db.execute(sql: tables)
        for text in try String.fetchAll(db, sql: "SELECT json FROM article WHERE visible = 1 ORDER BY rowid") {
            let article = try JSONDecoder().decode(Article.self, from: Data(text.utf8))
            let document = Document(article)
            try db.cachedStatement(sql: """
                INSERT INTO article_text (article_id, digest, title, excerpt, body, notes, highlights, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    article.id.rawValue, document.digest, document.title, document.excerpt, document.body, document.notes, document.highlights,
                    document.tags,
                ])
        }
        try rebuild(db)
        try db.execute(sql: version6Triggers)
    }

    /// Schema 7: the triggers that copied `article_text` into the index give
    /// way to the materialiser's own statements, and FTS5 gathers more terms
    /// in memory before writing a segment (``hashSize``).
    static func dropCopyTriggers(_ db: Database) throws {
        try db.execute(sql: version7Triggers)
        try db.execute(sql: "INSERT INTO article_search (article_search, rank) VALUES ('hashsize', ?)", arguments: [hashSize])
    }

    /// Builds the FTS5 index afresh from `article_text`, in one statement
    /// (a replica that adopts a snapshot copies the text rows, then calls this).
    static func rebuild(_ db: Database) throws {
        try db.execute(sql: "INSERT INTO article_search (article_search) VALUES ('rebuild')")
    }

    /// The snippet's text without its markers, and where the marked words are.
    static func unmark(_ marked: String) -> (String, [Range<String.Index>]) {
        var text = ""
        var starts: [Int] = []
        var ranges: [(Int, Int)] = []
        var count = 0
        for character in marked {
            if character == open {
                starts.append(count)
            } else if character == close {
                if let start = starts.popLast() { ranges.append((start, count)) }
            } else {
                text.append(character)
                count += 1
            }
        }
        let matches = ranges.map { start, end in
            text.index(text.startIndex, offsetBy: start)..<text.index(text.startIndex, offsetBy: end)
        }
        return (text, matches)
    }
}

/// An `article_text` row as stored: its searched text and digest.
extension SearchIndex.Document: FetchableRecord {
    /// The columns a query selects for this record.
    static let columns = "digest, title, excerpt, body, notes, highlights, tags"

    enum Columns {
        static let digest = Column("digest")
        static let title = Column("title")
        static let excerpt = Column("excerpt")
        static let body = Column("body")
        static let notes = Column("notes")
        static let highlights = Column("highlights")
        static let tags = Column("tags")
    }

    init(row: Row) {
        self.init(
            digest: row[Columns.digest], title: row[Columns.title], excerpt: row[Columns.excerpt], body: row[Columns.body],
            notes: row[Columns.notes], highlights: row[Columns.highlights], tags: row[Columns.tags])
    }
}

/// An `article_text` row: the article it indexes and its ``SearchIndex/Document``.
private struct IndexedTextRow: FetchableRecord {
    enum Columns {
        static let articleID = Column("article_id")
    }

    var articleID: String
    var document: SearchIndex.Document

    init(row: Row) {
        articleID = row[Columns.articleID]
        document = SearchIndex.Document(row: row)
    }
}

/// An `article_text` row's id and digest: whether its text must be written again.
private struct TextDigestRow: FetchableRecord {
    enum Columns {
        static let id = Column("id")
        static let digest = Column("digest")
    }

    var id: Int64
    var digest: Int64

    init(row: Row) {
        id = row[Columns.id]
        digest = row[Columns.digest]
    }
}

/// A search hit as ranked on the index alone (``SearchIndex/rankQuery``).
private struct RankedRow: FetchableRecord {
    enum Columns {
        static let rowid = Column("rowid")
        static let score = Column("score")
    }

    /// The `article_text` row.
    var rowid: Int64
    /// bm25: lower is better.
    var score: Double

    init(row: Row) {
        rowid = row[Columns.rowid]
        score = row[Columns.score]
    }
}

/// A visible article's id and stored JSON.
private struct ArticleJSONRow: FetchableRecord {
    enum Columns {
        static let id = Column("id")
        static let json = Column("json")
    }

    var id: String
    var json: String

    init(row: Row) {
        id = row[Columns.id]
        json = row[Columns.json]
    }
}
