import Foundation
import ReplicaStore
import SyncCore

/// An initial sync in one download: a replica that holds nothing starts from
/// the server's snapshot of the list (``HTTPSyncTransport/downloadSnapshot(to:)``),
/// then syncs as usual (``ServerSync``) for what came after it. Pulling a
/// large list page by page merges it change by change; the snapshot is the
/// server's merged state, already materialised.
public enum InitialSnapshot {
    /// Makes the replica at `path`, which must not exist yet, from the
    /// server's snapshot (downloaded beside it). Nil, with nothing left
    /// behind, when the server makes no snapshots. `compressed`: see
    /// ``HTTPSyncTransport/downloadSnapshot(to:compressed:)``.
    public static func create(
        at path: String, transport: HTTPSyncTransport, partner: String, compressed: Bool? = nil,
        progress: @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws -> ReplicaStore? {
        // (Named for this process: another sync of the same replica does not take it over.)
        let download = path + ".snapshot-\(getpid())"
        try? FileManager.default.removeItem(atPath: download)
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: download + suffix) }
        }
        guard try await transport.downloadSnapshot(to: download, compressed: compressed, progress: progress) != nil else { return nil }
        return try ReplicaStore.createFromSnapshot(download, at: path, partner: partner)
    }

    /// Fills `store`, which must hold nothing (``ReplicaStore/isEmpty()``),
    /// from the server's snapshot, keeping its identity. False when the
    /// server makes no snapshots or the replica holds something by then.
    public static func adopt(
        into store: ReplicaStore, transport: HTTPSyncTransport, partner: String, compressed: Bool? = nil,
        progress: @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws -> Bool {
        guard let path = store.path else { return false }
        // (Named for this process: another sync of the same replica does not take it over.)
        let download = path + ".snapshot-\(getpid())"
        try? FileManager.default.removeItem(atPath: download)
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: download + suffix) }
        }
        guard try await transport.downloadSnapshot(to: download, compressed: compressed, progress: progress) != nil else { return false }
        return try store.adoptSnapshot(download, partner: partner)
    }
}
