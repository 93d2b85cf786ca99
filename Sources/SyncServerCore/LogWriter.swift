import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes log lines to a file descriptor from a thread of its own, behind a
/// bounded queue, so that logging never holds up request handling.
///
/// A server whose log reader falls behind (a pipe nobody reads, a slow
/// terminal, a stalled log shipper) used to stop answering: every thread of
/// the cooperative pool sat in `write(2)` inside the log handler. Here
/// ``enqueue(_:)`` only appends to a queue (under a lock held for an append,
/// never across I/O); one thread takes everything queued and writes it. When
/// the queue holds `capacity` lines or `byteBudget` bytes, a new line is
/// dropped and counted (``droppedLines``, `readinglist_log_lines_dropped_total`
/// in `/metrics`). At most `capacity` lines wait, plus the batch being written.
public final class LogWriter: @unchecked Sendable {
    // @unchecked Sendable: every `var` below is read and written only with
    // `condition` locked; `droppedCount` is an Atomic; the rest are `let`s.

    /// The writer behind `JSONLogHandler` (SyncServer) by default: standard error (fd 2).
    public static let standardError = LogWriter(fileDescriptor: 2)

    /// The descriptor lines are written to (never closed by the writer).
    package let fileDescriptor: Int32
    /// Most lines waiting to be written; more are dropped.
    package let capacity: Int
    /// Most bytes waiting to be written; more are dropped.
    package let byteBudget: Int

    private let droppedCount = Atomic<UInt64>(0)
    private let condition = NSCondition()
    private var queue: [[UInt8]] = []
    private var queuedBytes = 0
    /// Lines accepted, and lines written or given up (a failed write): a flush waits for the second to reach the first.
    private var accepted: UInt64 = 0
    private var finished: UInt64 = 0
    private var started = false
    private var writerIdle = false
    private var stopping = false
    private var exited = false

    /// A writer to `fileDescriptor`. Its thread starts with the first line.
    public init(fileDescriptor: Int32, capacity: Int = 10_000, byteBudget: Int = 8 << 20) {
        self.fileDescriptor = fileDescriptor
        self.capacity = max(1, capacity)
        self.byteBudget = max(1, byteBudget)
    }

    /// Lines dropped so far: the queue was full (the reader fell behind), the
    /// write failed (the reader is gone), or the writer was stopped.
    package var droppedLines: UInt64 { droppedCount.load(ordering: .relaxed) }

    /// Queues `line` (a complete line, its newline included) and returns at
    /// once: false when it was dropped.
    @discardableResult
    package func enqueue(_ line: [UInt8]) -> Bool {
        condition.lock()
        guard !stopping, queue.count < capacity, line.count <= byteBudget - queuedBytes else {
            condition.unlock()
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        queue.append(line)
        queuedBytes += line.count
        accepted += 1
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "log-writer"
            thread.start()
        } else if writerIdle {
            writerIdle = false
            // A broadcast: a flush may wait on the same condition, and must not take the writer's wake-up.
            condition.broadcast()
        }
        condition.unlock()
        return true
    }

    /// Waits until the lines queued before this call are written (or given
    /// up), for at most `timeout`; false if some still wait (the reader is
    /// stuck). Blocks the calling thread: for a graceful exit, and tests.
    @discardableResult
    public func flush(timeout: Duration = .seconds(2)) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Self.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        let target = accepted
        while finished < target {
            if !condition.wait(until: deadline) { return finished >= target }
        }
        return true
    }

    /// Writes what is queued and ends the thread, waiting at most `timeout`:
    /// false if the thread is still writing (the reader is stuck). Lines
    /// logged afterwards are dropped. Blocks the calling thread, like ``flush(timeout:)``.
    @discardableResult
    public func stop(timeout: Duration = .seconds(2)) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Self.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        guard started else { return true }
        while !exited {
            if !condition.wait(until: deadline) { return exited }
        }
        return true
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The writer thread: takes everything queued, writes it with the lock released, repeats.
    private func run() {
        var batch: [[UInt8]] = []
        var buffer: [UInt8] = []
        condition.lock()
        while true {
            while queue.isEmpty && !stopping {
                writerIdle = true
                condition.wait()
            }
            writerIdle = false
            if queue.isEmpty {
                exited = true
                condition.broadcast()
                condition.unlock()
                return
            }
            swap(&batch, &queue)
            queuedBytes = 0
            condition.unlock()

            buffer.removeAll(keepingCapacity: true)
            for line in batch { buffer.append(contentsOf: line) }
            let written = buffer.withUnsafeBytes { writeFully($0) }
            if written < buffer.count {
                // The lines not written whole are lost (a reader gone, a descriptor closed).
                var end = 0
                var whole = 0
                for line in batch {
                    end += line.count
                    if end > written { break }
                    whole += 1
                }
                droppedCount.add(UInt64(batch.count - whole), ordering: .relaxed)
            }
            let count = UInt64(batch.count)
            batch.removeAll(keepingCapacity: true)
            // A burst may have grown the buffer far beyond the usual batch: not kept.
            if buffer.capacity > 1 << 20 { buffer = [] }

            condition.lock()
            finished += count
            condition.broadcast()
        }
    }

    /// `write(2)` until all is written or the descriptor fails; the bytes written.
    private func writeFully(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var offset = 0
        while offset < bytes.count {
            let result = write(fileDescriptor, base + offset, bytes.count - offset)
            if result > 0 {
                offset += result
                continue
            }
            let error = errno
            if result < 0 && error == EINTR { continue }
            if result < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                // A non-blocking descriptor: wait until it takes more (this thread only).
                var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 1000)
                continue
            }
            return offset  // EPIPE, EBADF, ENOSPC...: the rest is given up
        }
        return offset
    }
}
