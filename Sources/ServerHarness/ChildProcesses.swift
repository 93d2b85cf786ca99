import Foundation
import Synchronization

/// The child processes a harness started and has not seen exit: the
/// benchmark stops them when it is interrupted or told to stop, so that no
/// server outlives it (a `kill` of the benchmark alone reaches only it, not
/// the servers it started, which then kept their ports and files).
package enum ChildProcesses {
    private struct State {
        var live = Set<Int32>()
        /// Set by ``terminateAll(waitingUpTo:)``: a child started from now on is stopped at once.
        var closing = false
    }

    private static let state = Mutex(State())

    package static func started(_ pid: Int32) {
        let closing = state.withLock { state in
            state.live.insert(pid)
            return state.closing
        }
        if closing { kill(pid, SIGTERM) }
    }

    package static func ended(_ pid: Int32) { state.withLock { _ = $0.live.remove(pid) } }

    /// Sends SIGTERM to every child still running (and to any started
    /// meanwhile), and waits up to `seconds` for them to be gone (a server
    /// checkpoints and closes its files first).
    package static func terminateAll(waitingUpTo seconds: Double = 10) {
        var signalled = Set<Int32>()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let pids = state.withLock { state in
                state.closing = true
                return state.live
            }
            for pid in pids.subtracting(signalled) { kill(pid, SIGTERM) }
            signalled.formUnion(pids)
            if !pids.contains(where: running) { return }
            usleep(20_000)
        }
    }

    /// Whether `pid` still runs (not gone, and not a zombie waiting to be reaped).
    private static func running(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return true }
        return !stat[stat.index(after: end)...].hasPrefix(" Z")
    }
}
