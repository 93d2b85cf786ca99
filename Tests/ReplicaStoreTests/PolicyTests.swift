import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Testing

@Suite("Merge policies through real replicas")
struct PolicyTests {
    let clock = ManualClock()

    @Test func concurrentTitleEditsSurfaceAConflictUntilAnEditResolvesIt() throws {
        let phone = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock)
        try phone.save(SaveRequest(url: pageA, title: "Original"))
        try sync(phone, laptop)
        clock.advance(1000)
        try phone.edit(pageA, [Fields.title: "Phone title"])
        clock.advance(1000)
        try laptop.edit(pageA, [Fields.title: "Laptop title"])
        try sync(phone, laptop)
        for replica in [phone, laptop] {
            let article = try replica.article(pageA)
            #expect(article.title == "Laptop title")  // the later HLC
            #expect(article.conflicts == [FieldConflict(field: "title", values: ["Laptop title", "Phone title"])])
        }
        try phone.edit(pageA, [Fields.title: "Agreed"])
        try sync(phone, laptop)
        for replica in [phone, laptop] {
            #expect(try replica.article(pageA).title == "Agreed")
            #expect(try replica.article(pageA).conflicts.isEmpty)
        }
        #expect(try visibleState(phone) == visibleState(laptop))
    }

    @Test func resolveKeepsTheChosenValue() throws {
        let phone = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock)
        try phone.save(SaveRequest(url: pageA))
        try sync(phone, laptop)
        try phone.edit(pageA, [Fields.note: "from phone"])
        clock.advance(5)
        try laptop.edit(pageA, [Fields.note: "from laptop"])
        try sync(phone, laptop)
        #expect(throws: StoreError.self) { try phone.resolveConflict(pageA, field: Fields.title, keep: 1) }
        try phone.resolveConflict(pageA, field: Fields.note, keep: 2)
        try sync(phone, laptop)
        #expect(try laptop.article(pageA).note == "from phone")
        #expect(try laptop.article(pageA).conflicts.isEmpty)
    }

    @Test(arguments: [true, false])
    func editAgainstDeleteOnEitherSideKeepsTheArticleWithEveryField(deleterIsFirst: Bool) throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T", tags: ["keep"], note: "n"))
        try sync(a, b)
        let (deleter, editor) = deleterIsFirst ? (a, b) : (b, a)
        try deleter.delete(pageA)
        try editor.setTags(pageA, ["new"], present: true)
        try sync(a, b)
        for replica in [a, b] {
            let article = try replica.article(pageA)
            #expect(article.tags == ["keep", "new"])
            #expect(article.title == "T" && article.note == "n")
        }
    }

    @Test func anEditTheDeleterHadSeenStaysDeleted() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T"))
        try a.edit(pageA, [Fields.note: "seen"])
        try sync(a, b)
        try b.delete(pageA)
        try sync(a, b)
        #expect(try a.articles().isEmpty && b.articles().isEmpty)
    }

    @Test func savingAgainAfterADeleteIsAFreshSave() throws {
        let a = try makeReplica(1, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "Old", tags: ["x"], note: "old note"))
        try a.setRead(pageA, true)
        try a.setProgress(pageA, 0.7)
        try a.addHighlight(pageA, quote: "a passage")
        try a.delete(pageA)
        #expect(throws: StoreError.self) { try a.article(pageA) }
        let (article, outcome) = try a.save(SaveRequest(url: pageA + "?utm_source=again", title: "New"))
        #expect(outcome == .created)
        #expect(article.title == "New")
        #expect(article.tags.isEmpty && article.note == nil && !article.isRead && article.progress.position == 0)
        #expect(article.highlights.isEmpty)
        #expect(article.url == pageA + "?utm_source=again")
        try expectSound(a)
    }

    @Test func savingAVisibleURLResetsNothing() throws {
        let a = try makeReplica(1, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T", tags: ["x"], note: "n"))
        try a.setProgress(pageA, 0.5)
        let (article, outcome) = try a.save(SaveRequest(url: pageA + "#again", tags: ["y", "x"]))
        #expect(outcome == .updated(written: ["tag:y"]))  // x was there already
        #expect(article.tags == ["x", "y"] && article.note == "n" && article.title == "T" && article.progress.position == 0.5)
        #expect(article.url == pageA)
    }

    @Test func concurrentAddAndRemoveOfOneTagKeepsIt() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, tags: ["later"]))
        try sync(a, b)
        try a.setTags(pageA, ["later"], present: false)
        clock.advance(10)  // the removal is not even the older write
        // b removes the tag and adds it again (adding a tag it still shows would write nothing).
        try b.setTags(pageA, ["later"], present: false)
        try b.setTags(pageA, ["later"], present: true)
        try a.setTags(pageA, ["gone"], present: true)
        try a.setTags(pageA, ["gone"], present: false)
        try sync(a, b)
        #expect(try a.article(pageA).tags == ["later"])
        #expect(try b.article(pageA).tags == ["later"])
    }

    @Test func progressNeverMovesBackwardsBetweenDevicesButReadAgainRestarts() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA))
        try sync(a, b)
        try a.setProgress(pageA, 0.8)
        clock.advance(1000)
        try b.setProgress(pageA, 0.3)  // later clock, less progress
        try sync(a, b)
        #expect(try a.article(pageA).progress == ReadingProgress(epoch: 0, position: 0.8))
        #expect(try b.article(pageA).progress == ReadingProgress(epoch: 0, position: 0.8))
        // A causally later write may move back (the user scrolled up).
        try b.setProgress(pageA, 0.5)
        try sync(a, b)
        #expect(try a.article(pageA).progress.position == 0.5)
        // Read again: a new epoch at 0 beats a concurrent 0.9 in the old epoch.
        try a.setRead(pageA, true)
        try sync(a, b)
        try a.setRead(pageA, false)
        try b.setProgress(pageA, 0.9)
        try sync(a, b)
        #expect(try a.article(pageA).progress == ReadingProgress(epoch: 1, position: 0))
        try b.setProgress(pageA, 0.2)
        try sync(a, b)
        #expect(try a.article(pageA).progress == ReadingProgress(epoch: 1, position: 0.2))
        #expect(try visibleState(a) == visibleState(b))
    }

    @Test func theSamePageSavedOfflineOnTwoDevicesIsOneArticle() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: "https://example.com/story?utm_source=twitter", title: "Story", tags: ["a"]))
        clock.advance(60_000)
        try b.save(SaveRequest(url: "https://EXAMPLE.com/story/#comments", title: "Story", tags: ["b"]))
        try sync(a, b)
        let list = try a.articles()
        #expect(list.count == 1)
        #expect(list[0].tags == ["a", "b"])
        #expect(list[0].conflicts.isEmpty)  // equal titles and equivalent URLs are no conflict
        #expect(list[0].addedAt == clock.now - 60_000)  // the earliest save
        #expect(try visibleState(a) == visibleState(b))
    }

    @Test func aHighlightOnAnArticleAnotherDeviceDeletedBringsItBack() throws {
        let a = try makeReplica(1, clock: clock), b = try makeReplica(2, clock: clock)
        try a.save(SaveRequest(url: pageA, title: "T"))
        try sync(a, b)
        try a.delete(pageA)
        let highlight = try b.addHighlight(pageA, quote: "keep this", note: "why")
        try sync(a, b)
        for replica in [a, b] {
            let article = try replica.article(pageA)
            #expect(article.highlights.map(\.id) == [highlight])
            #expect(article.highlights.first?.note == "why")
        }
    }

    @Test func threeWayConcurrentEditsConvergeInAnyOrder() throws {
        var states: Set<String> = []
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let clock = ManualClock()
            let replicas = try (1...3).map { try makeReplica($0, clock: clock) }
            try replicas[0].save(SaveRequest(url: pageA, title: "base"))
            try syncAll(replicas)
            for (index, replica) in replicas.enumerated() {
                clock.advance(7)
                try replica.edit(pageA, [Fields.title: .string("title \(index)"), Fields.note: .string("note \(index)")])
            }
            try sync(replicas[order[0]], replicas[order[1]])
            try sync(replicas[order[1]], replicas[order[2]])
            try sync(replicas[order[2]], replicas[order[0]])
            try sync(replicas[order[0]], replicas[order[1]])
            let article = try replicas[0].article(pageA)
            #expect(article.conflicts.first { $0.field == "title" }?.values == ["title 2", "title 1", "title 0"])
            for replica in replicas { states.insert(try visibleState(replica)) }
        }
        #expect(states.count == 1)
    }

    @Test func aClockAYearAheadOnlyWinsTiesItDidNotSee() throws {
        let year: Int64 = 365 * 86_400_000
        let ahead = try makeReplica(1, clock: clock, skew: year), normal = try makeReplica(2, clock: clock)
        try ahead.save(SaveRequest(url: pageA, title: "from the future"))
        try sync(ahead, normal)
        try normal.edit(pageA, [Fields.title: "later edit"])  // causally later, earlier clock
        try sync(ahead, normal)
        #expect(try ahead.article(pageA).title == "later edit")
        #expect(try ahead.article(pageA).conflicts.isEmpty)
        // A concurrent edit: the future clock wins the tie, and the conflict is shown.
        try normal.edit(pageA, [Fields.title: "normal"])
        try ahead.edit(pageA, [Fields.title: "ahead"])
        try sync(ahead, normal)
        #expect(try normal.article(pageA).title == "ahead")
        #expect(try normal.article(pageA).conflicts.first?.values == ["ahead", "normal"])
    }

    @Test func fieldsAndEntitiesThisVersionDoesNotKnowArePassedOn() throws {
        let newer = try makeReplica(1, clock: clock), older = try makeReplica(2, clock: clock), third = try makeReplica(3, clock: clock)
        try newer.save(SaveRequest(url: pageA, title: "T"))
        let id = ArticleID(url: try NormalizedURL(pageA))
        try newer.writeRaw([
            (EntityRef.article(id), "readingTimeMinutes", 7),
            (EntityRef(type: "collection", id: "c1"), "name", "Later"),
        ])
        try sync(newer, older)
        try sync(older, third)
        let passed = try third.liveChanges()
        #expect(passed.contains { $0.field == "readingTimeMinutes" && $0.value == 7 })
        #expect(passed.contains { $0.entity.type == "collection" && $0.value == "Later" })
        #expect(try third.article(pageA).title == "T")
    }
}

@Suite("A save always says keep this; a command that changes nothing writes nothing")
struct SaveKeepsTests {
    let clock = ManualClock()

    @Test func aSaveOfAnArticleStillInTheListBeatsAConcurrentDelete() throws {
        let phone = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock)
        try phone.save(SaveRequest(url: pageA, title: "T", tags: ["x"]))
        try sync(phone, laptop)
        try phone.delete(pageA)
        clock.advance(10)
        let (article, outcome) = try laptop.save(SaveRequest(url: pageA))  // no new field at all
        #expect(outcome == .updated(written: []))
        #expect(article.title == "T" && article.tags == ["x"])  // nothing reset
        try sync(phone, laptop)
        for replica in [phone, laptop] {
            let kept = try replica.article(pageA)
            #expect(kept.title == "T" && kept.tags == ["x"])
        }
    }

    @Test func credentialsInAURLAreNeverStoredNorSynced() throws {
        let phone = try makeReplica(1, clock: clock), laptop = try makeReplica(2, clock: clock)
        let saved = try phone.save(SaveRequest(url: "https://alice:s3cret@example.com/private?a=1#x")).article
        #expect(saved.url == "https://example.com/private?a=1#x")
        #expect(saved.id == (try phone.save(SaveRequest(url: "https://example.com/private?a=1")).article.id))
        try sync(phone, laptop)
        for replica in [phone, laptop] {
            let written = try replica.liveChanges().map(\.value.canonicalText).joined()
            #expect(!written.contains("s3cret") && !written.contains("alice"))
        }
    }

    @Test func readArchiveAndFavoriteThatChangeNothingWriteNothing() throws {
        let phone = try makeReplica(1, clock: clock)
        try phone.save(SaveRequest(url: pageA, tags: ["x"]))
        try phone.setRead(pageA, true)
        try phone.edit(pageA, [Fields.isArchived: true])
        let before = try phone.status().localChanges
        try phone.setRead(pageA, true)
        try phone.edit(pageA, [Fields.isArchived: true, Fields.isFavorite: false])
        try phone.setTags(pageA, ["x"], present: true)
        #expect(try phone.status().localChanges == before)
        // An unread article at the start of its read-through: "read again" changes nothing either.
        try phone.setRead(pageA, false)
        let unread = try phone.status().localChanges
        try phone.setRead(pageA, false)
        #expect(try phone.status().localChanges == unread)
        // A change that does change something is still written.
        try phone.edit(pageA, [Fields.isFavorite: true])
        #expect(try phone.status().localChanges > unread)
    }
}

@Suite("Progress and read state")
struct ProgressAndReadTests {
    @Test func reachingTheEndMarksReadAndMarkingReadLeavesTheProgress() throws {
        let phone = try makeReplica(1, clock: ManualClock())
        try phone.save(SaveRequest(url: pageA))
        try phone.setProgress(pageA, 0.4)
        #expect(try phone.setRead(pageA, true).progress.position == 0.4)
        try phone.setRead(pageA, false)
        #expect(try phone.article(pageA).progress.position == 0)
        let done = try phone.setProgress(pageA, 1)
        #expect(done.isRead && done.progress.position == 1)
        let before = try phone.status().localChanges
        try phone.setProgress(pageA, 1)
        #expect(try phone.status().localChanges == before)
    }
}
