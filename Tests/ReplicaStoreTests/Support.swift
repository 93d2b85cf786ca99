import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import Synchronization
import Testing

/// A wall clock tests move by hand, with a per-replica skew.
final class ManualClock: Sendable {
    private let millis = Mutex<Int64>(1_780_000_000_000)

    var now: Int64 { millis.withLock { $0 } }
    func advance(_ delta: Int64) { millis.withLock { $0 += delta } }

    /// A `now` function for one replica whose clock is off by `skew` milliseconds.
    func source(skew: Int64 = 0) -> @Sendable () -> Int64 { { [self] in self.now + skew } }
}

/// A replica id that sorts in a known place.
func replicaID(_ n: Int) -> ReplicaID { ReplicaID(String(repeating: "0", count: 31) + String(n, radix: 16))! }

func makeReplica(_ n: Int, clock: ManualClock, skew: Int64 = 0) throws -> ReplicaStore {
    try ReplicaStore.inMemory(replicaID: replicaID(n), now: clock.source(skew: skew))
}

/// Syncs both ways and checks both stores' invariants.
@discardableResult
func sync(_ a: ReplicaStore, _ b: ReplicaStore, pageSize: Int = 1000) throws -> PeerSync.Report {
    let report = try PeerSync.run(local: a, remote: b, pageSize: pageSize)
    try expectSound(a)
    try expectSound(b)
    return report
}

func expectSound(_ store: ReplicaStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let problems = try store.checkInvariants()
    #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
}

/// Syncs every replica with the first and back until nothing moves.
func syncAll(_ replicas: [ReplicaStore]) throws {
    for _ in 0..<2 {
        for replica in replicas.dropFirst() { try sync(replica, replicas[0]) }
    }
}

/// What a user sees: `list --json` with content, as canonical text.
func visibleState(_ store: ReplicaStore) throws -> String {
    JSONValue.array(try store.articles(includeContent: true).map { $0.jsonValue(includeContent: true) }).canonicalText
}

/// A fingerprint of everything in the database, to prove an operation changed nothing.
func fingerprint(_ store: ReplicaStore) throws -> String {
    let status = try store.status()
    return [
        try visibleState(store), "\(status.knowledge)", "\(status.liveWrites)", "\(status.replacedRanges)",
        try store.liveChanges().map(\.description).joined(separator: ";"),
    ].joined(separator: "\n")
}

let pageA = "https://example.com/a"
let pageB = "https://example.com/b"
let pageC = "https://example.com/c"
