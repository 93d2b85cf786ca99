import ReplicaStore
import SyncCore
import SyncProtocol

/// Syncs two replica databases directly (file to file), both ways, through
/// the same `SyncSession` state machine a server sync uses: exchange
/// knowledge, push what the other lacks page by page, then pull.
public enum PeerSync {
    /// What one `run` moved, as seen from `local`.
    public struct Report: Sendable, Hashable {
        /// The changes and pages each side sent.
        public var summary: SyncSession.Summary
        /// Articles with conflicts on the local side after the sync.
        public var conflicts: Int
    }

    /// Syncs `local` and `remote` both ways. `remoteName` is how `local`
    /// remembers the partner (its path); `localName` how `remote` remembers `local`.
    ///
    /// At the end both replicas run the variant pass
    /// (`ReplicaStore.mergeURLVariants()`); when it merged anything, the
    /// session runs once more so that the merges leave with this sync.
    @discardableResult
    public static func run(
        local: ReplicaStore, remote: ReplicaStore, localName: String? = nil, remoteName: String? = nil, pageSize: Int = 1000
    ) throws(StoreError) -> Report {
        var report = try session(local: local, remote: remote, localName: localName, remoteName: remoteName, pageSize: pageSize)
        let merged = try local.mergeURLVariants() + remote.mergeURLVariants()
        guard merged > 0 else { return report }
        let again = try session(local: local, remote: remote, localName: localName, remoteName: remoteName, pageSize: pageSize)
        report.summary.pushedChanges += again.summary.pushedChanges
        report.summary.pulledChanges += again.summary.pulledChanges
        report.summary.pushedPages += again.summary.pushedPages
        report.summary.pulledPages += again.summary.pulledPages
        report.conflicts = again.conflicts
        return report
    }

    private static func session(
        local: ReplicaStore, remote: ReplicaStore, localName: String?, remoteName: String?, pageSize: Int
    ) throws(StoreError) -> Report {
        // Replicas of two different lists never merge; an unbound one joins the other's list.
        let localAccount = try local.account(), remoteAccount = try remote.account()
        if let localAccount, let remoteAccount, !localAccount.isSameList(as: remoteAccount) {
            throw .invalidOperation(
                "the two replicas belong to different lists (\(localAccount) and \(remoteAccount)); syncing them would merge two accounts, so nothing was done")
        }
        var session = SyncSession(local: local.replicaID, localKnowledge: try local.knowledge(), pageSize: pageSize)
        var action = session.start()
        while true {
            switch action {
            case .fetchRemoteKnowledge:
                do {
                    action = try session.receivedRemoteKnowledge(try remote.knowledge(), remoteReplica: remote.replicaID)
                    // Copies of one replica share dots with different content: compare heads both ways.
                    try ForkCheck.check(remoteHeads: try remote.heads(), localDigest: local.digest(at:))
                    try ForkCheck.check(remoteHeads: try local.heads(), localDigest: remote.digest(at:))
                } catch let error as SyncError {
                    throw .sync(error)
                } catch let error as StoreError {
                    throw error
                } catch {
                    throw .database(Cause(error))
                }
            case let .push(remoteKnowledge, limit):
                let entries = try local.outgoing(for: remoteKnowledge, limit: limit)
                let result = entries.isEmpty ? nil : try remote.apply(entries)
                action = session.pushed(
                    changes: result?.appliedChanges ?? 0, entries: entries.count,
                    remoteKnowledge: result?.knowledge ?? remoteKnowledge)
            case let .pull(localKnowledge, limit):
                let entries = try remote.outgoing(for: localKnowledge, limit: limit)
                let result = entries.isEmpty ? nil : try local.apply(entries)
                action = session.pulled(
                    changes: result?.appliedChanges ?? 0, entries: entries.count,
                    localKnowledge: result?.knowledge ?? localKnowledge)
            case let .finish(summary):
                let localKnowledge = try local.knowledge()
                let remoteKnowledge = try remote.knowledge()
                try local.recordSync(partner: remoteName ?? "replica:\(remote.replicaID)", replica: remote.replicaID, knowledge: remoteKnowledge)
                try remote.recordSync(partner: localName ?? "replica:\(local.replicaID)", replica: local.replicaID, knowledge: localKnowledge)
                // Each now holds the other's list: the one that belonged to none belongs to the other's.
                if localAccount == nil, let remoteAccount { try local.bind(to: remoteAccount) }
                if remoteAccount == nil, let localAccount { try remote.bind(to: localAccount) }
                return Report(summary: summary, conflicts: try local.conflictCount())
            }
        }
    }
}
