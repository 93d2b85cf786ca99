import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol
import SyncServerCore
import Synchronization

/// The simulated time of a world: one base clock, an offset per replica.
package final class WorldClock: Sendable {
    private let state = Mutex<(base: Int64, offsets: [String: Int64])>((1_780_000_000_000, [:]))

    package init() {}

    package var now: Int64 { state.withLock { $0.base } }
    package func advance(_ millis: Int64) { state.withLock { $0.base += millis } }
    package func setOffset(_ millis: Int64, for replica: String) { state.withLock { $0.offsets[replica] = millis } }

    /// The wall clock `replica` reads.
    package func source(for replica: String) -> @Sendable () -> Int64 {
        { [self] in self.state.withLock { $0.base + ($0.offsets[replica] ?? 0) } }
    }

    /// The server's wall clock.
    package var serverSource: @Sendable () -> Int64 { { [self] in self.now } }
}

/// Replicas (SQLite files), the real server code in process, a clock and a
/// network that can be partitioned: what scenarios and the simulator run on.
package final class World {
    package let folder: String
    package let clock = WorldClock()
    package private(set) var stores: [String: ReplicaStore] = [:]
    package var partitioned: Set<String> = []
    let storage: SQLiteServerStorage
    package let service: SyncService
    package let user: ServerUser
    var faults: [String: ReplicaFaults] = [:]
    /// The pages of each scenario `deliver` step, by "from -> to", for a later `again`.
    var deliveredPages: [String: [[LogEntry]]] = [:]

    package init(retentionDays: Int = 90) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-world-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        storage = try SQLiteServerStorage(path: folder + "/server.sqlite", now: clock.serverSource)
        service = SyncService(storage: storage, retention: .seconds(Int64(retentionDays) * 86_400), now: clock.serverSource)
        user = try await storage.addUser(name: "scenario", tokenHash: Tokens.hash("scenario"))
    }

    /// Removes every file of the world.
    package func tearDown() async {
        for store in stores.values { try? store.close() }
        stores.removeAll()
        await storage.close()
        try? FileManager.default.removeItem(atPath: folder)
    }

    package func path(of replica: String) -> String { "\(folder)/\(replica).sqlite" }

    /// Opens (creating) a replica's file.
    package func open(_ replica: String, faults: ReplicaFaults? = nil) throws(StoreError) {
        if let faults { self.faults[replica] = faults }
        stores[replica] = try ReplicaStore.open(path: path(of: replica), now: clock.source(for: replica), faults: self.faults[replica])
    }

    /// Closes and reopens a replica from its file (a restart after a crash).
    package func restart(_ replica: String) throws(StoreError) {
        try? stores[replica]?.close()
        try open(replica)
    }

    package func store(_ replica: String) -> ReplicaStore { stores[replica]! }

    func register(_ replica: String, _ store: ReplicaStore) { stores[replica] = store }

    /// Copies a replica's file to a new replica (a cloned database).
    package func copy(_ from: String, to: String) throws(StoreError) {
        try store(from).close()
        do { try FileManager.default.copyItem(atPath: path(of: from), toPath: path(of: to)) } catch {
            throw .database("cannot copy \(from): \(error)")
        }
        clock.setOffset(0, for: to)
        try open(from)
        try open(to)
    }

    /// The in-process transport from a replica to the server; cut while partitioned.
    package func transport(for replica: String) -> ClosureTransport {
        let service = service, user = user
        let cut = partitioned.contains(replica)
        return ClosureTransport { request throws(SyncTransportError) in
            if cut { throw .unreachable("\(replica) is partitioned from the server") }
            return try await World.call(service, request, user)
        }
    }

    /// One round trip through the real server code, with protocol errors as the HTTP client would see them.
    static func call(_ service: SyncService, _ request: SyncRequest, _ user: ServerUser) async throws(SyncTransportError) -> SyncResponse {
        do {
            return try await service.handle(request, for: user)
        } catch {
            switch error {
            case let .refused(code, message): throw .rejected(status: code.httpStatus, code: code, message: message)
            case let .storage(message): throw .rejected(status: 503, code: .unavailable, message: message.description)
            case let .invalidAdminRequest(message): throw .rejected(status: 400, code: .malformedRequest, message: message)
            }
        }
    }

    /// Syncs a replica with the server (no retries: the caller decides).
    @discardableResult
    package func syncWithServer(_ replica: String, transport: ClosureTransport? = nil, pageSize: Int = 1000) async throws(ServerSync.Failure) -> ServerSync.Report {
        var sync = ServerSync(pageSize: pageSize, retryPolicy: .none, sleep: { _ in }, jitter: { 0 }, pipelined: false)
        sync.rejoinIdentity = Self.rejoinIdentity
        return try await sync.run(store: store(replica), transport: transport ?? self.transport(for: replica), partner: "server")
    }

    /// A rejoining replica's new identity, drawn from its old one: a run replays exactly.
    static let rejoinIdentity: @Sendable (ReplicaID) -> ReplicaID = { old in
        var seed = FNV1a()
        seed.add(old.rawValue)
        var generator = SplitMix64(seed: seed.value)
        return ReplicaID.random(using: &generator)
    }

    /// What a user sees on `replica`: `list --json` with content, as canonical text.
    package func visibleState(_ replica: String) throws(StoreError) -> String {
        JSONValue.array(try store(replica).articles(includeContent: true).map { $0.jsonValue(includeContent: true) }).canonicalText
    }
}
