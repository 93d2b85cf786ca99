import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Testing

/// Many random histories across 3 to 5 replicas, delivered through a faulty
/// channel (pages of random size, duplicated, split, cut short, offered out
/// of order), checking the five invariants of the merge contract.
@Suite("Seeded property tests")
struct PropertyTests {
    @Test(arguments: 0..<40 as Range<UInt64>)
    func randomHistoriesKeepTheInvariants(seed: UInt64) throws {
        var run = try RandomRun(seed: seed)
        for _ in 0..<90 { try run.step() }
        try run.checkInvariants()
    }

    /// Causally ordered edits give the same outcome whatever the clocks say.
    @Test(arguments: 0..<4 as Range<UInt64>)
    func clockSkewDoesNotChangeCausallyOrderedOutcomes(seed: UInt64) throws {
        var outcomes: Set<String> = []
        for skews in [[0, 0, 0], [31_536_000_000, 0, -3_600_000], [-86_400_000, 31_536_000_000, 0]] as [[Int64]] {
            let clock = ManualClock()
            let replicas = try (0..<3).map { try makeReplica($0 + 1, clock: clock, skew: skews[$0]) }
            var generator = SplitMix64(seed: seed)
            for step in 0..<30 {
                let replica = replicas[Int.random(in: 0..<3, using: &generator)]
                clock.advance(Int64.random(in: 1...5000, using: &generator))
                try RandomRun.randomOperation(on: replica, step: step, using: &generator)
                // Every edit is seen everywhere before the next: all edits are causally ordered.
                for replica in replicas.dropFirst() { try PeerSync.run(local: replica, remote: replicas[0]) }
                for replica in replicas.dropFirst() { try PeerSync.run(local: replica, remote: replicas[0]) }
            }
            // Timestamps (and the newest-first order) show the skewed clocks; everything else must agree.
            let list = try replicas[0].articles(includeContent: true).sorted { $0.id < $1.id }.map { article -> String in
                var copy = article
                copy.addedAt = 0
                copy.updatedAt = 0
                copy.highlights = copy.highlights.map { var h = $0; h.createdAt = 0; h.id = String(h.id.prefix(32)); return h }
                    .sorted { $0.quote < $1.quote }
                return copy.jsonValue(includeContent: true).canonicalText
            }
            #expect(try replicas[0].conflicted().isEmpty, "causally ordered edits never conflict")
            outcomes.insert(list.joined(separator: "\n"))
        }
        #expect(outcomes.count == 1)
    }
}

struct RandomRun {
    let seed: UInt64
    var generator: SplitMix64
    let clock = ManualClock()
    let replicas: [ReplicaStore]
    /// Every change any replica acknowledged (committed), by dot.
    var written: [Dot: Change] = [:]
    var lastCounter: [Int]
    var faults = (duplicated: 0, split: 0, cut: 0, refusedOutOfOrder: 0)

    init(seed: UInt64) throws {
        self.seed = seed
        generator = SplitMix64(seed: seed)
        let count = Int.random(in: 3...5, using: &generator)
        let skews: [Int64] = [0, 31_536_000_000, -3_600_000, 300_000, 0]
        let clock = self.clock
        replicas = try (0..<count).map { index in try makeReplica(index + 1, clock: clock, skew: skews[index]) }
        lastCounter = Array(repeating: 0, count: count)
    }

    mutating func step() throws {
        clock.advance(Int64.random(in: 1...600_000, using: &generator))
        if Int.random(in: 0..<10, using: &generator) < 7 {
            let index = Int.random(in: 0..<replicas.count, using: &generator)
            try Self.randomOperation(on: replicas[index], step: written.count, using: &generator)
            try record(index)
            try expectSound(replicas[index])
        } else {
            let a = Int.random(in: 0..<replicas.count, using: &generator)
            var b = Int.random(in: 0..<replicas.count - 1, using: &generator)
            if b >= a { b += 1 }
            try faultyTransfer(from: replicas[a], to: replicas[b])
            try faultyTransfer(from: replicas[b], to: replicas[a])
        }
    }

    /// Remembers the changes replica `index` just committed (they are live right after the operation).
    mutating func record(_ index: Int) throws {
        let store = replicas[index]
        for change in try store.liveChanges() where change.dot.replica == store.replicaID && change.dot.counter > lastCounter[index] {
            written[change.dot] = change
        }
        lastCounter[index] = Int(try store.knowledge()[store.replicaID])
    }

    /// Moves what `source` has and `target` lacks, page by page, through a faulty channel.
    mutating func faultyTransfer(from source: ReplicaStore, to target: ReplicaStore) throws {
        var knowledge = try target.knowledge()
        while true {
            let page = try source.outgoing(for: knowledge, limit: Int.random(in: 1...12, using: &generator))
            if page.isEmpty { return }
            switch Int.random(in: 0..<10, using: &generator) {
            case 0:  // the connection drops: the rest waits for the next sync
                faults.cut += 1
                return
            case 1:  // the page arrives twice
                faults.duplicated += 1
                try target.apply(page)
                let again = try target.apply(page)
                #expect(again.appliedChanges == 0)
            case 2 where page.count > 1:  // split into two batches
                faults.split += 1
                let cut = Int.random(in: 1..<page.count, using: &generator)
                try target.apply(Array(page[..<cut]))
                try target.apply(Array(page[cut...]))
            case 3 where page.count > 1:  // the second half arrives first
                let cut = Int.random(in: 1..<page.count, using: &generator)
                let before = try fingerprint(target)
                do {
                    try target.apply(Array(page[cut...]))
                } catch {
                    faults.refusedOutOfOrder += 1
                    #expect(try fingerprint(target) == before, "a refused batch changes nothing")
                }
                try target.apply(Array(page[..<cut]))
                try target.apply(Array(page[cut...]))
            default:
                try target.apply(page)
            }
            try expectSound(target)
            knowledge = try target.knowledge()
        }
    }

    func checkInvariants() throws {
        try syncAll(replicas)
        try syncAll(replicas)
        // 1. Convergence: identical visible state and conflicts everywhere.
        let states = try replicas.map(visibleState)
        #expect(Set(states).count == 1, "seed \(seed): replicas diverged")
        let knowledge = try replicas.map { try $0.knowledge() }
        #expect(Set(knowledge).count == 1, "seed \(seed): knowledge diverged")
        // 2. No lost write: every acknowledged write is live (displayed or a
        //    conflict sibling) or replaced by a write that causally followed it.
        let live = Dictionary(uniqueKeysWithValues: try replicas[0].liveChanges().map { ($0.dot, $0) })
        for change in written.values where live[change.dot] == nil {
            let replacedByLater = written.values.contains { other in
                other.entity == change.entity && other.field == change.field && other.dot != change.dot && other.context.covers(change.dot)
            }
            #expect(replacedByLater, "seed \(seed): write \(change) was lost")
        }
        for change in written.values {
            if let stored = live[change.dot] { #expect(stored.sameContent(as: change)) }
        }
        // 3. Idempotence: another full round moves nothing.
        for replica in replicas.dropFirst() {
            let report = try PeerSync.run(local: replica, remote: replicas[0])
            #expect(report.summary.pushedChanges == 0 && report.summary.pulledChanges == 0)
        }
        #expect(try replicas.map(visibleState) == states)
        // 4. One article per normalised URL.
        let list = try replicas[0].articles()
        #expect(Set(list.map(\.normalizedURL)).count == list.count)
        #expect(Set(list.map(\.id)).count == list.count)
        for article in list { #expect(article.id == ArticleID(url: try NormalizedURL(article.url))) }
        // 5. Clock independence is checked by `clockSkewDoesNotChangeCausallyOrderedOutcomes`.
        for replica in replicas { try expectSound(replica) }
    }

    static let pages = ["https://example.com/a", "https://example.com/b", "https://news.example.org/story", "http://blog.example.net/post/1"]
    static let variants = ["", "?utm_source=phone", "#top", "/", "?fbclid=xyz&utm_medium=mail"]
    static let words = ["Alpha", "Beta", "Gamma"]
    static let tags = ["swift", "news", "later"]

    /// One random user action; actions the article's state makes impossible are skipped.
    static func randomOperation(on store: ReplicaStore, step: Int, using generator: inout SplitMix64) throws {
        let list = try store.articles().sorted { $0.id < $1.id }  // independent of (skewed) save times
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &generator)] }
        let choice = Int.random(in: 0..<14, using: &generator)
        if list.isEmpty || choice < 2 {
            var url = pick(pages)
            let variant = pick(variants)
            url += variant == "/" && !url.hasSuffix("/") ? "/" : (variant == "/" ? "" : variant)
            let title: String? = Bool.random(using: &generator) ? pick(words) : nil
            let tags = Bool.random(using: &generator) ? [pick(Self.tags)] : []
            try store.save(SaveRequest(url: url, title: title, tags: tags))
            return
        }
        let article = pick(list)
        let id = article.id.rawValue
        do throws(StoreError) {
            switch choice {
            case 2: try store.edit(id, [Fields.title: .string(pick(words))])
            case 3: try store.edit(id, [Fields.note: .string("note \(step)")])
            case 4: try store.setTags(id, [pick(tags)], present: true)
            case 5: if let tag = article.tags.first { try store.setTags(id, [tag], present: false) }
            case 6: try store.setRead(id, !article.isRead)
            case 7: try store.setProgress(id, Double(Int.random(in: 0...10, using: &generator)) / 10)
            case 8: try store.edit(id, [Fields.isArchived: .bool(!article.isArchived)])
            case 9: try store.edit(id, [Fields.isFavorite: .bool(!article.isFavorite)])
            case 10: try store.delete(id)
            case 11: try store.addHighlight(id, quote: "quote \(step)", position: 0.5)
            case 12:
                if let conflict = article.conflicts.first {
                    try store.resolveConflict(id, field: conflict.field, keep: Int.random(in: 1...conflict.values.count, using: &generator))
                } else if let highlight = article.highlights.first {
                    try store.deleteHighlight(highlight.id)
                }
            default: try store.save(SaveRequest(url: article.url, tags: [pick(tags)]))
            }
        } catch {
            // e.g. untagging a tag another write removed: the user would see the error.
            guard case .invalidOperation = error else { throw error }
        }
    }
}
