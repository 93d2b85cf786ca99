import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SyncCore
import SyncProtocol

/// Something that wakes push connections.
package enum PushEvent: Sendable, Hashable {
    /// A sync by `replica` stored `changes` new changes in `user`'s list.
    case changed(user: Int64, by: ReplicaID, changes: Int)
    /// `user`'s token was revoked or replaced: connections opened with a token
    /// that no longer authenticates are closed.
    case tokensChanged(user: Int64)
}

/// What one connection's task is told to do.
package enum PushSignal: Sendable {
    case changed(Int)
    /// Close with this WebSocket close code (RFC 6455 section 7.4) and reason.
    case close(code: UInt16, reason: String)

    /// 1001: the server is going away.
    package static let goingAway: UInt16 = 1001
    /// 1008: the connection broke a policy (its token no longer authenticates).
    package static let policyViolation: UInt16 = 1008
}

/// A storage shared by several server processes (PostgreSQL), which hands push
/// events between them: each process publishes through it and listens to it.
/// (A storage of one process, SQLite, is not one: its events stay in process.)
package protocol PushRelay: ServerStorage {
    /// Sends `payload` to every process listening, this one included.
    func notifyPush(_ payload: String) async throws
    /// Calls `deliver` with each payload sent, until the task is cancelled
    /// (reconnecting when the connection breaks).
    func listenPush(_ deliver: @escaping @Sendable (String) async -> Void) async
}

/// The server process's registry of open push connections (`GET /v1/events`),
/// keyed by user: one actor, woken only by events (a sync that stored
/// changes, a token revoked), never by a timer; idle connections cost no CPU
/// here (the WebSocket library's heartbeat pings are the only periodic work).
///
/// With SQLite, events are delivered in process. With PostgreSQL they go
/// through the database (`NOTIFY readinglist_push`, which every server process
/// `LISTEN`s to, this one included), so an edit landing on one process wakes
/// the devices connected to another.
public actor PushHub: Service {
    /// The bounds and heartbeat this hub applies.
    package nonisolated let limits: PushLimits
    let storage: any ServerStorage
    let logger: Logger

    struct Connection {
        let replica: ReplicaID
        let tokenHash: String
        let signals: AsyncStream<PushSignal>.Continuation
        var closing = false
    }

    private var byUser: [Int64: [UInt64: Connection]] = [:]
    private var count = 0
    private var nextID: UInt64 = 0
    private var shuttingDown = false
    private var drained: [CheckedContinuation<Void, Never>] = []

    /// A hub for the users of `storage`, bounded by `limits`, logging to `logger`.
    public init(storage: any ServerStorage, limits: PushLimits = PushLimits(), logger: Logger = Logger(label: "readinglist-server")) {
        self.storage = storage
        self.limits = limits
        self.logger = logger
    }

    /// Open push connections now (all users).
    package var connectionCount: Int { count }

    /// Open push connections of `user` now.
    package func connectionCount(of user: Int64) -> Int { byUser[user]?.count ?? 0 }

    /// Refuses past the bounds (checked before the upgrade; ``open(user:replica:tokenHash:)`` checks again).
    package func admit(user: Int64) throws(ServerError) {
        if shuttingDown { throw .refused(.unavailable, "the server is shutting down") }
        let mine = byUser[user]?.count ?? 0
        if mine >= limits.maxConnectionsPerUser {
            throw .refused(.tooManyConnections, "this user has \(mine) push connections open, the most this server allows per user (close another device's first)")
        }
        if count >= limits.maxConnections {
            throw .refused(.tooManyConnections, "the server has \(count) push connections open, the most it allows; retry later")
        }
    }

    /// Registers a connection; its signals end with a close, or when it is unregistered.
    package func open(user: Int64, replica: ReplicaID, tokenHash: String) throws(ServerError) -> (id: UInt64, signals: AsyncStream<PushSignal>) {
        try admit(user: user)
        nextID += 1
        // A few signals at most wait for a slow peer: a notice only says "sync", and a close comes last.
        let (signals, continuation) = AsyncStream<PushSignal>.makeStream(bufferingPolicy: .bufferingNewest(4))
        byUser[user, default: [:]][nextID] = Connection(replica: replica, tokenHash: tokenHash, signals: continuation)
        count += 1
        return (nextID, signals)
    }

    /// Unregisters a connection whose task ended.
    package func close(_ id: UInt64, user: Int64) {
        guard let connection = byUser[user]?.removeValue(forKey: id) else { return }
        connection.signals.finish()
        if byUser[user]?.isEmpty == true { byUser[user] = nil }
        count -= 1
        if count == 0 {
            for waiter in drained { waiter.resume() }
            drained.removeAll()
        }
    }

    /// Announces an event to every process serving this database (SQLite: this one).
    /// (Off the actor: a `NOTIFY` round trip holds no one else up.)
    package nonisolated func publish(_ event: PushEvent) async {
        if let relay = storage as? any PushRelay {
            do {
                try await relay.notifyPush(Self.payload(event))
                return
            } catch {
                // The database is unreachable: at least this process's devices hear of it.
                logger.warning("push notification not sent to other processes", metadata: ["error": .string("\(error)")])
            }
        }
        await deliver(event)
    }

    /// Wakes this process's connections concerned by `event`.
    package func deliver(_ event: PushEvent) async {
        switch event {
        case let .changed(user, replica, changes):
            guard let connections = byUser[user] else { return }
            for connection in connections.values where connection.replica != replica && !connection.closing {
                connection.signals.yield(.changed(changes))
            }
        case let .tokensChanged(user):
            guard let connections = byUser[user] else { return }
            var valid: [String: Bool] = [:]
            for hash in Set(connections.values.map(\.tokenHash)) {
                do {
                    valid[hash] = try await storage.user(tokenHash: hash)?.id == user
                } catch {
                    logger.warning("cannot check a push connection's token", metadata: ["error": .string("\(error)")])
                }
            }
            // (The actor may have changed while the storage answered: look the connections up again.)
            for (id, connection) in byUser[user] ?? [:] where valid[connection.tokenHash] == false && !connection.closing {
                byUser[user]?[id]?.closing = true
                connection.signals.yield(.close(code: PushSignal.policyViolation, reason: "the token was revoked or replaced"))
                logger.info("push connection closed: token revoked", metadata: ["user": .stringConvertible(user)])
            }
        }
    }

    /// Checks every connected user's tokens again (after a token changed somewhere).
    package func revalidateAll() async {
        for user in byUser.keys { await deliver(.tokensChanged(user: user)) }
    }

    /// Closes every connection with 1001 (going away), refuses new ones, and
    /// waits (up to `timeout`) until their tasks have ended.
    package func closeAll(timeout: Duration = .seconds(5)) async {
        shuttingDown = true
        for (user, connections) in byUser {
            for (id, connection) in connections where !connection.closing {
                byUser[user]?[id]?.closing = true
                connection.signals.yield(.close(code: PushSignal.goingAway, reason: "the server is shutting down"))
            }
        }
        guard count > 0 else { return }
        logger.info("closing push connections", metadata: ["count": .stringConvertible(count)])
        let waiter = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.stopWaiting()
        }
        await withCheckedContinuation { drained.append($0) }
        waiter.cancel()
    }

    private func stopWaiting() {
        for waiter in drained { waiter.resume() }
        drained.removeAll()
    }

    /// Runs for as long as the server does: with PostgreSQL, listens for the
    /// other processes' events (reconnecting when the database connection
    /// breaks); on graceful shutdown closes every connection with 1001.
    public func run() async throws {
        // (A hub may serve again after a shutdown: an application built anew on the same service.)
        shuttingDown = false
        if let relay = storage as? any PushRelay {
            await cancelWhenGracefulShutdown {
                await relay.listenPush { [weak self] payload in
                    guard let self, let event = Self.event(payload) else { return }
                    await self.deliver(event)
                }
            }
        } else {
            // Syncs are announced in process; token changes (also by the admin command, another process) through a file.
            let watch = (storage as? SQLiteServerStorage).flatMap { storage in
                TokenFileWatch(path: storage.tokenEventsPath) { [weak self] in
                    Task { await self?.revalidateAll() }
                }
            }
            try? await gracefulShutdown()
            watch?.cancel()
        }
        await closeAll()
    }

    // MARK: The NOTIFY payload: `c USER REPLICA CHANGES` or `t USER`.

    package static func payload(_ event: PushEvent) -> String {
        switch event {
        case let .changed(user, replica, changes): "c \(user) \(replica.rawValue) \(changes)"
        case let .tokensChanged(user): "t \(user)"
        }
    }

    package static func event(_ payload: String) -> PushEvent? {
        let parts = payload.split(separator: " ")
        switch parts.first {
        case "c":
            guard parts.count == 4, let user = Int64(parts[1]), let replica = ReplicaID(String(parts[2])), let changes = Int(parts[3]) else { return nil }
            return .changed(user: user, by: replica, changes: changes)
        case "t":
            guard parts.count == 2, let user = Int64(parts[1]) else { return nil }
            return .tokensChanged(user: user)
        default: return nil
        }
    }
}

/// Closes every push connection with 1001 when shutdown begins, before the
/// HTTP server stops: run it in the server's service group after the
/// application (a group shuts its services down last first). Without it the
/// WebSocket library closes them as the server stops, with 1000.
public struct PushGoingAway: Service {
    let hub: PushHub

    /// Closes `hub`'s channels when the service group shuts down.
    public init(hub: PushHub) { self.hub = hub }

    /// Waits for graceful shutdown, then tells every open channel the server is going away.
    public func run() async throws {
        try? await gracefulShutdown()
        await hub.closeAll()
    }
}

/// Calls `changed` whenever the file at `path` is written. Hand-written
/// because no listed package watches files: on Linux a thread blocks reading
/// inotify on the file's folder (the file may not exist yet; nothing is
/// created: no polling, no CPU while nothing changes); elsewhere a dispatch
/// source on the folder.
final class TokenFileWatch: Sendable {
    #if canImport(Glibc)
    private let descriptor: Int32
    private let watch: Int32
    #else
    private let source: any DispatchSourceFileSystemObject
    #endif

    init?(path: String, changed: @escaping @Sendable () -> Void) {
        let folder = (path as NSString).deletingLastPathComponent
        let name = Array((path as NSString).lastPathComponent.utf8)
        #if canImport(Glibc)
        let descriptor = inotify_init1(Int32(IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        // Only files written and closed, or moved in: the folder's other files (open databases) wake nothing.
        let watch = inotify_add_watch(descriptor, folder, UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO))
        guard watch >= 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.watch = watch
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            reading: while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                // Events: wd (4 bytes), mask (4), cookie (4), name length (4), name.
                var offset = 0, written = false, ended = false
                while offset + 16 <= count {
                    let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                    let length = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) }
                    if mask & UInt32(IN_IGNORED) != 0 {
                        ended = true
                    } else if length > 0 {
                        // The name, padded with NULs.
                        let named = buffer[(offset + 16)..<min(count, offset + 16 + Int(length))].prefix { $0 != 0 }
                        if Array(named) == name { written = true }
                    }
                    offset += 16 + Int(length)
                }
                if written { changed() }
                if ended { break reading }
            }
            close(descriptor)
        }
        thread.name = "token-file-watch"
        thread.start()
        #else
        _ = name  // (The folder's events name no file here: any change of its entries counts.)
        let descriptor = open(folder, O_EVTONLY)
        guard descriptor >= 0 else { return nil }
        source = DispatchSource.makeFileSystemObjectSource(fileDescriptor: descriptor, eventMask: [.write, .extend], queue: .global())
        source.setEventHandler { changed() }
        source.setCancelHandler { close(descriptor) }
        source.resume()
        #endif
    }

    /// Stops watching (the thread ends on the event removing the watch makes).
    func cancel() {
        #if canImport(Glibc)
        inotify_rm_watch(descriptor, watch)
        #else
        source.cancel()
        #endif
    }
}
