import Foundation
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol

/// An initial sync in one download: a replica that holds nothing starts from
/// the server's snapshot of the list (``HTTPSyncTransport/downloadSnapshot(to:compressed:progress:)``),
/// then syncs as usual (`ServerSync`) for what came after it. Pulling a
/// large list page by page merges it change by change; the snapshot is the
/// server's merged state, already materialised.
public enum InitialSnapshot {
    /// What to do while the server is busy (it answers `unavailable` while it
    /// prepares a list pushed in bulk, or sends other snapshots): retry with
    /// backoff for at most `patience`, telling `waiting` before each pause.
    public struct Waiting: Sendable {
        /// How long to wait in all for a snapshot the server cannot give yet.
        public var patience: Duration
        /// The backoff between attempts while the server says to wait.
        public var retryPolicy: RetryPolicy
        /// How to wait (`Task.sleep` by default; tests pass their own).
        public var sleep: @Sendable (Duration) async throws -> Void
        /// Called with the reason each time the server says to wait.
        public var waiting: @Sendable (_ reason: String) -> Void

        /// How to wait for a snapshot; the defaults suit an app.
        public init(
            patience: Duration = .seconds(300), retryPolicy: RetryPolicy = RetryPolicy(maxAttempts: 1000, baseDelay: .seconds(1), maxDelay: .seconds(5)),
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            waiting: @escaping @Sendable (String) -> Void = { _ in }
        ) {
            self.patience = patience
            self.retryPolicy = retryPolicy
            self.sleep = sleep
            self.waiting = waiting
        }
    }

    /// Makes the replica at `path`, which must not exist yet, from the
    /// server's snapshot (downloaded beside it). Nil, with nothing left
    /// behind, when the server makes no snapshots. `compressed`: see
    /// ``HTTPSyncTransport/downloadSnapshot(to:compressed:progress:)``.
    public static func create(
        at path: String, transport: HTTPSyncTransport, partner: String, compressed: Bool? = nil, waiting: Waiting = Waiting(),
        progress: @escaping @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws -> ReplicaStore? {
        try await withDownload(beside: path) { download in
            guard let knowledge = try await fetch(to: download, transport: transport, compressed: compressed, waiting: waiting, progress: progress)
            else { return nil }
            return try ReplicaStore.createFromSnapshot(download, at: path, partner: partner, expecting: knowledge)
        }
    }

    /// Fills `store`, which must hold nothing (`ReplicaStore.isEmpty()`),
    /// from the server's snapshot, keeping its identity. False when the
    /// server makes no snapshots or the replica holds something by then.
    public static func adopt(
        into store: ReplicaStore, transport: HTTPSyncTransport, partner: String, compressed: Bool? = nil, waiting: Waiting = Waiting(),
        progress: @escaping @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws -> Bool {
        guard let path = store.path else { return false }
        return try await withDownload(beside: path) { download in
            guard let knowledge = try await fetch(to: download, transport: transport, compressed: compressed, waiting: waiting, progress: progress)
            else { return false }
            return try store.adoptSnapshot(download, partner: partner, expecting: knowledge)
        }
    }

    /// The download, retried while the server says it is busy.
    static func fetch(
        to download: String, transport: HTTPSyncTransport, compressed: Bool?, waiting: Waiting, progress: @escaping @Sendable (Int) -> Void
    ) async throws -> VersionVector? {
        let start = ContinuousClock.now
        var attempt = 1
        while true {
            let failure: SyncTransportError
            do {
                return try await transport.downloadSnapshot(to: download, compressed: compressed, progress: progress)
            } catch {
                failure = error
            }
            guard case let .rejected(_, code, message) = failure, code == .unavailable else { throw failure }
            let pause = waiting.retryPolicy.delay(beforeRetry: attempt, fraction: 0.5)
            guard ContinuousClock.now - start + pause <= waiting.patience else { throw failure }
            waiting.waiting(message)
            try await waiting.sleep(pause)
            attempt += 1
        }
    }

    /// Runs `body` with a download file named beside `path` for this process
    /// (another sync of the same replica does not take it over), removed
    /// afterwards; first removes what killed processes left there.
    static func withDownload<T>(beside path: String, _ body: (String) async throws -> T) async throws -> T {
        removeAbandonedDownloads(beside: path)
        let download = path + ".snapshot-\(getpid())"
        defer { ReplicaStore.removeFiles(at: download) }
        ReplicaStore.removeFiles(at: download)
        return try await body(download)
    }

    /// Removes `PATH.snapshot-PID` files of processes that are gone (a sync killed mid-download).
    static func removeAbandonedDownloads(beside path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = (path as NSString).lastPathComponent + ".snapshot-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? [] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix { $0.isNumber }), pid != getpid() else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            ReplicaStore.removeFiles(at: (folder.isEmpty ? "" : folder + "/") + prefix + String(pid))
        }
    }
}
