import Foundation
import Synchronization

/// The child processes a harness started and has not seen exit: the
/// benchmark stops them when it is interrupted or told to stop, so that no
/// server outlives it (a `kill` of the benchmark alone reaches only it, not
/// the servers it started, which then kept their ports and files).
public enum ChildProcesses {
    private static let live = Mutex(Set<Int32>())

    public static func started(_ pid: Int32) { live.withLock { _ = $0.insert(pid) } }
    public static func ended(_ pid: Int32) { live.withLock { _ = $0.remove(pid) } }

    /// Sends SIGTERM to every child still running, and waits up to `seconds`
    /// for them to be gone (a server checkpoints and closes its files first).
    public static func terminateAll(waitingUpTo seconds: Double = 10) {
        let pids = live.withLock { $0 }
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(seconds)
        while pids.contains(where: running), Date() < deadline { usleep(20_000) }
    }

    /// Whether `pid` still runs (not gone, and not a zombie waiting to be reaped).
    private static func running(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return true }
        return !stat[stat.index(after: end)...].hasPrefix(" Z")
    }
}
