import Foundation
import GRDB
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Testing

/// Lists written before `url-v2` (ConflictResolution.md rule 4): articles
/// saved under a URL variant's id merge into the canonical article.
@Suite("url-v2 variant pass")
struct URLVariantTests {
    /// The id the current release (`url-v1`) gave a URL, from its `url-v1` form written by hand.
    static func v1ID(_ v1Form: String) throws -> ArticleID {
        try ArticleID(validating: String(SHA256.hex("url-v1\n" + v1Form).prefix(32)))
    }

    /// What a `url-v1` replica's save wrote: the article under `id`, the URL as given.
    static func saveAsV1(
        _ store: ReplicaStore, _ url: String, id: ArticleID, addedAt: Int64, title: String? = nil, tags: [String] = [], note: String? = nil,
        extra: [(String, JSONValue)] = []
    ) throws {
        var writes: [(entity: EntityRef, field: String, value: JSONValue)] = [
            (.article(id), Fields.deleted, false), (.article(id), Fields.url, .string(url)), (.article(id), Fields.addedAt, .number(Double(addedAt))),
        ]
        if let title { writes.append((.article(id), Fields.title, .string(title))) }
        if let note { writes.append((.article(id), Fields.note, .string(note))) }
        for tag in tags { writes.append((.article(id), Fields.tag(tag), true)) }
        for (field, value) in extra { writes.append((.article(id), field, value)) }
        try store.writeRaw(writes)
    }

    /// A replica file written by the current release holding one page as two
    /// articles (`%e3%83%91` and `%E3%83%91`), its rows materialised with the
    /// `url-v1` text, merges into one article keeping every field, on two
    /// replicas that then sync and converge.
    @Test func aListWrittenByTheCurrentReleaseMergesToOneArticleKeepingEveryField() throws {
        let clock = ManualClock()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("url-v2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("phone.sqlite").path
        let lower = "https://example.com/%e3%83%91"
        let upper = "https://example.com/%E3%83%91"
        let old = try Self.v1ID(lower), canonical = try Self.v1ID(upper)
        #expect(old != canonical)
        #expect(ArticleID(url: try NormalizedURL(lower)) == canonical)
        do {
            let phone = try ReplicaStore.open(path: path, now: clock.source(), replicaID: replicaID(1))
            try Self.saveAsV1(phone, lower, id: old, addedAt: clock.now, title: "Pa", tags: ["later"], note: "from the phone",
                              extra: [(Fields.isFavorite, true), (Fields.progress, ReadingProgress(epoch: 0, position: 0.4).jsonValue)])
            _ = try phone.addHighlight(old.rawValue, quote: "the key sentence", position: 0.2)
            clock.advance(60_000)
            try Self.saveAsV1(phone, upper, id: canonical, addedAt: clock.now, tags: ["swift"], note: "second note",
                              extra: [(Fields.isRead, true), (Fields.author, .string("Ann"))])
            try phone.close()
        }
        // The current release materialised normalizedURL as url-v1 wrote it.
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: "UPDATE article SET normalized_url = ?, json = replace(json, ?, ?) WHERE id = ?",
                               arguments: [lower, "\"normalizedURL\":\"\(upper)\"", "\"normalizedURL\":\"\(lower)\"", old.rawValue])
            }
            try queue.close()
        }
        let phone = try ReplicaStore.open(path: path, now: clock.source(), replicaID: replicaID(1))
        #expect(try phone.articles().count == 2)
        let laptop = try makeReplica(2, clock: clock)
        clock.advance(1000)
        try sync(phone, laptop)
        for store in [phone, laptop] {
            let list = try store.articles(includeContent: true)
            #expect(list.count == 1)
            let article = try #require(list.first)
            #expect(article.id == canonical)
            #expect(article.normalizedURL == upper)
            #expect(article.url == upper)
            #expect(article.title == "Pa")
            #expect(article.author == "Ann")
            #expect(article.tags == ["later", "swift"])
            #expect(article.note == "second note\n\nfrom the phone")
            #expect(article.isRead && article.isFavorite && !article.isArchived)
            #expect(article.progress.position == 0.4)
            #expect(article.addedAt == clock.now - 61_000)
            #expect(article.highlights.map(\.quote) == ["the key sentence"])
            #expect(article.highlights.first?.id.hasPrefix(canonical.rawValue + "/") == true)
            #expect(article.conflicts.isEmpty)
            // The old id, a prefix of it, and its URL still find the article.
            #expect(try store.resolve(old.rawValue) == canonical)
            #expect(try store.resolve(String(old.rawValue.prefix(8))) == canonical)
            #expect(try store.resolve(lower) == canonical)
            #expect(try store.article(old.rawValue).id == canonical)
        }
        #expect(try visibleState(phone) == visibleState(laptop))
        // Nothing left to move, and nothing merged again.
        let again = try sync(phone, laptop)
        #expect(again.summary.pushedChanges == 0 && again.summary.pulledChanges == 0)
        #expect(try phone.mergeURLVariants() == 0)
        #expect(try laptop.mergeURLVariants() == 0)
    }

    /// Two replicas on url-v2 that merge the same list without having seen
    /// each other's merge write equal values: no conflict.
    @Test func replicasMergingConcurrentlyConvergeWithoutConflicts() throws {
        let clock = ManualClock()
        let phone = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock), tablet = try makeReplica(3, clock: clock)
        for store in [phone, laptop, tablet] { store.setMergesURLVariants(false) }
        let variant = "https://例え.jp./a/../story"
        let old = try Self.v1ID("https://例え.jp./a/../story")
        let canonical = ArticleID(url: try NormalizedURL("https://xn--r8jz45g.jp/story"))
        try Self.saveAsV1(phone, variant, id: old, addedAt: clock.now, title: "Story", tags: ["jp"], note: "n")
        clock.advance(1000)
        try phone.save(SaveRequest(url: "https://xn--r8jz45g.jp/story", tags: ["news"]))
        try syncAll([phone, laptop, tablet])
        for store in [phone, laptop, tablet] {
            #expect(try store.articles().count == 2)
            store.setMergesURLVariants(true)
            clock.advance(10)
            #expect(try store.mergeURLVariants() == 1)
        }
        try syncAll([phone, laptop, tablet])
        let states = try [phone, laptop, tablet].map(visibleState)
        #expect(Set(states).count == 1)
        for store in [phone, laptop, tablet] {
            let list = try store.articles()
            #expect(list.map(\.id) == [canonical])
            #expect(list.first?.tags == ["jp", "news"])
            #expect(list.first?.title == "Story")
            #expect(list.first?.conflicts.isEmpty == true)
            #expect(try store.mergeURLVariants() == 0)
        }
    }

    /// A mixed network: one replica plays `url-v1` (no pass). It keeps
    /// working; its edit of the old article concurrent with the merge brings
    /// that article back (edit wins over delete), and the next pass on a
    /// url-v2 replica carries the edit into the canonical article.
    @Test func aMixedNetworkWithAURLv1ReplicaConverges() throws {
        let clock = ManualClock()
        let old1 = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock), phone = try makeReplica(3, clock: clock)
        old1.setMergesURLVariants(false)
        let variant = "https://example.com/%7Euser/story"
        let old = try Self.v1ID(variant)
        let canonical = ArticleID(url: try NormalizedURL("https://example.com/~user/story"))
        #expect(canonical.rawValue == "62039eb28517eeb78cb7095a179339f6")
        try Self.saveAsV1(old1, variant, id: old, addedAt: clock.now, title: "Old title", tags: ["a"])
        clock.advance(1000)
        // The phone, offline, saves the canonical form.
        try phone.save(SaveRequest(url: "https://example.com/~user/story", tags: ["b"]))
        // The laptop gets the old article without merging yet, then merges it on its own.
        laptop.setMergesURLVariants(false)
        try sync(old1, laptop)
        laptop.setMergesURLVariants(true)
        #expect(try laptop.mergeURLVariants() == 1)
        #expect(try laptop.articles().map(\.id) == [canonical])
        // Meanwhile the url-v1 replica edits the old article.
        clock.advance(1000)
        try old1.edit(old.rawValue, [Fields.title: .string("Edited on the old replica")])
        try old1.setTags(old.rawValue, ["c"], present: true)
        // Edit wins over delete: the old article comes back, and the laptop's pass merges it again.
        clock.advance(1000)
        try sync(old1, laptop)
        try syncAll([laptop, old1, phone])
        let states = try [old1, laptop, phone].map(visibleState)
        #expect(Set(states).count == 1)
        for store in [old1, laptop, phone] {
            let list = try store.articles()
            #expect(list.map(\.id) == [canonical])
            #expect(list.first?.title == "Edited on the old replica")
            #expect(list.first?.tags == ["a", "b", "c"])
            #expect(list.first?.conflicts.isEmpty == true)
            #expect(try store.resolve(old.rawValue) == canonical)
        }
        // Nothing moves any more.
        for store in [laptop, phone] { #expect(try store.mergeURLVariants() == 0) }
        let report = try sync(old1, laptop)
        #expect(report.summary.pushedChanges == 0 && report.summary.pulledChanges == 0)
    }

    /// A tag removed from the canonical article after the merge does not come
    /// back when the old article returns with an unrelated edit.
    @Test func aRemergeCarriesOnlyWhatChangedSince() throws {
        let clock = ManualClock()
        let oldReplica = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock)
        oldReplica.setMergesURLVariants(false)
        laptop.setMergesURLVariants(false)
        let variant = "https://Example.com./story"
        let old = try Self.v1ID("https://example.com./story")
        let canonical = ArticleID(url: try NormalizedURL("https://example.com/story"))
        try Self.saveAsV1(oldReplica, variant, id: old, addedAt: clock.now, tags: ["gone"], note: "mine")
        try sync(oldReplica, laptop)
        laptop.setMergesURLVariants(true)
        #expect(try laptop.mergeURLVariants() == 1)
        try laptop.setTags(canonical.rawValue, ["gone"], present: false)
        clock.advance(1000)
        try oldReplica.setRead(old.rawValue, true)
        try sync(oldReplica, laptop)
        for store in [oldReplica, laptop] {
            let article = try store.article(canonical.rawValue)
            #expect(article.tags.isEmpty)
            #expect(article.isRead)
            #expect(article.note == "mine")
            #expect(try store.articles().count == 1)
        }
        #expect(try visibleState(oldReplica) == visibleState(laptop))
    }

    /// A save of a variant on url-v2 lands on the canonical article directly.
    /// A pass that looked at many articles records how far it got, so the next
    /// sync's pass does not look at them again (every sync of a busy replica
    /// re-examined up to 5 000 log rows' articles, each URL normalised and hashed).
    @Test func aPassThatLooksAtManyArticlesMovesItsMark() throws {
        let path = try temporaryFolder() + "/a.sqlite"
        let store = try ReplicaStore.open(path: path)
        for index in 0..<200 { try store.save(SaveRequest(url: "https://example.com/\(index)", title: "T")) }
        #expect(try store.mergeURLVariants() == 0)
        func mark() throws -> (mark: Int64?, head: Int64?) {
            try DatabaseQueue(path: path).read { db in
                (try String.fetchOne(db, sql: "SELECT value FROM replica_meta WHERE key = 'url_variants_checked_seq'").flatMap { Int64($0) },
                 try Int64.fetchOne(db, sql: "SELECT max(seq) FROM change_log"))
            }
        }
        let first = try mark()
        #expect(first.mark != nil && first.mark == first.head)
        // A few edits: looked at again by each pass until the mark moves (cheap).
        for index in 0..<10 { try store.edit("https://example.com/\(index)", [Fields.title: "U"]) }
        #expect(try store.mergeURLVariants() == 0)
        #expect(try mark().mark == first.mark)
        // Many: the pass records its mark.
        for index in 0..<150 { try store.edit("https://example.com/\(index)", [Fields.title: "V"]) }
        #expect(try store.mergeURLVariants() == 0)
        let after = try mark()
        #expect(after.mark == after.head && after.mark != first.mark)
        try store.close()
    }

    @Test func savingAVariantLandsOnTheCanonicalArticle() throws {
        let clock = ManualClock()
        let store = try makeReplica(1, clock: clock)
        let first = try store.save(SaveRequest(url: "https://example.com/./a/%7euser", title: "T"))
        let second = try store.save(SaveRequest(url: "https://EXAMPLE.com./a/~user/", tags: ["x"]))
        #expect(first.article.id == second.article.id)
        #expect(second.outcome == .updated(written: ["tag:x"]))
        #expect(try store.articles().count == 1)
        #expect(try store.mergeURLVariants() == 0)
    }
}
