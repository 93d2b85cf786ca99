/// Why a batch of changes, or a whole sync session, was refused. Nothing of a
/// refused batch is applied.
public enum SyncError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Entry `got` of `replica` arrived while the receiver has seen only up to `expected - 1`.
    case gap(replica: ReplicaID, expected: UInt64, got: UInt64)
    /// A change arrived before a change it depends on (its context names a dot the receiver lacks).
    case missingDependency(change: Dot, needs: Dot)
    /// A dot arrived that is already stored with different content: two
    /// databases wrote with the same replica id (a copied replica file).
    case conflictingDuplicate(Dot)
    /// The other side has seen more of `replica`'s own changes than `replica`
    /// itself has: the database is a copy, or was restored from a backup.
    case replicaBehindItself(replica: ReplicaID, itsOwnCounter: UInt64, seenElsewhere: UInt64)
    /// Both sides are the same replica (syncing a file with itself or with a copy).
    case sameReplica(ReplicaID)
    /// A change that cannot be valid (counter 0, context not covering the writer's own previous change...).
    case malformed(Dot, reason: String)

    /// One line saying what was refused and why, for a person.
    public var description: String {
        switch self {
        case let .gap(replica, expected, got):
            "gap in the changes of replica \(replica.short): expected change \(expected) next, got \(got); nothing was applied"
        case let .missingDependency(change, needs):
            "change \(change) depends on change \(needs), which has not been received; nothing was applied"
        case let .conflictingDuplicate(dot):
            "change \(dot) already exists with different content: two databases share replica id \(dot.replica.short) (a copied replica file); give the copy its own identity with 'readinglist reset-identity' on it"
        case let .replicaBehindItself(replica, own, seen):
            "replica \(replica.short) has made \(own) changes but the other side has seen \(seen) of them: this database is a copy or was restored from a backup; run 'readinglist reset-identity' on it to give it its own identity"
        case let .sameReplica(replica):
            "both sides are replica \(replica.short): a database cannot sync with itself or with a copy of itself (run 'readinglist reset-identity' on the copy)"
        case let .malformed(dot, reason):
            "change \(dot) is malformed: \(reason); nothing was applied"
        }
    }
}
