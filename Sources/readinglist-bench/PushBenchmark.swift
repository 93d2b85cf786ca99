import Foundation
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
import Synchronization

/// W8, the idle half: many devices keeping their push channel open to one
/// real server process while nothing changes. Measures the server memory the
/// channels add (RSS before and after), the CPU it spends while they idle
/// (beside the same process idle without them), and that one user's edit
/// wakes that user's devices and no other.
enum PushBenchmark {
    /// Users and devices per size: the issue's 1 000 × 2 at `full`.
    static func users(for size: Bench.Size) -> Int {
        switch size {
        case .tiny: 50
        case .small: 250
        case .full: 1000
        }
    }

    static func idle(size: Bench.Size, folder: WorkFolder, report: Report) async throws {
        let users = users(for: size)
        let devices = 2
        // Two windows: "quiet" between heartbeats (the channels are new, no ping is due: what idling itself costs,
        // which must be nothing), then one whole heartbeat interval and a second (every channel pinged once each way).
        let heartbeat = size == .full ? PushLimits().heartbeatSeconds : size == .small ? 10 : 2
        let quietSeconds = size == .full ? 10.0 : size == .small ? 4 : 1
        let intervalSeconds = Double(heartbeat + 1)
        raiseFileLimit(to: users * devices * 2 + 1024)
        let database = folder.file("push-server.sqlite")
        report.note("W8 idle: adding \(users) users")
        var tokens: [String] = []
        for index in 0..<users { tokens.append(try ServerProcess.addUser("user\(index)", database: database, folder: folder)) }
        let server = try ServerProcess(
            database: database, extra: ["--max-push-connections", String(users * devices + 16), "--push-heartbeat-seconds", String(heartbeat)])
        defer { server.stop() }
        let pid = server.process.processIdentifier
        let address = try ServerAddress(validating: server.url)

        // Warm: one channel opened and closed, one sync, so that what is measured is the channels, not code first run.
        let warm = try ReplicaStore.inMemory()
        _ = try warm.save(SaveRequest(url: "https://example.com/warm", title: "Warm"))
        let warmTransport = HTTPSyncTransport(address: address, token: tokens[0])
        _ = try await ServerSync().run(store: warm, transport: warmTransport, partner: server.url)
        var generator = SystemRandomNumberGenerator()
        let probe = Channel(PushChannelClient(server: address, token: tokens[0], replica: ReplicaID.random(using: &generator)))
        try await probe.waitOpen()
        probe.stop()
        try await Task.sleep(for: .milliseconds(500))

        let before = try ProcessSample(pid: pid)
        let baselineCPU = try await cpuWhileIdle(pid: pid, seconds: quietSeconds)

        report.note("W8 idle: opening \(users * devices) push channels")
        var channels: [[Channel]] = []
        for user in 0..<users {
            channels.append((0..<devices).map { _ in
                Channel(PushChannelClient(
                    server: address, token: tokens[user], replica: ReplicaID.random(using: &generator), heartbeat: .seconds(heartbeat)))
            })
        }
        let (_, openSeconds) = try await seconds {
            for channel in channels.joined() { try await channel.waitOpen() }
        }
        try await Task.sleep(for: .milliseconds(200))
        let after = try ProcessSample(pid: pid)
        let quietCPU = try await cpuWhileIdle(pid: pid, seconds: quietSeconds)
        let intervalCPU = try await cpuWhileIdle(pid: pid, seconds: intervalSeconds)
        // The quiet window held no ping only if it ended before the first channel's first one was due.
        let quietHeldNoPing = openSeconds + 0.2 + quietSeconds < Double(heartbeat)
        let addedMB = Double(after.rssKiB - before.rssKiB) / 1024
        let open = users * devices
        report.add(Measurement(
            id: "W8-idle-memory", name: "server memory added by \(open) idle push channels (\(users) users x \(devices))",
            value: addedMB, unit: "MB", baseline: Double(before.rssKiB) / 1024, baselineName: "the server's RSS before them",
            higherIsBetter: false, target: 100, targetText: "at most 100 MB added",
            detail: [
                "per_channel_kib": String(format: "%.1f", Double(after.rssKiB - before.rssKiB) / Double(open)),
                "open_seconds": String(format: "%.2f", openSeconds),
            ]))
        report.add(Measurement(
            id: "W8-idle-cpu", name: "server CPU while \(open) push channels idle between heartbeats (\(Int(quietSeconds)) s)",
            value: quietCPU * 1000, unit: "ms CPU per s", baseline: baselineCPU * 1000, baselineName: "the same server idle with no channel",
            higherIsBetter: false, target: baselineCPU * 1000 + 1, targetText: "no polling: within 1 ms per s of the server with no channel",
            detail: ["window_held_no_ping": String(quietHeldNoPing), "heartbeat_seconds": String(heartbeat)]))
        report.add(Measurement(
            id: "W8-heartbeat-cpu", name: "server CPU over one heartbeat interval (\(Int(intervalSeconds)) s) of \(open) channels",
            value: intervalCPU * 1000, unit: "ms CPU per s", baseline: baselineCPU * 1000, baselineName: "the same server idle with no channel",
            higherIsBetter: false,
            detail: [
                "heartbeat_seconds": String(heartbeat), "pings": String(2 * open),
                "cpu_us_per_ping": String(format: "%.0f", max(0, intervalCPU - baselineCPU) * intervalSeconds / Double(2 * open) * 1e6),
                "note": "every channel pinged once each way (server and device both ping); the only periodic work",
            ]))

        // One user's edit, through the server: that user's devices are woken, no one else's.
        let chosen = users / 2
        let editor = try ReplicaStore.inMemory()
        _ = try editor.save(SaveRequest(url: "https://example.com/edit", title: "An edit"))
        let transport = HTTPSyncTransport(address: address, token: tokens[chosen])
        let start = ContinuousClock.now
        _ = try await ServerSync().run(store: editor, transport: transport, partner: server.url)
        let synced = ContinuousClock.now
        for channel in channels[chosen] { try await channel.waitNotice() }
        let woken = ContinuousClock.now
        try await Task.sleep(for: .seconds(1))
        let wokenOwn = channels[chosen].filter { $0.notices > 0 }.count
        let wokenOthers = channels.enumerated().filter { $0.offset != chosen }.flatMap(\.element).filter { $0.notices > 0 }.count
        let dropped = channels.joined().filter(\.ended).count
        report.add(Measurement(
            id: "W8-idle-wakes", name: "channels woken by one user's edit (of \(open))",
            value: Double(wokenOwn + wokenOthers), unit: "channels", baseline: Double(devices), baselineName: "that user's devices",
            higherIsBetter: false, target: Double(devices), targetText: "exactly the user's \(devices) devices",
            detail: [
                "own_devices_woken": String(wokenOwn), "other_users_woken": String(wokenOthers), "channels_lost": String(dropped),
                "sync_ms": String(format: "%.1f", milliseconds(synced - start)),
                "woken_after_sync_ms": String(format: "%.1f", milliseconds(woken - synced)),
            ]))
        guard wokenOthers == 0, wokenOwn == devices, dropped == 0 else {
            throw BenchError("W8: \(wokenOwn) of the user's devices and \(wokenOthers) other channels were woken, \(dropped) lost")
        }
        for channel in channels.joined() { channel.stop() }
        await warmTransport.shutdown()
        await transport.shutdown()
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// CPU seconds per second the process spends over `seconds` of wall time.
    static func cpuWhileIdle(pid: Int32, seconds: Double) async throws -> Double {
        let first = try ProcessSample(pid: pid)
        let started = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        let last = try ProcessSample(pid: pid)
        return (last.cpuSeconds - first.cpuSeconds) / max(0.001, milliseconds(ContinuousClock.now - started) / 1000)
    }

    /// The soft limit on open files raised (up to the hard one): each channel is a descriptor here and in the server, which inherits it.
    static func raiseFileLimit(to wanted: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// One device's channel, read by a task of its own.
    final class Channel: Sendable {
        typealias State = (open: Bool, notices: Int, ended: Bool, error: String?)
        final class Box: Sendable {
            let state = Mutex<State>((false, 0, false, nil))
        }

        private let box: Box
        private let task: Task<Void, Never>

        init(_ client: PushChannelClient) {
            let box = Box()
            self.box = box
            let stream = client.notices(connected: { _ in box.state.withLock { $0.open = true } })
            task = Task {
                do {
                    for try await _ in stream { box.state.withLock { $0.notices += 1 } }
                    box.state.withLock { $0.ended = true }
                } catch {
                    box.state.withLock { $0.ended = true; $0.error = "\(error)" }
                }
            }
        }

        var notices: Int { box.state.withLock { $0.notices } }
        var ended: Bool { box.state.withLock { $0.ended } }

        func waitOpen() async throws { try await wait("open") { $0.open } }
        func waitNotice() async throws { try await wait("woken") { $0.notices > 0 } }

        /// Checks every millisecond, for up to 30 s (the benchmark's own wait, not the server's).
        private func wait(_ what: String, until condition: (State) -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let now = box.state.withLock { $0 }
                if condition(now) { return }
                if now.ended { throw BenchError("a push channel ended before it was \(what): \(now.error ?? "closed")") }
                try await Task.sleep(for: .milliseconds(1))
            }
            throw BenchError("a push channel was not \(what) within 30 s")
        }

        func stop() { task.cancel() }
    }
}

/// The resident memory and CPU time of a process, from /proc.
struct ProcessSample {
    var rssKiB: Int
    var cpuSeconds: Double

    init(pid: Int32) throws {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let rss = Int(line.split(separator: " ").dropFirst().first ?? "") else {
            throw BenchError("cannot read /proc/\(pid)/status")
        }
        rssKiB = rss
        // Fields 14 and 15 (utime, stime, in clock ticks) after the command name in parentheses.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            throw BenchError("cannot read /proc/\(pid)/stat")
        }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw BenchError("cannot parse /proc/\(pid)/stat")
        }
        cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
