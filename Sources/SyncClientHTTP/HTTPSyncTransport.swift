import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
import SyncClient
import SyncCore
import Synchronization
import SyncProtocol

/// The HTTP transport: `POST {server}/v1/sync` with a bearer token, JSON both ways.
///
/// Failures are described in one line that names the URL and what went wrong
/// (`SyncTransportError`): nothing answering (connection refused), a timeout,
/// a host name that does not resolve, HTTPS asked of a port that speaks plain
/// HTTP, a URL whose path is not where the sync API is.
public final class HTTPSyncTransport: SyncTransport {
    let client: HTTPClient
    /// The server's address; nil when the text given to ``init(server:token:timeout:connectTimeout:compression:retriesConnections:)``
    /// is not one (every round trip then fails with `SyncTransportError.wrongAddress(_:)`).
    public let address: ServerAddress?
    let invalidAddress: ServerAddress.Invalid?
    let endpoint: String
    let snapshotEndpoint: String
    let token: String
    let timeout: TimeAmount
    let timeoutSeconds: Int64
    let connectTimeoutSeconds: Int64
    let compresses: Bool
    private let counters = Mutex(Traffic())

    /// Bytes this transport sent and received: bodies, and the HTTP request
    /// line, status line and headers (as written on the wire, before TCP/IP).
    public struct Traffic: Sendable, Hashable {
        /// Bytes sent: request lines, headers and bodies (compressed when they were).
        public var sent = 0
        /// Bytes received: status lines, headers and bodies (as they came, compressed or not).
        public var received = 0
        /// Round trips made.
        public var roundTrips = 0
    }

    /// Everything sent and received so far.
    public var traffic: Traffic { counters.withLock { $0 } }

    /// `address` is the server's base URL, checked (``ServerAddress``).
    /// `connectTimeout` bounds each connection attempt; `ServerSync` retries whole round trips.
    /// With `compression` (the default), request bodies over 1 KiB are sent
    /// gzipped and the server is asked to gzip its responses.
    /// With `retriesConnections` (the default), a connection that cannot be
    /// made is tried again for up to `connectTimeout`; without, a round trip
    /// fails as soon as nothing answers (a first sync, which should fail fast).
    public convenience init(
        address: ServerAddress, token: String, timeout: Duration = .seconds(60), connectTimeout: Duration = .seconds(3),
        compression: Bool = true, retriesConnections: Bool = true
    ) {
        self.init(
            parsed: .success(address), token: token, timeout: timeout, connectTimeout: connectTimeout, compression: compression,
            retriesConnections: retriesConnections)
    }

    /// `server` is the base URL (`http://127.0.0.1:8080`), checked as a
    /// ``ServerAddress``: when it is not a valid one, every round trip fails
    /// with `SyncTransportError.wrongAddress(_:)` saying what is wrong
    /// (check it first with ``ServerAddress/init(validating:)`` to refuse it earlier).
    public convenience init(
        server: String, token: String, timeout: Duration = .seconds(60), connectTimeout: Duration = .seconds(3), compression: Bool = true,
        retriesConnections: Bool = true
    ) {
        let parsed: Result<ServerAddress, ServerAddress.Invalid>
        do { parsed = .success(try ServerAddress(validating: server)) } catch { parsed = .failure(error) }
        self.init(
            parsed: parsed, token: token, timeout: timeout, connectTimeout: connectTimeout, compression: compression,
            retriesConnections: retriesConnections)
    }

    private init(
        parsed: Result<ServerAddress, ServerAddress.Invalid>, token: String, timeout: Duration, connectTimeout: Duration, compression: Bool,
        retriesConnections: Bool
    ) {
        compresses = compression
        switch parsed {
        case let .success(address):
            self.address = address
            invalidAddress = nil
            endpoint = address.endpoint("/v1/sync")
            snapshotEndpoint = address.endpoint("/v1/snapshot")
        case let .failure(invalid):
            address = nil
            invalidAddress = invalid
            endpoint = ""
            snapshotEndpoint = ""
        }
        self.token = token
        timeoutSeconds = max(1, timeout.components.seconds)
        connectTimeoutSeconds = max(1, connectTimeout.components.seconds)
        self.timeout = .seconds(timeoutSeconds)
        var configuration = HTTPClient.Configuration()
        // (The read timeout bounds silence on an open connection: a snapshot's body, which the request's deadline does not cover.)
        configuration.timeout = .init(connect: .seconds(connectTimeoutSeconds), read: .seconds(timeoutSeconds))
        configuration.connectionPool.retryConnectionEstablishment = retriesConnections
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The checked address, or the failure every round trip reports when the URL was not valid.
    func checkedAddress() throws(SyncTransportError) -> ServerAddress {
        if let address { return address }
        throw .wrongAddress(invalidAddress?.description ?? "invalid server URL")
    }

    /// Shuts the HTTP client down; call once when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Posts `request` to the server's `/v1/sync` and decodes its answer.
    public func send(_ request: SyncRequest) async throws(SyncTransportError) -> SyncResponse {
        let address = try checkedAddress()
        var http = HTTPClientRequest(url: endpoint)
        http.method = .POST
        http.headers.add(name: "Authorization", value: "Bearer \(token)")
        http.headers.add(name: "Content-Type", value: "application/json")
        var body = ByteBuffer(string: WireJSON.text(request))
        if compresses {
            http.headers.add(name: "Accept-Encoding", value: "gzip")
            if body.readableBytes > Self.compressionThreshold, let compressed = try? body.compress(with: Self.gzip) {
                body = compressed
                http.headers.add(name: "Content-Encoding", value: "gzip")
            }
        }
        let bodyBytes = body.readableBytes
        http.body = .bytes(body)
        let status: Int
        let data: Data
        do {
            let response = try await client.execute(http, timeout: timeout)
            status = Int(response.status.code)
            var raw = try await response.body.collect(upTo: Self.maxResponseBytes)
            let wireBytes = raw.readableBytes
            if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" {
                raw = try raw.decompress(with: Self.gzip, maxSize: Self.maxResponseBytes)
            }
            data = Data(buffer: raw)
            let sent = Self.headerBytes(http.headers, firstLine: "POST /v1/sync HTTP/1.1", extra: ["Host: 127.0.0.1:65535", "Content-Length: \(bodyBytes)"])
                + bodyBytes
            let received = Self.headerBytes(response.headers, firstLine: "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)", extra: [])
                + wireBytes
            counters.withLock { $0.sent += sent; $0.received += received; $0.roundTrips += 1 }
        } catch {
            throw Self.failure(error, address: address, path: "/v1/sync", connectTimeout: connectTimeoutSeconds, timeout: timeoutSeconds)
        }
        return try Self.decode(status: status, data: data, address: address)
    }

    /// Whether the server is on this machine (a loopback address), where
    /// copying a snapshot is faster than compressing it.
    package var serverIsLocal: Bool {
        address?.isLoopback ?? false
    }

    /// Downloads the server's snapshot of the list (`GET /v1/snapshot`) into a
    /// new file at `path`, streamed to disk. Returns the knowledge it holds, or
    /// nil when the server makes no snapshots. An incomplete download throws
    /// and leaves no file. `compressed` asks for it gzipped (about a quarter
    /// of the bytes); by default, when this transport compresses and the
    /// server is not on this machine.
    package func downloadSnapshot(
        to path: String, compressed: Bool? = nil, progress: @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws(SyncTransportError) -> VersionVector? {
        let address = try checkedAddress()
        var http = HTTPClientRequest(url: snapshotEndpoint)
        http.headers.add(name: "Authorization", value: "Bearer \(token)")
        if compressed ?? (compresses && !serverIsLocal) { http.headers.add(name: "Accept-Encoding", value: "gzip") }
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw .unreachable("cannot write the snapshot to '\(path)'")
        }
        var complete = false
        defer {
            try? file.close()
            if !complete { try? FileManager.default.removeItem(atPath: path) }
        }
        let status: Int
        var received = 0
        var knowledge: VersionVector?
        var failure = ByteBuffer()
        do {
            let response = try await client.execute(http, timeout: timeout)
            status = Int(response.status.code)
            let expected = response.headers.first(name: "Content-Length").flatMap(Int.init)
            if status == 200 {
                guard let text = response.headers.first(name: "Readinglist-Knowledge"), let vector = VersionVector(compactText: text) else {
                    throw SyncTransportError.invalidResponse("a snapshot without a valid Readinglist-Knowledge header")
                }
                knowledge = vector
                let inflater = response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" ? Self.gzip.decompressor : nil
                try inflater?.startStream()
                var written = 0
                for try await chunk in response.body {
                    received += chunk.readableBytes
                    defer { progress(written) }
                    guard let inflater else {
                        try file.write(contentsOf: chunk.readableBytesView)
                        written += chunk.readableBytes
                        continue
                    }
                    var input = chunk
                    while input.readableBytes > 0 {
                        var output = ByteBuffer()
                        output.reserveCapacity(1 << 20)
                        let before = input.readableBytes
                        do { try inflater.streamInflate(from: &input, to: &output) } catch let error as CompressNIOError {
                            guard error == .bufferOverflow || error == .inputBufferOverflow else {
                                throw SyncTransportError.invalidResponse("the snapshot's gzip stream is corrupt (\(error))")
                            }
                        }
                        try file.write(contentsOf: output.readableBytesView)
                        written += output.readableBytes
                        // (The end of the stream, or nothing consumed nor produced: what is left is not gzip.)
                        if input.readableBytes == before && output.readableBytes == 0 { break }
                    }
                }
                try inflater?.finishStream()
                guard expected == nil || expected == received else {
                    throw SyncTransportError.unreachable("the snapshot ended after \(received) of \(expected ?? 0) bytes")
                }
                // The file's own size: a gzip stream cut at a block boundary inflates without an error.
                if let size = response.headers.first(name: "Readinglist-Snapshot-Bytes").flatMap(Int.init), size != written {
                    throw SyncTransportError.unreachable("the snapshot ended after \(written) of \(size) bytes")
                }
                try file.synchronize()
            } else {
                failure = try await response.body.collect(upTo: 1 << 20)
            }
            let head = Self.headerBytes(response.headers, firstLine: "HTTP/1.1 \(response.status.code) \(response.status.reasonPhrase)", extra: [])
            let sent = Self.headerBytes(http.headers, firstLine: "GET /v1/snapshot HTTP/1.1", extra: ["Host: 127.0.0.1:65535"])
            counters.withLock { $0.sent += sent; $0.received += head + received + failure.readableBytes; $0.roundTrips += 1 }
        } catch let error as SyncTransportError {
            throw error
        } catch {
            throw Self.failure(error, address: address, path: "/v1/snapshot", connectTimeout: connectTimeoutSeconds, timeout: timeoutSeconds)
        }
        if status == 200 {
            complete = true
            return knowledge
        }
        let refusal = Self.failure(status: status, data: Data(buffer: failure), address: address, path: "/v1/snapshot")
        if case .rejected(_, .snapshotUnavailable, _) = refusal { return nil }
        // (A server before snapshots answers a plain 404: the same, no snapshot.
        // A URL whose path is wrong answers 404 for the sync API too, which says so.)
        if status == 404, case .wrongAddress = refusal { return nil }
        throw refusal
    }

    static let compressionThreshold = 1024
    static let maxResponseBytes = 512 << 20
    /// Level 3: nearly the ratio of the default level on JSON, at a fraction of its time.
    static let gzip = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: 3))

    /// The size of a request or response head: its first line and header lines, each ended by CRLF, and the blank line.
    static func headerBytes(_ headers: HTTPHeaders, firstLine: String, extra: [String]) -> Int {
        var total = firstLine.utf8.count + 2 + 2
        for header in headers { total += header.name.utf8.count + 2 + header.value.utf8.count + 2 }
        for line in extra { total += line.utf8.count + 2 }
        return total
    }

    static func decode(status: Int, data: Data, address: ServerAddress) throws(SyncTransportError) -> SyncResponse {
        if status == 200 {
            do { return try data.withUnsafeBytes { bytes throws(WireJSON.Malformed) in try WireJSON.response(from: bytes) } } catch {
                throw .invalidResponse("\(error)")
            }
        }
        throw failure(status: status, data: data, address: address, path: "/v1/sync")
    }

    /// What an answer other than 200 to `path` means: the server's error; for
    /// a body that is none, a 404 as a URL that does not lead to the sync API,
    /// a 5xx as unreachable (retryable) and anything else as invalid.
    static func failure(status: Int, data: Data, address: ServerAddress, path: String) -> SyncTransportError {
        if let failure = try? JSONDecoder().decode(ErrorResponse.self, from: data) {
            return .rejected(status: status, code: failure.error.code, message: failure.error.message)
        }
        if status == 404 || status == 405 {
            return .wrongAddress(
                "\(address.url) is not a readinglist server (HTTP \(status) for \(address.path)\(path)); check the URL's path")
        }
        if status >= 500 { return .unreachable("\(address.url) answered HTTP \(status)") }
        let body = String(decoding: data.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
        return .invalidResponse("HTTP \(status) from \(address.endpoint(path))" + (body.isEmpty ? " with an empty body" : ": \(body)"))
    }

    /// A round trip that got no answer, in one line naming the URL and the
    /// reason: never the HTTP client's, TLS library's or NIO's own text.
    static func failure(_ error: any Error, address: ServerAddress, path: String, connectTimeout: Int64, timeout: Int64) -> SyncTransportError {
        let base = address.url
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return .unreachable("\(base) did not answer within \(connectTimeout) s (connection timed out)")
            case .deadlineExceeded:
                return .unreachable("\(base) did not answer \(path) within \(timeout) s")
            case .readTimeout:
                return .unreachable("\(base) stopped sending its answer to \(path) (nothing for \(timeout) s)")
            case .tlsHandshakeTimeout:
                return .unreachable("\(base) did not complete the TLS handshake within \(connectTimeout) s; if it speaks plain HTTP, try \(address.withOtherScheme.url)")
            case .remoteConnectionClosed:
                if address.scheme == .https {
                    return .unreachable("\(base) closed the connection before answering (does it speak HTTPS on this port? try \(address.withOtherScheme.url))")
                }
                return .unreachable("\(base) closed the connection before answering \(path)")
            case .cancelled:
                return .unreachable("the request to \(base) was cancelled")
            default:
                return .unreachable("the request to \(base)\(path) failed (\(client.shortDescription.lowercased()))")
            }
        }
        if let tls = tlsFailure(error) {
            switch tls {
            case .plainHTTPPort: return .wrongAddress("\(base) does not speak HTTPS on this port; try \(address.withOtherScheme.url)")
            case .untrustedCertificate: return .wrongAddress("the server at \(base) presented a TLS certificate this machine does not trust")
            case .other: return .unreachable("the TLS connection to \(base) failed")
            }
        }
        if let connection = error as? NIOConnectionError, connection.dnsAError != nil || connection.dnsAAAAError != nil {
            return .unreachable("the host name '\(address.host)' does not resolve (DNS lookup failed); check the URL, or the network")
        }
        if error is SocketAddressError {
            return .unreachable("the host name '\(address.host)' does not resolve (DNS lookup failed); check the URL, or the network")
        }
        if error is ChannelError {
            // The connection went away under the request (a server killed while it was open).
            return .unreachable("the connection to \(base) closed before it answered \(path)")
        }
        if let code = socketErrno(error) {
            if let reason = Self.socketReasons[code] { return .unreachable(reason(base)) }
            return .unreachable("the connection to \(base) failed (\(String(cString: strerror(code)).lowercased()))")
        }
        return .unreachable("the request to \(base)\(path) failed (\(String(describing: type(of: error))))")
    }

    /// The `errno` of the socket failure underneath `error`: NIO's `IOError`,
    /// alone or as one of a `NIOConnectionError`'s attempts (the first that has one).
    static func socketErrno(_ error: any Error) -> Int32? {
        if let io = error as? IOError { return io.errnoCode }
        if let connection = error as? NIOConnectionError {
            return connection.connectionErrors.lazy.compactMap { socketErrno($0.error) }.first
        }
        return nil
    }

    enum TLSFailure { case plainHTTPPort, untrustedCertificate, other }

    /// What a TLS failure underneath `error` means, or nil when it is none.
    ///
    /// BoringSSL's reason (`WRONG_VERSION_NUMBER`...) is public only in the text of
    /// NIOSSL's `BoringSSLInternalError` (its code is private), so the reason is read
    /// from the text of the handshake's error stack, and nowhere else.
    static func tlsFailure(_ error: any Error) -> TLSFailure? {
        if let extra = error as? NIOSSLExtraError {
            return extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch ? .untrustedCertificate : .other
        }
        guard let ssl = error as? NIOSSLError else { return nil }
        guard case let .handshakeFailed(.sslError(stack)) = ssl else { return .other }
        let reasons = stack.map(\.description)
        // A plain HTTP server answering a TLS hello: its bytes read as a bad record.
        if reasons.contains(where: { $0.contains("WRONG_VERSION_NUMBER") || $0.contains("HTTP_REQUEST") || $0.contains("PACKET_LENGTH_TOO_LONG") }) {
            return .plainHTTPPort
        }
        if reasons.contains(where: { $0.contains("CERTIFICATE_VERIFY_FAILED") }) { return .untrustedCertificate }
        return .other
    }

    /// What the system's socket errors mean, by the URL.
    static let socketReasons: [Int32: @Sendable (String) -> String] = [
        ECONNREFUSED: { "nothing is answering at \($0) (connection refused); is the server running, and is the port right?" },
        ECONNRESET: { "the connection to \($0) was reset" },
        ENETUNREACH: { "\($0) cannot be reached from this machine (network is unreachable)" },
        EHOSTUNREACH: { "\($0) cannot be reached from this machine (no route to host)" },
        EPIPE: { "the connection to \($0) broke" },
        ETIMEDOUT: { "\($0) did not answer (connection timed out)" },
        EADDRNOTAVAIL: { "\($0) cannot be reached from this machine (the address cannot be used)" },
    ]
}
