import Foundation
import ReadingListModel
@testable import SyncCore
import Testing

@Suite("Runs of changes")
struct RunTests {
    /// A save by replica 1 at counters 4...6, having seen replica 2 up to 7.
    let save = [
        write(1, 4, Fields.deleted, false, seen: [2: 7], hlc: 99),
        write(1, 5, Fields.url, "https://example.com/a", seen: [2: 7], hlc: 99),
        write(1, 6, Fields.title, "T", seen: [2: 7], hlc: 99),
    ]

    @Test func aRunIsExactlyItsChanges() throws {
        let run = try #require(ChangeRun(save))
        #expect(run.counter == 4 && run.lastCounter == 6 && run.writes.map(\.field) == [Fields.deleted, Fields.url, Fields.title])
        #expect(run.changes == save)
        #expect(run.changes.map(\.digest) == save.map(\.digest))
        let json = try JSONEncoder().encode(LogEntry.run(run))
        #expect(try JSONDecoder().decode(LogEntry.self, from: json) == .run(run))
        #expect(LogEntry.run(run).expanded == save.map(LogEntry.change))
    }

    @Test func onlyChangesMadeTogetherFormARun() {
        #expect(ChangeRun([Change]()) == nil)
        // Another clock reading, another entity, a gap, another replica, another context.
        #expect(ChangeRun([save[0], write(1, 5, Fields.url, "u", seen: [2: 7], hlc: 100)]) == nil)
        #expect(ChangeRun([save[0], write(1, 5, Fields.url, "u", seen: [2: 7], hlc: 99, entity: .highlight("h"))]) == nil)
        #expect(ChangeRun([save[0], save[2]]) == nil)
        #expect(ChangeRun([save[0], write(2, 8, Fields.url, "u", seen: [1: 4], hlc: 99)]) == nil)
        #expect(ChangeRun([save[0], write(1, 5, Fields.url, "u", seen: [2: 8], hlc: 99)]) == nil)
        #expect(ChangeRun([save[0], write(1, 5, Fields.url, "u", seen: [2: 7, 3: 1], hlc: 99)]) == nil)
        // A replica's first changes: its own entry is absent from the first context.
        #expect(ChangeRun([write(3, 1, Fields.deleted, false, hlc: 5), write(3, 2, Fields.url, "u", hlc: 5)]) != nil)
    }

    @Test func coalescingKeepsTheOrderAndStopsAtRanges() throws {
        let range = ReplacedRange(replica: r(2), from: 1, to: 7, digest: 1)
        let lone = write(3, 1, Fields.note, "n", hlc: 7)
        let entries: [LogEntry] = [.replaced(range), .change(save[0]), .change(save[1]), .change(save[2]), .change(lone)]
        let coalesced = LogEntry.coalesced(entries)
        #expect(coalesced == [.replaced(range), .run(ChangeRun(save)!), .change(lone)])
        #expect(coalesced.flatMap(\.expanded) == entries)
        #expect(LogEntry.coalesced(coalesced) == coalesced)
    }

    @Test func theGateAdmitsARunAsItsChanges() throws {
        let run = LogEntry.run(ChangeRun(save)!)
        var gate = CausalGate(knowledge: VersionVector([r(1): 3, r(2): 7]))
        #expect(try gate.admit(run) == .apply(run))
        #expect(gate.knowledge[r(1)] == 6)
        #expect(try gate.admit(run) == .duplicate(run))
        // Missing a dependency: refused, the gate unchanged.
        var early = CausalGate(knowledge: VersionVector([r(1): 3, r(2): 6]))
        #expect(throws: SyncError.self) { try early.admit(run) }
        #expect(early.knowledge == VersionVector([r(1): 3, r(2): 6]))
        // Known in part: the rest is applied.
        var half = CausalGate(knowledge: VersionVector([r(1): 4, r(2): 7]))
        #expect(try half.admit(run) == .apply(.run(ChangeRun(Array(save.dropFirst()))!)))
        #expect(half.knowledge[r(1)] == 6)
    }

    @Test func badRunsAreRefusedWhenDecoded() {
        let replica = r(1).rawValue
        let good = #"{"run":{"replica":"\#(replica)","counter":1,"entity":{"type":"article","id":"x"},"context":{},"hlc":"1","writes":[{"field":"f","value":1}]}}"#
        #expect(throws: Never.self) { try JSONDecoder().decode(LogEntry.self, from: Data(good.utf8)) }
        for text in [
            #"{"run":{"replica":"\#(replica)","counter":1,"entity":{"type":"article","id":"x"},"context":{},"hlc":"1","writes":[]}}"#,
            #"{"run":{"replica":"\#(replica)","counter":0,"entity":{"type":"article","id":"x"},"context":{},"hlc":"1","writes":[{"field":"f","value":1}]}}"#,
        ] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(LogEntry.self, from: Data(text.utf8)) }
        }
    }
}
