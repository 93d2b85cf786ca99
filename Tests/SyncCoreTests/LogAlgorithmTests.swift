import ReadingListModel
@testable import SyncCore
import Testing

/// The log algorithm's decisions (``LogApply``, ``LogRules``, ``ReplacedRanges``),
/// with no store: every store that keeps a log acts on these answers.
@Suite("Log algorithm")
struct LogAlgorithmTests {
    let url = "https://example.com/a"
    var id: ArticleID { article.articleID! }

    // MARK: The apply loop

    @Test func newChangesAreIntegratedAndKnownOnesChecked() throws {
        var apply = LogApply(knowledge: VersionVector())
        let first = write(1, 1, value: "one"), second = write(1, 2, value: "two")
        #expect(try apply.step(.change(first)) == .integrate(first))
        #expect(try apply.step(.change(second)) == .integrate(second))
        #expect(try apply.step(.change(first)) == .check(first.dot, digest: first.digest))
        #expect(apply.duplicates == 1)
        #expect(apply.gate.knowledge == VersionVector([r(1): 2]))
    }

    @Test func aGapIsRefusedAndTheGateKeepsItsKnowledge() {
        var apply = LogApply(knowledge: VersionVector([r(1): 1]))
        #expect(throws: SyncError.gap(replica: r(1), expected: 2, got: 3)) { try apply.step(.change(write(1, 3, value: "x"))) }
        #expect(apply.gate.knowledge == VersionVector([r(1): 1]))
        #expect(apply.duplicates == 0)
    }

    @Test func replacedRangesAreTrimmedToWhatIsNewOrCheckedAtTheirTop() throws {
        var apply = LogApply(knowledge: VersionVector([r(1): 3]))
        let known = ReplacedRange(replica: r(1), from: 1, to: 3, digest: 7)
        // Known: its top's digest is compared with the log's (a copy's replaced write is refused).
        #expect(try apply.step(.replaced(known)) == .check(Dot(r(1), 3), digest: 7))
        #expect(apply.duplicates == 1)
        let overlapping = ReplacedRange(replica: r(1), from: 2, to: 6, digest: 9)
        #expect(try apply.step(.replaced(overlapping)) == .record(ReplacedRange(replica: r(1), from: 4, to: 6, digest: 9)))
        #expect(apply.gate.knowledge == VersionVector([r(1): 6]))
        #expect(apply.duplicates == 1)
    }

    @Test func aKnownDotWithOtherContentIsACopiedReplica() throws {
        let change = write(1, 1, value: "one")
        try LogApply.check(change.dot, digest: change.digest, stored: change.digest)
        try LogApply.check(change.dot, digest: change.digest, stored: nil)  // inside a range: the log cannot tell
        #expect(throws: SyncError.conflictingDuplicate(change.dot)) { try LogApply.check(change.dot, digest: change.digest, stored: change.digest &+ 1) }
    }

    // MARK: Integrating a change

    @Test func concurrentWritesStayLiveTogether() {
        let a = write(1, 1, value: "a"), b = write(2, 1, value: "b")
        #expect(LogRules.integrate(b, siblings: [a]) == .init(replaced: [], live: true))
    }

    @Test func aWriteThatSawItsSiblingsReplacesThem() {
        let a = write(1, 1, value: "a"), b = write(2, 1, value: "b")
        let c = write(3, 1, value: "c", seen: [1: 1, 2: 1])
        let outcome = LogRules.integrate(c, siblings: [a, b])
        #expect(outcome.live)
        #expect(Set(outcome.replaced.map(\.dot)) == [a.dot, b.dot])
    }

    @Test func aWriteAlreadyReplacedOrAlreadyLiveIsNotStoredLive() {
        let old = write(1, 1, value: "old"), newer = write(2, 1, value: "new", seen: [1: 1])
        #expect(LogRules.integrate(old, siblings: [newer]) == .init(replaced: [], live: false))
        #expect(LogRules.integrate(newer, siblings: [newer]) == .init(replaced: [], live: false))
    }

    // MARK: Replaced ranges

    @Test func aRangeWithoutNeighboursIsStoredAsItIs() {
        let new = ReplacedRow(from: 5, to: 5, seq: 40, digest: 1)
        #expect(ReplacedRanges.belowEnd(of: new) == 4)
        #expect(ReplacedRanges.aboveStart(of: new) == 6)
        #expect(ReplacedRanges.merge(new, below: nil, above: nil) == new)
    }

    @Test func aRangeJoinsTheOneBelowKeepingItsOwnTop() {
        let new = ReplacedRow(from: 5, to: 6, seq: 40, digest: 1)
        let below = ReplacedRow(from: 1, to: 4, seq: 12, digest: 2)
        #expect(ReplacedRanges.merge(new, below: below, above: nil) == ReplacedRow(from: 1, to: 6, seq: 12, digest: 1))
    }

    @Test func aRangeJoinsTheOneAboveTakingItsTopsDigest() {
        let new = ReplacedRow(from: 5, to: 5, seq: 10, digest: 1)
        let above = ReplacedRow(from: 6, to: 9, seq: 30, digest: 3)
        #expect(ReplacedRanges.merge(new, below: nil, above: above) == ReplacedRow(from: 5, to: 9, seq: 10, digest: 3))
    }

    @Test func aRangeBridgesTwoNeighboursIntoOne() {
        let new = ReplacedRow(from: 5, to: 5, seq: 50, digest: 1)
        let below = ReplacedRow(from: 2, to: 4, seq: 20, digest: 2)
        let above = ReplacedRow(from: 6, to: 8, seq: 15, digest: 3)
        #expect(ReplacedRanges.merge(new, below: below, above: above) == ReplacedRow(from: 2, to: 8, seq: 15, digest: 3))
    }

    // MARK: Collection

    /// A saved article (replica 1), deleted by replica 2 after it saw the save.
    func savedAndDeleted() -> [Change] {
        let save = write(1, 1, Fields.url, .string(url))
        let title = write(1, 2, Fields.title, "T")
        let delete = write(2, 1, Fields.deleted, true, seen: [1: 2])
        return [save, title, delete]
    }

    @Test func anInvisibleArticleWithinTheHorizonIsForgottenWhole() {
        let live = savedAndDeleted()
        let horizon = VersionVector([r(1): 2, r(2): 1])
        #expect(LogRules.collected(article: id, live: live, horizon: horizon) == live)
    }

    @Test func aDeleteNotEveryReplicaAcknowledgedKeepsTheArticle() {
        let live = savedAndDeleted()
        #expect(LogRules.collected(article: id, live: live, horizon: VersionVector([r(1): 2])).isEmpty)
        #expect(LogRules.collected(article: id, live: live, horizon: VersionVector()).isEmpty)
    }

    @Test func aVisibleArticleOrOneWithoutADeleteIsKept() {
        var live = savedAndDeleted()
        // An edit the deleter had not seen brings the article back.
        let edit = write(3, 1, Fields.title, "again")
        let everything = VersionVector([r(1): 2, r(2): 1, r(3): 1])
        #expect(LogRules.collected(article: id, live: live + [edit], horizon: everything).isEmpty)
        live.removeLast()
        #expect(LogRules.collected(article: id, live: live, horizon: everything).isEmpty)
    }

    @Test func aServersCollectionForgetsOnlyWhatItsHorizonCovers() {
        let live = savedAndDeleted()
        let late = write(3, 1, Fields.title, "late")
        let horizon = VersionVector([r(1): 2, r(2): 1])
        #expect(LogRules.collected(live: live + [late], within: horizon) == live)
    }
}
