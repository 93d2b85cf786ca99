import CompressNIO
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SyncCore
import SyncProtocol
import SyncServerCore

/// How to run the server.
public struct ServerConfiguration: Sendable {
    /// The address to listen on (`127.0.0.1` by default; `0.0.0.0` for every interface).
    public var host: String
    /// The port to listen on (0: any free port, see `onServerRunning`).
    public var port: Int
    /// The request limits the server enforces and announces.
    public var limits: SyncLimits

    /// A configuration; the defaults listen on `127.0.0.1:8080` with the default limits.
    public init(host: String = "127.0.0.1", port: Int = 8080, limits: SyncLimits = SyncLimits()) {
        self.host = host
        self.port = port
        self.limits = limits
    }
}

/// The server as a value: routes over `service`, bound per `configuration`.
/// `onServerRunning` receives the bound address (useful with port 0).
public func buildApplication(
    service: SyncService, configuration: ServerConfiguration, logger: Logger,
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) -> some ApplicationProtocol {
    // The push channel's upgrades are routed apart from the HTTP routes (the library's advice).
    let webSocketRouter = Router(context: PushUpgradeContext.self)
    let push = PushChannelRoute(service: service)
    webSocketRouter.ws("/v1/events") { request, context in
        try await push.shouldUpgrade(request, context: context)
    } onUpgrade: { inbound, outbound, context in
        try await push.run(inbound: inbound, outbound: outbound, request: context.request, logger: context.logger)
    }
    // Pings every heartbeat; a peer that has not answered by the next one is closed (the library's auto-ping).
    let webSocket = WebSocketServerConfiguration(
        maxFrameSize: 1 << 14, autoPing: .enabled(timePeriod: .seconds(service.push.limits.heartbeatSeconds)), closeTimeout: .seconds(5))
    return Application(
        router: buildRouter(service: service, logger: logger),
        server: WebSocketUpgradeChannel.builder(webSocketRouter: webSocketRouter, configuration: .init(ws: webSocket)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "readinglist-server"),
        services: [service.push],
        onServerRunning: { channel in
            let address = channel.localAddress
            let host = address?.ipAddress ?? configuration.host
            let shown = host.contains(":") ? "[\(host)]" : host
            await onServerRunning("http://\(shown):\(address?.port ?? configuration.port)")
        },
        logger: logger)
}

/// The routes: `GET /health`, `GET /metrics`, `POST /v1/sync`, `GET /v1/snapshot`, and `GET /v1/events`
/// without its WebSocket upgrade (which answers why an upgrade would be refused).
package func buildRouter(service: SyncService, logger: Logger) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: ObservationMiddleware(metrics: service.metrics, logger: logger))
    // Hummingbird's request metrics (`hb_requests`, `http_server_request_duration`...), into this server's registry.
    router.add(middleware: MetricsFactoryMiddleware(factory: service.metrics.factory))
    router.add(middleware: MetricsMiddleware())
    router.get("/health") { _, _ in
        jsonResponse(.ok, ["status": "ok"])
    }
    router.get("/metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: service.metrics.render())))
    }
    router.post("/v1/sync") { request, context in
        await SyncRoute(service: service).respond(to: request, context: context)
    }
    router.get("/v1/snapshot") { request, context in
        await SnapshotRoute(service: service).respond(to: request, context: context)
    }
    router.get("/v1/events") { request, context in
        await PushChannelRoute(service: service).plainGet(request, context: context)
    }
    // Any other method on a served path: 405 with the allowed ones.
    let served: [String: HTTPRequest.Method] = ["/health": .get, "/metrics": .get, "/v1/sync": .post, "/v1/snapshot": .get, "/v1/events": .get]
    let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options, .trace, .connect, HTTPRequest.Method("QUERY")!]
    for (path, allowed) in served {
        for method in methods where method != allowed {
            router.on(RouterPath(path), method: method) { _, _ in
                var response = jsonResponse(
                    .methodNotAllowed,
                    ErrorResponse(code: .methodNotAllowed, message: "\(path) accepts \(allowed.rawValue) only"))
                response.headers[.allow] = allowed.rawValue
                return response
            }
        }
    }
    return router
}

/// `POST /v1/sync`: authenticate, bound the body, decode, run the round trip, map errors.
struct SyncRoute: Sendable {
    let service: SyncService

    func respond(to request: Request, context: BasicRequestContext) async -> Response {
        do {
            let user = try await authenticate(request)
            context.logger.debug("sync", metadata: ["user": .string(user.name)])
            let limit = service.limits.maxBodyBytes
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw ServerError.refused(.bodyTooLarge, "the body has \(length) bytes; the limit is \(limit)")
            }
            var body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch {
                throw ServerError.refused(.bodyTooLarge, "the body is larger than the limit of \(limit) bytes")
            }
            body = try Compression.decoded(body, encoding: request.headers[.contentEncoding], limit: limit)
            let syncRequest: SyncRequest
            do {
                syncRequest = try body.withUnsafeReadableBytes { bytes throws(WireJSON.Malformed) in try WireJSON.request(from: bytes) }
            } catch {
                throw ServerError.refused(.malformedRequest, "\(error)")
            }
            let response = try await service.handle(syncRequest, for: user)
            return Compression.jsonResponse(.ok, response, accepting: request.headers[.acceptEncoding])
        } catch let error as ServerError {
            return errorResponse(error, metrics: service.metrics, logger: context.logger)
        } catch {
            return errorResponse(.storage(Cause(error)), metrics: service.metrics, logger: context.logger)
        }
    }

    func authenticate(_ request: Request) async throws(ServerError) -> ServerUser {
        try await SyncRoute.authenticate(request, storage: service.storage)
    }

    static func authenticate(_ request: Request, storage: any ServerStorage) async throws(ServerError) -> ServerUser {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw .refused(.unauthorized, "missing bearer token: send 'Authorization: Bearer TOKEN'")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let user = try await storage.user(tokenHash: Tokens.hash(token)) else {
            throw .refused(.unauthorized, "unknown or revoked token")
        }
        return user
    }
}

/// `GET /v1/snapshot`: the user's whole list as a replica file (SQLite), for
/// a new replica to start from; `Readinglist-Knowledge` says what it holds.
/// The file is written for this request, streamed, and removed.
struct SnapshotRoute: Sendable {
    let service: SyncService

    func respond(to request: Request, context: BasicRequestContext) async -> Response {
        do {
            let user = try await SyncRoute.authenticate(request, storage: service.storage)
            guard let snapshot = try await service.storage.snapshot(for: user) else {
                throw ServerError.refused(.snapshotUnavailable, "this server's storage makes no snapshots; sync page by page (POST /v1/sync)")
            }
            context.logger.debug("snapshot", metadata: ["user": .string(user.name), "bytes": .stringConvertible(snapshot.bytes)])
            var headers: HTTPFields = [
                .contentType: "application/vnd.sqlite3", .vary: "Accept-Encoding",
                .readinglistKnowledge: snapshot.knowledge.compactText, .readinglistSnapshotBytes: String(snapshot.bytes),
            ]
            // Gzipped as it is read when the client accepts it (for a slow or metered link;
            // then without a length: Readinglist-Snapshot-Bytes is the file's).
            let gzip = request.headers[.acceptEncoding].map(Compression.accepts(gzipIn:)) ?? false
            if gzip { headers[.contentEncoding] = "gzip" }
            let body = ResponseBody(contentLength: gzip ? nil : snapshot.bytes) { writer in
                // Reading and compressing block: on the blocking pool, a part at a time.
                let compressor = gzip ? StreamCompressor(try Compression.streamCompressor()) : nil
                while true {
                    let (part, end) = try await offload { () throws -> (ByteBuffer, Bool) in
                        let data = try snapshot.read(upTo: 256 << 10)
                        var input = ByteBuffer(bytes: data)
                        guard let compressor else { return (input, data.isEmpty) }
                        return (try compressor.deflate(&input, finish: data.isEmpty), data.isEmpty)
                    }
                    if part.readableBytes > 0 { try await writer.write(part) }
                    if end { break }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        } catch let error as ServerError {
            return errorResponse(error, metrics: service.metrics, logger: context.logger)
        } catch {
            return errorResponse(.storage(Cause(error)), metrics: service.metrics, logger: context.logger)
        }
    }
}

func errorResponse(_ error: ServerError, metrics: ServerMetrics, logger: Logger) -> Response {
    let code: SyncErrorCode
    let message: String
    switch error {
    case let .refused(refusedCode, text): (code, message) = (refusedCode, text)
    case let .storage(cause):
        logger.error("storage failure", metadata: ["error": .string(cause.description)])
        (code, message) = (.unavailable, "the server's storage is unavailable; retry later")
    case let .invalidAdminRequest(text): (code, message) = (.malformedRequest, text)
    }
    metrics.recordError(code: code.rawValue)
    var response = jsonResponse(HTTPResponse.Status(code: code.httpStatus), ErrorResponse(code: code, message: message))
    if code == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
    if code == .unavailable { response.headers[.retryAfter] = "1" }
    return response
}

func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: jsonData(value))))
}

func jsonData(_ value: some Encodable) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"unavailable","message":"encoding failed","retryable":true}}"#.utf8)
}

/// Logs every request (method, path, status, duration; never headers or
/// tokens) and feeds the metrics.
struct ObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let route = ["/health", "/metrics", "/v1/sync", "/v1/snapshot", "/v1/events"].contains(path) ? path : "other"
        do {
            let response = try await next(request, context)
            finish(request, route: route, status: Int(response.status.code), since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            finish(request, route: route, status: Int(status), since: start)
            throw error
        }
    }

    private func finish(_ request: Request, route: String, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        metrics.recordRequest(route: route, status: status, seconds: seconds)
        logger.info("request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(route), "status": .stringConvertible(status),
            "ms": .stringConvertible((seconds * 100_000).rounded() / 100),  // a JSON number, to 0.01 ms
        ])
    }
}

/// One gzip stream, fed a part at a time by one task (each part flushed, so
/// nothing waits in the compressor), ended by the last.
final class StreamCompressor: @unchecked Sendable {
    private let compressor: any NIOCompressor

    init(_ compressor: any NIOCompressor) {
        self.compressor = compressor
    }

    func deflate(_ input: inout ByteBuffer, finish: Bool) throws -> ByteBuffer {
        var output = ByteBuffer()
        output.reserveCapacity(compressor.maxSize(from: input) + 4096)
        try compressor.streamDeflate(from: &input, to: &output, flush: finish ? .finish : .sync)
        guard input.readableBytes == 0 else { throw CompressNIOError.bufferOverflow }
        if finish { try compressor.finishStream() }
        return output
    }
}

/// gzip on `POST /v1/sync`: request bodies sent with `Content-Encoding: gzip`
/// are inflated (the body limit applies to the inflated size too), and
/// responses over 1 KiB are gzipped for clients that send `Accept-Encoding: gzip`.
enum Compression {
    static let threshold = 1024
    /// Level 3: nearly the ratio of the default level on JSON, at a fraction of its time.
    static let gzip = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: 3))

    /// Level 1 for snapshots: a replica file is hundreds of megabytes, and the
    /// fastest level already takes it to about a quarter (about 100 MB/s here).
    static func streamCompressor() throws -> any NIOCompressor {
        let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: 1)).compressor
        try compressor.startStream()
        return compressor
    }

    static func decoded(_ body: ByteBuffer, encoding: String?, limit: Int) throws(ServerError) -> ByteBuffer {
        guard let encoding = encoding?.trimmingCharacters(in: .whitespaces).lowercased(), !encoding.isEmpty, encoding != "identity" else {
            return body
        }
        guard encoding == "gzip" else {
            throw .refused(.malformedRequest, "unsupported Content-Encoding '\(encoding)': send gzip or no encoding")
        }
        var compressed = body
        do {
            return try compressed.decompress(with: gzip, maxSize: limit)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw .refused(.bodyTooLarge, "the body inflates to more than the limit of \(limit) bytes")
        } catch {
            throw .refused(.malformedRequest, "the body is not valid gzip")
        }
    }

    /// `jsonResponse`, gzipped when the client accepts it and the body is worth it.
    static func jsonResponse(_ status: HTTPResponse.Status, _ value: SyncResponse, accepting: String?) -> Response {
        var body = ByteBuffer(string: WireJSON.text(value))
        var headers: HTTPFields = [.contentType: "application/json", .vary: "Accept-Encoding"]
        if let accepting, accepts(gzipIn: accepting), body.readableBytes > threshold, let compressed = try? body.compress(with: gzip) {
            body = compressed
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// Whether an Accept-Encoding value allows gzip (a `q=0` refuses it).
    static func accepts(gzipIn header: String) -> Bool {
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.first == "gzip" || parts.first == "*" else { continue }
            let refused = parts.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" || $0 == "q=0.0" || $0 == "q=0.00" || $0 == "q=0.000" }
            return !refused
        }
        return false
    }
}

extension HTTPFields.Element.Name {
    /// `Readinglist-Knowledge`: the version vector a snapshot holds (compact text).
    static let readinglistKnowledge = Self("Readinglist-Knowledge")!
    /// `Readinglist-Snapshot-Bytes`: a snapshot's size as a file (uncompressed).
    static let readinglistSnapshotBytes = Self("Readinglist-Snapshot-Bytes")!
}
