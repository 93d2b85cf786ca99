import Foundation

/// Threads for work that blocks: a write that waits for `fsync`, a snapshot's
/// copy, a group commit. Not the cooperative pool (a blocked thread there
/// stalls every request), and not `DispatchQueue.global()`, which on Linux
/// runs about as many blocks at once as there are cores: with two cores, two
/// pushes waiting for their disk flushes held every other push back while
/// the CPU sat idle (W5, Docs/Performance.md). A flush costs the CPU nothing,
/// so many may wait at once; the CPU work between them is what the cores share.
final class BlockingPool: @unchecked Sendable {
    static let shared = BlockingPool(threads: 32)

    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false

    init(threads: Int) {
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
