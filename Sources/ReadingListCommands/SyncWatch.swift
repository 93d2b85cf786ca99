import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `readinglist sync --watch`: a ``LiveSync`` on the replica until interrupted.
extension Sync {
    /// Syncs at start, then after every local change (another shell's `edit`)
    /// and every notice of the server's push channel, one line per round;
    /// while the server is away, says so and retries with backoff.
    func runWatch() async throws {
        if peer != nil { throw CLIError(message: "--watch syncs with a server; it does not take --peer") }
        let environment = ProcessInfo.processInfo.environment
        let givenURL = server ?? environment["READINGLIST_SERVER"].flatMap({ $0.isEmpty ? nil : $0 })
        let givenToken = token ?? environment["READINGLIST_TOKEN"].flatMap({ $0.isEmpty ? nil : $0 })
        var remembered: (url: String?, token: String?) = (nil, nil)
        if FileManager.default.fileExists(atPath: database.path) {
            remembered = try database.with { store in (try store.setting("server.url"), try store.setting("server.token")) }
        }
        let sameServer = givenURL.map { url in
            remembered.url.flatMap { try? ServerAddress(validating: $0) } == (try? ServerAddress(validating: url))
        } ?? true
        if remembered.url == nil || remembered.token == nil || !sameServer || (givenToken != nil && givenToken != remembered.token) {
            // A server or token this replica has not synced with: the usual sync first
            // (a first sync's checks, the server's snapshot), which remembers them.
            var once = self
            once.watch = false
            try await once.run()
            // (`sync` prints through the buffered standard output; the rounds below write directly.)
            fflush(nil)
        }
        let store = try database.open()
        defer { try? store.close() }
        guard let partner = try store.setting("server.url"), let token = try store.setting("server.token") else {
            throw CLIError(message: "no server to sync with: give --server URL --token TOKEN once; they are remembered")
        }
        let address = try Self.address(partner)
        let transport = HTTPSyncTransport(address: address, token: token)
        let push = PushChannelClient(server: address, token: token, replica: store.replicaID)
        let live = LiveSync(
            store: store, transport: transport, partner: partner,
            sync: ServerSync(pageSize: pageSize, retryPolicy: RetryPolicy(maxAttempts: 1)),
            configuration: LiveSync.Configuration(retryMax: .seconds(30)),
            channel: LiveSync.channel { connected in push.notices(connected: { _ in connected() }) })
        let rounds = live.rounds(), states = live.states()
        let json = json
        let refusal = RefusalBox()
        Interruption.note("watching \(database.path) and \(partner) (Ctrl-C to stop)")
        try await Interruption.runUntilInterrupted {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await live.run() }
                group.addTask {
                    for await round in rounds { Self.report(round, partner: partner, json: json) }
                }
                group.addTask {
                    for await state in states {
                        switch state {
                        case let .offline(until, _):
                            // (The round's line above said why.)
                            Interruption.note(String(format: "offline; retrying in %.1f s", max(0, until.timeIntervalSinceNow)))
                        case let .mustRejoin(reason):
                            // Waiting will not help: the command ends with the reason.
                            refusal.reason.withLock { $0 = reason }
                            return
                        case let .failed(reason):
                            Interruption.note("sync failed: \(reason); waiting for a local change")
                        case .starting, .idle, .syncing:
                            break
                        }
                    }
                }
                while await group.next() != nil {
                    if refusal.reason.withLock({ $0 }) != nil { group.cancelAll() }
                }
            }
        }
        await transport.shutdown()
        if let reason = refusal.reason.withLock({ $0 }) {
            throw CLIError(message: "\(reason); stopped watching. Give a new token with: readinglist sync --server \(partner) --token TOKEN --watch")
        }
    }

    /// One line per round: what it served and moved (stdout), or why it failed (stderr).
    static func report(_ round: LiveSync.Round, partner: String, json: Bool) {
        let why = round.triggers.sorted().map(\.rawValue).joined(separator: ", ")
        switch round.outcome {
        case let .success(report):
            if json {
                Interruption.emit(JSONValue.object([
                    "pushed": .number(Double(report.pushed)), "pulled": .number(Double(report.pulled)),
                    "conflicts": .number(Double(report.conflicts)), "roundTrips": .number(Double(report.roundTrips)),
                    "rejoined": .bool(report.rejoined), "trigger": .string(why),
                ]).canonicalText)
            } else {
                Interruption.emit("synced with \(partner) (\(why)): pushed \(report.pushed), pulled \(report.pulled), \(report.conflicts) article(s) with conflicts")
            }
        case let .failure(failure):
            Interruption.note("sync (\(why)) failed: \(failure)")
        }
    }
}

/// Why the server refused the replica for good (set once, read at the end).
final class RefusalBox: Sendable {
    let reason = Mutex<String?>(nil)
}
