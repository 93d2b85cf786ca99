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
    /// when the server goes away, says so in one line (with when it retries),
    /// retries with backoff without a line per attempt, and says when it is back.
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
            channel: LiveSync.channel(push, store: store))
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
                    // One line when the server goes away and one when it is back, not one per retry.
                    var away = false
                    for await state in states {
                        switch state {
                        case let .offline(until, reason):
                            if !away {
                                away = true
                                Interruption.note(Self.offlineLine(reason: reason, until: until))
                            }
                        case .idle:
                            if away {
                                away = false
                                Interruption.note("back online: \(partner) answers again")
                            }
                        case let .mustRejoin(reason):
                            // Waiting will not help: the command ends with the reason.
                            refusal.reason.withLock { $0 = reason }
                            return
                        case let .failed(reason):
                            away = false
                            Interruption.note("sync failed: \(reason); waiting for a local change")
                        case .starting, .syncing:
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
            // The server out of reach: the offline line says so once (and the line when it is back), not each attempt.
            if case let .transport(error, _) = failure, error.isRetryable { return }
            Interruption.note("sync (\(why)) failed: \(failure)")
        }
    }

    /// `offline: REASON — retrying at 14:03:07 (in 1.5 s), or as soon as the server's push channel is back`.
    static func offlineLine(reason: String, until: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return "offline: \(reason) — retrying at \(formatter.string(from: until)) (in "
            + String(format: "%.1f", max(0, until.timeIntervalSinceNow)) + " s), or as soon as the server's push channel is back"
    }
}

/// Why the server refused the replica for good (set once, read at the end).
final class RefusalBox: Sendable {
    let reason = Mutex<String?>(nil)
}
