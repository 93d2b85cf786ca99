import Foundation
import Synchronization

/// Threads for work that blocks: a write that waits for `fsync`, a snapshot's
/// copy, a group commit. Not the cooperative pool (a blocked thread there
/// stalls every request), and not `DispatchQueue.global()`, which on Linux
/// runs about as many blocks at once as there are cores: with two cores, two
/// pushes waiting for their disk flushes held every other push back while
/// the CPU sat idle (W5, Docs/Performance.md). A flush costs the CPU nothing,
/// so many may wait at once; the CPU work between them is what the cores share.
package final class BlockingPool: @unchecked Sendable {
    static let shared = BlockingPool(threads: 32)

    /// How many jobs run at once.
    let threads: Int
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false

    init(threads: Int) {
        self.threads = threads
        for index in 0..<threads {
            // Each thread holds the pool until stop() (the shared pool: never).
            let thread = Thread { self.run() }
            thread.name = "blocking-\(index)"
            thread.start()
        }
    }

    /// Runs `work` on one of the pool's threads, as soon as one is free.
    func submit(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    /// Lets the threads end once the work already submitted is done.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == queue.count && !stopping { condition.wait() }
            if head == queue.count {
                condition.unlock()
                return
            }
            let work = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 256 && head * 2 >= queue.count {
                // Under a load that never lets the queue empty, the jobs already
                // taken go, rather than the array growing (and holding them).
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            work()
        }
    }
}

extension BlockingPool {
    /// Jobs on one thing only one of them may use at a time (a list's single
    /// SQLite connection), run on the pool one after another in the order
    /// they came. A job waiting for the thing waits here, in this queue,
    /// holding no thread: requests for a list a long write holds take one of
    /// the pool's threads between them, not one each (which would leave
    /// none for the other lists' pushes).
    package final class Lane: Sendable {
        private struct State {
            var queue: [@Sendable () -> Void] = []
            var head = 0
            var running = false
        }

        private let pool: BlockingPool
        private let state = Mutex(State())

        init(on pool: BlockingPool = .shared) { self.pool = pool }

        /// Runs `work` on the pool after the lane's earlier jobs.
        func submit(_ work: @escaping @Sendable () -> Void) {
            let start = state.withLock { state -> Bool in
                state.queue.append(work)
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start { pool.submit { self.drain() } }
        }

        /// Runs the lane's jobs, on one thread, until none is left.
        private func drain() {
            while let work = state.withLock({ state -> (@Sendable () -> Void)? in
                guard state.head < state.queue.count else {
                    state.queue.removeAll(keepingCapacity: true)
                    state.head = 0
                    state.running = false
                    return nil
                }
                let work = state.queue[state.head]
                state.head += 1
                if state.head >= 64 && state.head * 2 >= state.queue.count {
                    // A list never left alone: the jobs already run go.
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                return work
            }) {
                work()
            }
        }
    }
}
