import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOWebSocket
import Logging
import NIOCore
import NIOHTTP1
import SyncCore
import SyncProtocol
import SyncServerCore

/// `GET /v1/events`: the push channel, a WebSocket. Authenticated like
/// `POST /v1/sync`, bounded per user and in all, refused before the upgrade
/// with the refusal's status and JSON error.
///
/// Why a WebSocket and not server-sent events: both keep one long-lived
/// connection, but the WebSocket has pings and pongs in the protocol itself,
/// so the server finds a dead peer (a phone that left the network) within two
/// heartbeat intervals without writing anything an app must parse, and the
/// client finds a dead server the same way; hummingbird-websocket gives both
/// ends (server and client, no browser needed) from the framework the server
/// already runs on. SSE would need a comment line every interval from the
/// server and a read timeout on the client to do the same.
struct PushChannelRoute: Sendable {
    let service: SyncService
    var hub: PushHub { service.push }

    /// Who asks, for which replica, knowing what (when stated), within the bounds; throws the refusal.
    func admit(_ request: Request) async throws(ServerError) -> Admission {
        let user = try await SyncRoute.authenticate(request, storage: service.storage)
        guard let text = request.uri.queryParameters.get("replica") else {
            throw .refused(.malformedRequest, "name the replica the channel is for: GET /v1/events?replica=ID (32 lowercase hex digits)")
        }
        guard let replica = ReplicaID(text) else {
            throw .refused(.malformedRequest, "replica '\(text.prefix(64))' is not a replica id (32 lowercase hex digits)")
        }
        var knowledge: VersionVector?
        // (A valid header name: the force unwrap cannot fail.)
        if let stated = request.headers[.init(PushHello.knowledgeHeader)!] {
            guard let vector = VersionVector(compactText: stated) else {
                throw .refused(
                    .malformedRequest,
                    "\(PushHello.knowledgeHeader) '\(stated.prefix(64))' is not a version vector (replica:counter,... with 32-hex-digit replica ids)")
            }
            knowledge = vector
        }
        try await hub.admit(user: user.id)
        let header = request.headers[.authorization] ?? ""
        return Admission(
            user: user, tokenHash: Tokens.hash(String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)),
            replica: replica, knowledge: knowledge)
    }

    struct Admission {
        let user: ServerUser
        let tokenHash: String
        let replica: ReplicaID
        /// What the client says its replica has (``PushHello/knowledgeHeader``), nil when it says nothing.
        let knowledge: VersionVector?
    }

    /// Whether the list holds changes the stated knowledge lacks, and the reverse (read after the
    /// connection is registered: a change stored later wakes a notice, so
    /// nothing falls between the two); nil when unknown.
    ///
    /// The client's stated knowledge is what its replica has acknowledged at
    /// this moment. (The acknowledgement the server records per replica at
    /// each sync, `recordReplica`, lags behind it: it is what the replica had
    /// when its last sync began, before that sync's pull, so it would call
    /// every device that pulled something behind.)
    func compare(_ admitted: Admission, logger: Logger) async -> (behind: Bool, ahead: Bool)? {
        guard let knowledge = admitted.knowledge else { return nil }
        do {
            let list = try await service.storage.space(for: admitted.user).knowledge()
            return (!knowledge.includes(list), !list.includes(knowledge))
        } catch {
            logger.warning("push channel: cannot read the list's knowledge", metadata: ["error": .string("\(error)")])
            return nil
        }
    }

    /// The upgrade's check. A refused upgrade is answered with the refusal's
    /// status and JSON error, as `POST /v1/sync` answers (the library would
    /// send a bare 400: ``RefuseUnparsableRequests`` rewrites it).
    func shouldUpgrade(_ request: Request, context: PushUpgradeContext) async throws -> RouterShouldUpgrade {
        do {
            _ = try await admit(request)
            return .upgrade([:])
        } catch {
            let code = errorCode(error)
            service.metrics.recordError(code: code.rawValue)
            context.logger.info("push channel refused", metadata: ["code": .string(code.rawValue)])
            let message: String
            switch error {
            case let .refused(_, text): message = text
            case .storage: message = "the server's storage is unavailable; retry later"
            case let .invalidAdminRequest(text): message = text
            }
            let channel = context.channel
            try? await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.handler(type: RefuseUnparsableRequests.self).refusal = (code, message)
            }.get()
            throw error
        }
    }

    /// `GET /v1/events` without `Upgrade: websocket`: the refusal the upgrade
    /// would get, as JSON with its status, else 426 (send the upgrade).
    func plainGet(_ request: Request, context: BasicRequestContext) async -> Response {
        do {
            _ = try await admit(request)
            var response = jsonResponse(
                .upgradeRequired,
                ErrorResponse(code: .malformedRequest, message: "GET /v1/events is a WebSocket: send 'Connection: Upgrade' and 'Upgrade: websocket'"))
            response.headers[.upgrade] = "websocket"
            return response
        } catch {
            return errorResponse(error, metrics: service.metrics, logger: context.logger)
        }
    }

    private func errorCode(_ error: ServerError) -> SyncErrorCode {
        if case let .refused(code, _) = error { return code }
        return .unavailable
    }

    /// One open channel: hello (saying whether the replica is behind), then a `changed` frame per signal, until the
    /// peer closes, the hub closes it, or the peer sends a data frame.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, logger: Logger) async throws {
        let admitted: Admission
        let registration: (id: UInt64, signals: AsyncStream<PushSignal>)
        do {
            admitted = try await admit(request)
            registration = try await hub.open(user: admitted.user.id, replica: admitted.replica, tokenHash: admitted.tokenHash)
        } catch {
            // Admitted before the upgrade, refused now (a race with other upgrades, or a token revoked meanwhile).
            // 1013: try again later; 1008 for a token.
            let code: WebSocketErrorCode = errorCode(error) == .unauthorized ? .policyViolation : .init(codeNumber: 1013)
            try await outbound.close(code, reason: "\(error)".prefix(120).description)
            return
        }
        let user = admitted.user
        let started = ContinuousClock.now
        logger.info("push channel opened", metadata: ["user": .string(user.name), "replica": .string(admitted.replica.short)])
        let comparison = await compare(admitted, logger: logger)
        let hello = PushHello(
            account: SyncAccount(server: service.storage.serverID, user: user.id, name: user.name), replica: admitted.replica,
            heartbeatSeconds: hub.limits.heartbeatSeconds, behind: comparison?.behind, ahead: comparison?.ahead)
        do {
            try await outbound.writeTextMessage(String(decoding: jsonData(hello), as: UTF8.self))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The client sends nothing (pings are answered by the library): any data frame ends the channel.
                    for try await frame in inbound {
                        try await outbound.close(
                            .unacceptableData, reason: "this channel takes no messages from the client (got a \(frame.opcode) frame)")
                        return
                    }
                }
                group.addTask {
                    for await signal in registration.signals {
                        switch signal {
                        case let .changed(changes):
                            try await outbound.writeTextMessage(String(decoding: jsonData(PushNotice(changes: changes)), as: UTF8.self))
                        case let .close(code, reason):
                            try await outbound.close(WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
                            return
                        }
                    }
                }
                // Either side ending ends the channel.
                _ = try await group.next()
                group.cancelAll()
            }
        } catch {
            logger.debug("push channel error", metadata: ["error": .string("\(error)")])
        }
        await hub.close(registration.id, user: user.id)
        let seconds = (ContinuousClock.now - started).components.seconds
        logger.info("push channel closed", metadata: ["user": .string(user.name), "seconds": .stringConvertible(seconds)])
    }
}

/// The HTTP/1 server with the WebSocket upgrade (hummingbird-websocket's
/// channel), plus what that channel leaves out (``RefuseUnparsableRequests``):
/// a refused upgrade answers its refusal (the library sends a bare 400), and
/// bytes that are not HTTP (TLS spoken to this plain-HTTP port, garbage) get
/// `400 Bad Request` and the connection closed, as the plain HTTP server
/// answers them, instead of a connection left waiting (the upgrade pipeline
/// turns NIO's error handling off).
struct WebSocketUpgradeChannel: ServerChildChannel {
    let inner: HTTP1WebSocketUpgradeChannel

    static func builder(webSocketRouter: Router<PushUpgradeContext>, configuration: HTTP1WebSocketUpgradeChannel.Configuration) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            WebSocketUpgradeChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration))
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(RefuseUnparsableRequests())
            return value
        }
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// After the HTTP decoder: a parse error before any request answers 400 and
/// closes; after one, closes. A refused WebSocket upgrade's bare 400 (what
/// the library writes) is rewritten into the refusal: its status and JSON
/// error. Everything else passes through untouched (it stays in the pipeline
/// after an upgrade: it only ever unwraps HTTP parts, and only while a
/// refusal is pending, which no upgraded connection has).
final class RefuseUnparsableRequests: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private var sawRequest = false
    /// Set (on the event loop) by the upgrade's check when it refuses.
    var refusal: (code: SyncErrorCode, message: String)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sawRequest = true
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let refusal, case .head(var head) = unwrapOutboundIn(data), head.status == .badRequest else {
            context.write(data, promise: promise)
            return
        }
        self.refusal = nil
        let body = ByteBuffer(bytes: jsonData(ErrorResponse(code: refusal.code, message: refusal.message)))
        head.status = HTTPResponseStatus(statusCode: refusal.code.httpStatus)
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        head.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        if refusal.code == .unauthorized { head.headers.replaceOrAdd(name: "WWW-Authenticate", value: "Bearer") }
        if refusal.code == .unavailable { head.headers.replaceOrAdd(name: "Retry-After", value: "1") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !sawRequest {
            let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["Connection": "close", "Content-Length": "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }
}

/// The request context of the WebSocket routes: the basic one, and the
/// connection's channel (for the refusal's answer).
struct PushUpgradeContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
