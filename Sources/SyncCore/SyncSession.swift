/// The decisions of one sync session between a local replica and a remote
/// (another replica file, or the server), as a state machine: the driver
/// performs each returned action and reports back. Pure: no I/O, no clock.
///
/// A session exchanges knowledge (version vectors), checks that neither side
/// is a copy of the other, then pushes what the remote lacks and pulls what
/// the local side lacks, one page at a time. Each page is applied atomically
/// and knowledge is re-read before the next, so an interrupted session simply
/// resumes where it stopped when run again.
public struct SyncSession: Sendable {
    package enum Action: Sendable, Hashable {
        /// Ask the remote for its version vector.
        case fetchRemoteKnowledge
        /// Make a page of at most `limit` local entries the remote (knowing `remoteKnowledge`) lacks, and send it.
        case push(remoteKnowledge: VersionVector, limit: Int)
        /// Ask the remote for a page of at most `limit` entries this replica (knowing `localKnowledge`) lacks, and apply it.
        case pull(localKnowledge: VersionVector, limit: Int)
        /// Done.
        case finish(Summary)
    }

    /// What a session moved.
    public struct Summary: Sendable, Hashable, Codable {
        /// Changes sent to the other replica.
        public var pushedChanges = 0
        /// Changes received from the other replica.
        public var pulledChanges = 0
        /// Pages sent.
        public var pushedPages = 0
        /// Pages received.
        public var pulledPages = 0
        package init() {}
    }

    private enum State: Sendable {
        case start, awaitingKnowledge, pushing, pulling, finished
    }

    package let local: ReplicaID
    package let pageSize: Int
    private var state: State = .start
    private var localKnowledge: VersionVector
    private var remoteKnowledge = VersionVector()
    private var remoteReplica: ReplicaID?
    package private(set) var summary = Summary()

    /// `remote` is the other replica's id when it is a replica (nil for the server).
    package init(local: ReplicaID, localKnowledge: VersionVector, pageSize: Int = 1000) {
        precondition(pageSize > 0)
        self.local = local
        self.localKnowledge = localKnowledge
        self.pageSize = pageSize
    }

    package mutating func start() -> Action {
        precondition(state == .start, "a session starts once")
        state = .awaitingKnowledge
        return .fetchRemoteKnowledge
    }

    /// The remote's knowledge arrived (and its replica id, when it is a replica).
    package mutating func receivedRemoteKnowledge(_ knowledge: VersionVector, remoteReplica: ReplicaID?) throws(SyncError) -> Action {
        precondition(state == .awaitingKnowledge)
        if let remoteReplica {
            if remoteReplica == local { throw .sameReplica(local) }
            if localKnowledge[remoteReplica] > knowledge[remoteReplica] {
                throw .replicaBehindItself(replica: remoteReplica, itsOwnCounter: knowledge[remoteReplica], seenElsewhere: localKnowledge[remoteReplica])
            }
        }
        try Self.checkNotBehindItself(local, knowledge: localKnowledge, remoteKnowledge: knowledge)
        self.remoteReplica = remoteReplica
        remoteKnowledge = knowledge
        return nextPush()
    }

    /// A page was pushed; `remoteKnowledge` is the remote's knowledge after applying it.
    package mutating func pushed(changes: Int, entries: Int, remoteKnowledge: VersionVector) -> Action {
        precondition(state == .pushing)
        self.remoteKnowledge = remoteKnowledge
        if entries == 0 { return nextPull() }
        summary.pushedChanges += changes
        summary.pushedPages += 1
        return nextPush()
    }

    /// A page was pulled and applied; `localKnowledge` is this replica's knowledge after it.
    package mutating func pulled(changes: Int, entries: Int, localKnowledge: VersionVector) -> Action {
        precondition(state == .pulling)
        self.localKnowledge = localKnowledge
        if entries == 0 {
            state = .finished
            return .finish(summary)
        }
        summary.pulledChanges += changes
        summary.pulledPages += 1
        return .pull(localKnowledge: localKnowledge, limit: pageSize)
    }

    /// Refuses a remote that holds more of `replica`'s own changes than
    /// `replica` has: different changes under its dots (a copy of it wrote
    /// them, or it was restored from an older copy). Checked before anything
    /// is applied, by this session and by a server sync (`ServerSyncMachine`).
    package static func checkNotBehindItself(
        _ replica: ReplicaID, knowledge: VersionVector, remoteKnowledge: VersionVector
    ) throws(SyncError) {
        if remoteKnowledge[replica] > knowledge[replica] {
            throw .replicaBehindItself(replica: replica, itsOwnCounter: knowledge[replica], seenElsewhere: remoteKnowledge[replica])
        }
    }

    private mutating func nextPush() -> Action {
        state = .pushing
        return .push(remoteKnowledge: remoteKnowledge, limit: pageSize)
    }

    private mutating func nextPull() -> Action {
        state = .pulling
        return .pull(localKnowledge: localKnowledge, limit: pageSize)
    }
}
