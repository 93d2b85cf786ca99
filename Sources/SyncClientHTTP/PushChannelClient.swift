import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol

/// A device's end of the push channel (`GET /v1/events`, a WebSocket): it
/// tells the app when the user's list on the server moved, so that the app
/// syncs then instead of polling. The data itself still comes through
/// `POST /v1/sync` (``HTTPSyncTransport``).
///
/// ```swift
/// let channel = PushChannelClient(server: address, token: token, replica: store.replicaID)
/// for try await _ in channel.notices() { try await syncNow() }   // finished: the server closed; reconnect later
/// ```
///
/// Each call of ``notices(knowledge:connected:)`` opens one connection.
/// Notices are not replayed: after every (re)connection, sync unless the
/// hello says the replica is not `PushHello.behind` (state the replica's
/// knowledge to learn that), then on every notice.
public final class PushChannelClient: Sendable {
    /// The server's address.
    public let address: ServerAddress
    /// The replica the channel is opened for: its own syncs wake no notice.
    public let replica: ReplicaID
    let token: String
    let heartbeat: Duration
    let logger: Logger
    /// Where the connection's task runs (nil: the global concurrent executor).
    public let executor: (any TaskExecutor)?

    /// `heartbeat`: how often this end pings the server (a server that
    /// answers no ping within the next interval is taken for dead: the
    /// stream then throws `SyncTransportError.unreachable(_:)`).
    ///
    /// `executor`: where the connection's task runs, nil for the global
    /// concurrent executor (the default). That executor has as many threads
    /// as the machine has cores, and code that blocks them (a synchronous
    /// wait for a child process, a long synchronous computation) holds every
    /// task of the process up: the hello, the notices and the answers to the
    /// server's pings then wait for it. A process that may do so gives the
    /// channel an executor of its own.
    public init(
        server: ServerAddress, token: String, replica: ReplicaID, heartbeat: Duration = .seconds(30),
        executor: (any TaskExecutor)? = nil,
        logger: Logger = Logger(label: "readinglist.push", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        address = server
        self.token = token
        self.replica = replica
        self.heartbeat = heartbeat
        self.executor = executor
        self.logger = logger
    }

    /// The channel's URL: `ws://HOST:PORT/PATH/v1/events?replica=ID` (`wss` for an https server).
    public var url: String {
        let base = address.endpoint("/v1/events")
        let socket = address.scheme == .https ? "wss" + base.dropFirst("https".count) : "ws" + base.dropFirst("http".count)
        return socket + "?replica=" + replica.rawValue
    }

    /// Connects, and yields a `PushNotice` for every `changed` frame.
    ///
    /// The stream finishes when the server closes the channel cleanly (it is
    /// shutting down: reconnect with a backoff). It throws a
    /// `SyncTransportError`: `rejected` when the server refuses the channel
    /// (`unauthorized`: a missing, wrong or revoked token, also when a token is
    /// revoked while connected; `too_many_connections`), `unreachable` when
    /// nothing answers or the connection is lost, `invalidResponse` when the
    /// server sends something that is not this protocol, `wrongAddress` when
    /// the server has no push channel (an older server: sync without it).
    /// Notices that arrive while the consumer is busy are coalesced into the
    /// latest one.
    /// Ending the iteration (or cancelling its task) closes the connection.
    ///
    /// `connected` is called with the server's hello once the channel is
    /// open: a sync started from then on cannot miss a change (one that
    /// lands later wakes a notice). With `knowledge` (what the replica has,
    /// read just before), the hello says whether the list on the server holds
    /// anything more (`PushHello.behind`); a knowledge too large for a
    /// request header (over 48 KiB of text, some 1 000 replicas) is not sent.
    public func notices(
        knowledge: VersionVector? = nil, connected: (@Sendable (PushHello) -> Void)? = nil
    ) -> AsyncThrowingStream<PushNotice, any Error> {
        let (stream, continuation) = AsyncThrowingStream<PushNotice, any Error>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let stated = knowledge.map(\.compactText).flatMap { $0.utf8.count <= 48 << 10 ? $0 : nil }
        let task = Task(executorPreference: executor) { [self] in
            do {
                let frame = try await connect(knowledge: stated, connected: connected) { notice in continuation.yield(notice) }
                continuation.finish(throwing: Self.failure(closing: frame, url: url))
            } catch is CancellationError {
                continuation.finish()
            } catch let error as SyncTransportError {
                continuation.finish(throwing: error)
            } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
                continuation.finish(throwing: await refusal())
            } catch {
                continuation.finish(throwing: Task.isCancelled ? nil : Self.describe(error, url: url))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Runs one connection until it closes; returns the server's close frame (nil when the connection was lost).
    private func connect(
        knowledge: String?, connected: (@Sendable (PushHello) -> Void)?, _ deliver: @escaping @Sendable (PushNotice) -> Void
    ) async throws -> WebSocketCloseFrame? {
        var configuration = WebSocketClientConfiguration(
            maxFrameSize: 1 << 16, additionalHeaders: [.authorization: "Bearer \(token)"], autoPing: .enabled(timePeriod: heartbeat))
        // (A valid header name: the force unwrap cannot fail.)
        if let knowledge { configuration.additionalHeaders[.init(PushHello.knowledgeHeader)!] = knowledge }
        let connection = WebSocketClient(url: url, configuration: configuration, logger: logger) { inbound, _, _ in
            let decoder = JSONDecoder()
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case let .text(text) = message else {
                    throw SyncTransportError.invalidResponse("the push channel sent a binary frame; it sends JSON text frames only")
                }
                struct Typed: Decodable { var type: String }
                let data = Data(text.utf8)
                guard let type = try? decoder.decode(Typed.self, from: data).type else {
                    throw SyncTransportError.invalidResponse("the push channel sent a frame that is not a JSON object with a type: \(text.prefix(200))")
                }
                switch type {
                case PushFrameType.changed:
                    guard let notice = try? decoder.decode(PushNotice.self, from: data) else {
                        throw SyncTransportError.invalidResponse("malformed 'changed' frame: \(text.prefix(200))")
                    }
                    deliver(notice)
                case PushFrameType.hello:
                    guard let hello = try? decoder.decode(PushHello.self, from: data) else {
                        throw SyncTransportError.invalidResponse("malformed 'hello' frame: \(text.prefix(200))")
                    }
                    connected?(hello)
                default:
                    break  // A frame type of a later server: ignored.
                }
            }
        }
        return try await connection.run()
    }

    /// What a closed channel means: nil (finish) for a clean close, else the error.
    static func failure(closing frame: WebSocketCloseFrame?, url: String) -> SyncTransportError? {
        guard let frame else { return .unreachable("the push channel's connection to \(url) was lost") }
        let reason = frame.reason.flatMap { $0.isEmpty ? nil : $0 }
        switch frame.closeCode {
        case .normalClosure, .goingAway: return nil
        case .policyViolation:
            // The server closes with 1008 when the token is revoked.
            return .rejected(status: 401, code: .unauthorized, message: reason ?? "the token was revoked")
        default:
            return .unreachable("the server closed the push channel (\(frame.closeCode)\(reason.map { ": \($0)" } ?? ""))")
        }
    }

    /// Why the server refused the upgrade: the WebSocket library reports only
    /// that it failed (not the status and JSON error the server answered), so
    /// the same URL is asked again as a plain GET, which the server answers
    /// with the same refusal.
    private func refusal() async -> SyncTransportError {
        var request = HTTPClientRequest(url: address.endpoint("/v1/events") + "?replica=" + replica.rawValue)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 16)
            if let error = try? JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: body)), error.error.code != .malformedRequest || response.status != .upgradeRequired {
                return .rejected(status: Int(response.status.code), code: error.error.code, message: error.error.message)
            }
            if response.status == .notFound {
                return .wrongAddress("\(address.url) has no push channel (GET /v1/events answers 404: another server, or an older readinglist-server); sync without it")
            }
            return .unreachable("the server refused to open the push channel at \(url) (and then answered \(response.status.code))")
        } catch {
            return Self.describe(error, url: url)
        }
    }

    static func describe(_ error: any Error, url: String) -> SyncTransportError {
        if let error = error as? SyncTransportError { return error }
        if HTTPSyncTransport.socketErrno(error) == ECONNREFUSED { return .unreachable("nothing answers at \(url) (connection refused)") }
        return .unreachable("the push channel at \(url) failed: \(error)")
    }
}

extension LiveSync {
    /// The push channel of `client` for an engine keeping `store` in sync:
    /// each connection states the replica's knowledge, so that the server's
    /// hello says whether the list holds anything the replica lacks (or the
    /// reverse). When neither, the connection is `ChannelEvent.connectedUpToDate` and the
    /// engine skips the round it would run to catch up (unless local changes
    /// wait to be pushed); otherwise `ChannelEvent.connected`.
    ///
    /// ```swift
    /// let push = PushChannelClient(server: address, token: token, replica: store.replicaID)
    /// let live = LiveSync(store: store, transport: transport, partner: url, channel: LiveSync.channel(push, store: store))
    /// ```
    public static func channel(_ client: PushChannelClient, store: ReplicaStore) -> @Sendable () -> AsyncThrowingStream<ChannelEvent, any Error> {
        {
            AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
                // (Read before connecting: a change pulled meanwhile only makes the server say "behind", one round too many.)
                let notices = client.notices(knowledge: try? store.knowledge()) { hello in
                    continuation.yield(hello.upToDate ? .connectedUpToDate : .connected)
                }
                let task = Task(executorPreference: client.executor) {
                    do {
                        for try await _ in notices { continuation.yield(.changed) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }
}
