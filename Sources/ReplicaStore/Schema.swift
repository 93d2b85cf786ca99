import GRDB
import ReadableText
import SyncCore

/// The replica database schema and its one migrator.
enum Schema {
    /// Written in `replica_meta` as `format`, so that another SQLite file is never mistaken for a replica.
    static let format = "readinglist-replica"
    /// The schema version this build writes and reads. A file with a higher one is refused.
    static let version = 7

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE replica_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
                -- Highest counter seen per replica: this replica's knowledge.
                CREATE TABLE version_vector (replica TEXT PRIMARY KEY NOT NULL, counter INTEGER NOT NULL) WITHOUT ROWID;
                -- The live writes: every write no known write has replaced. seq is the local apply order (a causal order).
                CREATE TABLE change_log (
                    seq INTEGER PRIMARY KEY,
                    replica TEXT NOT NULL,
                    counter INTEGER NOT NULL,
                    entity_type TEXT NOT NULL,
                    entity_id TEXT NOT NULL,
                    field TEXT NOT NULL,
                    value TEXT NOT NULL,
                    context TEXT NOT NULL,
                    hlc INTEGER NOT NULL,
                    article_id TEXT
                );
                CREATE UNIQUE INDEX change_log_dot ON change_log (replica, counter);
                CREATE INDEX change_log_field ON change_log (entity_type, entity_id, field);
                CREATE INDEX change_log_article ON change_log (article_id);
                -- Dots whose writes were replaced, merged into ranges: a receiver needs them to advance without gaps.
                CREATE TABLE replaced_range (
                    replica TEXT NOT NULL,
                    from_counter INTEGER NOT NULL,
                    to_counter INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    digest INTEGER NOT NULL, -- of the change at to_counter
                    PRIMARY KEY (replica, from_counter)
                ) WITHOUT ROWID;
                -- The digest of every change made here, to tell a copied file from the original (ForkCheck).
                CREATE TABLE own_digest (counter INTEGER PRIMARY KEY NOT NULL, digest INTEGER NOT NULL);
                CREATE UNIQUE INDEX replaced_range_end ON replaced_range (replica, to_counter);
                -- Materialised articles (derived from change_log after every transaction).
                CREATE TABLE article (
                    id TEXT PRIMARY KEY NOT NULL,
                    visible INTEGER NOT NULL,
                    normalized_url TEXT NOT NULL,
                    is_read INTEGER NOT NULL,
                    is_archived INTEGER NOT NULL,
                    is_favorite INTEGER NOT NULL,
                    added_at INTEGER NOT NULL,
                    conflict_count INTEGER NOT NULL,
                    json TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX article_listing ON article (visible, added_at);
                CREATE TABLE article_tag (article_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, article_id)) WITHOUT ROWID;
                -- What each sync partner (a replica file or a server) was last known to have.
                CREATE TABLE sync_partner (
                    name TEXT PRIMARY KEY NOT NULL,
                    replica TEXT,
                    knowledge TEXT NOT NULL,
                    last_sync INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2") { db in
            // Sibling lookups read an article's live writes once per transaction
            // (by change_log_article), so the per-field index only slowed writes.
            // Tombstones get a small partial index: garbage collection, run on
            // every server sync, reads them without scanning the log.
            try db.execute(sql: """
                DROP INDEX change_log_field;
                CREATE INDEX change_log_tombstone ON change_log (entity_id)
                    WHERE entity_type = 'article' AND field = 'deleted' AND value = 'true';
                -- Counting the articles with conflicts after every sync must not read the whole list.
                CREATE INDEX article_conflicts ON article (id) WHERE visible = 1 AND conflict_count > 0;
                -- Re-materialising an article replaces its tags: without this, a scan of every tag.
                CREATE INDEX article_tag_article ON article_tag (article_id);
                -- Writes of entity types this version does not know (no article) are looked up by field.
                CREATE INDEX change_log_other ON change_log (entity_type, entity_id, field) WHERE article_id IS NULL;
                """)
        }
        migrator.registerMigration("v3") { db in
            // Changes made together (a save) are one row, a run: field is NULL and
            // value holds [[counter, field, value], ...]; counter is the first
            // live change's. Every row of v2 is a single change and stays one.
            try db.execute(sql: """
                CREATE TABLE change_log_v3 (
                    seq INTEGER PRIMARY KEY,
                    replica TEXT NOT NULL,
                    counter INTEGER NOT NULL,
                    entity_type TEXT NOT NULL,
                    entity_id TEXT NOT NULL,
                    field TEXT,
                    value TEXT NOT NULL,
                    context TEXT NOT NULL,
                    hlc INTEGER NOT NULL,
                    article_id TEXT
                );
                INSERT INTO change_log_v3 SELECT seq, replica, counter, entity_type, entity_id, field, value, context, hlc, article_id FROM change_log;
                DROP TABLE change_log;
                ALTER TABLE change_log_v3 RENAME TO change_log;
                CREATE UNIQUE INDEX change_log_dot ON change_log (replica, counter);
                CREATE INDEX change_log_article ON change_log (article_id);
                CREATE INDEX change_log_tombstone ON change_log (entity_id)
                    WHERE entity_type = 'article' AND field = 'deleted' AND value = 'true';
                CREATE INDEX change_log_other ON change_log (entity_type, entity_id, field) WHERE article_id IS NULL;
                """)
        }
        migrator.registerMigration("v4") { db in
            // Knowledge moves into replica_meta (key `knowledge`, compact text),
            // beside the clock and the sequence: every write transaction updates
            // all three, and one small table is one page to write, not two.
            var counters: [String] = []
            for row in try ReplicaCounterRow.fetchAll(db, sql: "SELECT replica, counter FROM version_vector WHERE counter > 0 ORDER BY replica") {
                // (The version 3 reader skipped a row whose id is not one; so does the move.)
                guard let replica = ReplicaID(row.replica) else { continue }
                counters.append("\(replica.rawValue):\(row.counter)")
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO replica_meta (key, value) VALUES ('knowledge', ?)", arguments: [counters.joined(separator: ",")])
            try db.execute(sql: "DROP TABLE version_vector")
            // Replaced ranges keyed by their end, with no second index: ranges of
            // one replica never overlap, so the end orders them as the start
            // does, and the neighbour above is the first end above. A write that
            // replaces a change updates one B-tree instead of two.
            try db.execute(sql: """
                CREATE TABLE replaced_range_v4 (
                    replica TEXT NOT NULL,
                    from_counter INTEGER NOT NULL,
                    to_counter INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    digest INTEGER NOT NULL, -- of the change at to_counter
                    PRIMARY KEY (replica, to_counter)
                ) WITHOUT ROWID;
                INSERT INTO replaced_range_v4 SELECT replica, from_counter, to_counter, seq, digest FROM replaced_range;
                DROP TABLE replaced_range;
                ALTER TABLE replaced_range_v4 RENAME TO replaced_range;
                """)
        }
        migrator.registerMigration("v5") { db in
            // The materialised article becomes a rowid table with its id in a
            // unique index. As a WITHOUT ROWID table keyed by a random id, every
            // save inserted a row of 700 bytes or more (the article's JSON, its
            // full text when it has one) into the middle of the B-tree, splitting
            // pages of large rows (SQLite advises WITHOUT ROWID for rows under a
            // twentieth of a page). Now the row is appended and only the small
            // index entry goes in the middle: measured by replaying a replica's
            // own SQL (readinglist-bench --schema-costs), 1.25 pages fewer per
            // save and about a fifth less SQLite time per article in a batch.
            try db.execute(sql: """
                CREATE TABLE article_v5 (
                    id TEXT NOT NULL,
                    visible INTEGER NOT NULL,
                    normalized_url TEXT NOT NULL,
                    is_read INTEGER NOT NULL,
                    is_archived INTEGER NOT NULL,
                    is_favorite INTEGER NOT NULL,
                    added_at INTEGER NOT NULL,
                    conflict_count INTEGER NOT NULL,
                    json TEXT NOT NULL
                );
                INSERT INTO article_v5 (id, visible, normalized_url, is_read, is_archived, is_favorite, added_at, conflict_count, json)
                    SELECT id, visible, normalized_url, is_read, is_archived, is_favorite, added_at, conflict_count, json FROM article ORDER BY id;
                DROP TABLE article;
                ALTER TABLE article_v5 RENAME TO article;
                CREATE UNIQUE INDEX article_id ON article (id);
                CREATE INDEX article_listing ON article (visible, added_at);
                CREATE INDEX article_conflicts ON article (id) WHERE visible = 1 AND conflict_count > 0;
                """)
        }
        migrator.registerMigration("v6") { db in
            // Search: the searched text of each visible article (its readable
            // body derived from its content) and an FTS5 index over it,
            // filled here from the articles already materialised (see SearchIndex).
            try SearchIndex.create(db)
            // A new file has no text derived under other rules: it says so, so that a
            // snapshot of it (a server's list) does not make every replica made from it
            // derive all its articles' text again (1.6 s for 100 000 articles, W2).
            // A file that had articles leaves that to `rederiveReadableText`, which also
            // fills what older rules did not extract.
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM article LIMIT 1") == nil {
                try Meta.set(SearchIndex.rulesKey, String(ReadableText.rulesVersion), db)
            }
        }
        migrator.registerMigration("v7") { db in
            // The materialiser writes the FTS5 index itself instead of
            // triggers on article_text: a trigger's statement journal made
            // FTS5 write a segment per article (see SearchIndex).
            try SearchIndex.dropCopyTriggers(db)
        }
        return migrator
    }
}

/// A replica and a counter: a row of version 3's `version_vector` table (read once, by
/// the v4 migration), or a replica's highest counter in the log (a snapshot's check).
struct ReplicaCounterRow: FetchableRecord {
    enum Columns {
        static let replica = Column("replica")
        static let counter = Column("counter")
    }

    var replica: String
    var counter: Int64

    init(row: Row) {
        replica = row[Columns.replica]
        counter = row[Columns.counter]
    }
}
