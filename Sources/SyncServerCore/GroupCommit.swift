import Foundation
import GRDB
import Synchronization

/// Group commit for the server's shared bookkeeping database: every sync
/// records what its replica has seen there, and each of those small writes
/// used to be a transaction of its own with its own fsync, one at a time,
/// which capped the whole server at about one sync per fsync. Writes that
/// arrive while a commit is on disk wait and go together in the next one:
/// still durable before their caller goes on, still one transaction each in
/// effect (a batch that fails is retried write by write, so one bad write
/// fails only its own caller).
final class GroupCommit: Sendable {
    typealias Work = @Sendable (Database) throws -> Void

    private struct Waiting {
        var work: Work
        var done: CheckedContinuation<Result<Void, ServerError>, Never>
    }

    private struct State {
        var queue: [Waiting] = []
        var committing = false
    }

    private let database: DatabasePool
    private let state = Mutex(State())

    init(_ database: DatabasePool) { self.database = database }

    /// Runs `work` in a write transaction, committed (with others) before this returns.
    func write(_ work: @escaping Work) async throws(ServerError) {
        let result: Result<Void, ServerError> = await withCheckedContinuation { continuation in
            let start = state.withLock { state in
                state.queue.append(Waiting(work: work, done: continuation))
                if state.committing { return false }
                state.committing = true
                return true
            }
            if start { BlockingPool.shared.submit { self.drain() } }
        }
        try result.get()
    }

    /// Commits batches until nobody waits.
    private func drain() {
        while true {
            let batch: [Waiting] = state.withLock { state in
                defer { state.queue.removeAll(keepingCapacity: true) }
                if state.queue.isEmpty { state.committing = false }
                return state.queue
            }
            guard !batch.isEmpty else { return }
            let together = Result { () throws(ServerError) in
                try inline { try database.write { db in for waiting in batch { try waiting.work(db) } } }
            }
            if case .success = together {
                for waiting in batch { waiting.done.resume(returning: .success(())) }
                continue
            }
            for waiting in batch {
                let alone = Result { () throws(ServerError) in try inline { try database.write { db in try waiting.work(db) } } }
                waiting.done.resume(returning: alone)
            }
        }
    }
}
