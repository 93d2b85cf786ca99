import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SyncClient
import SyncCore
import Synchronization
import SyncProtocol

/// The HTTP transport: `POST {server}/v1/sync` with a bearer token, JSON both ways.
public final class HTTPSyncTransport: SyncTransport {
    let client: HTTPClient
    let endpoint: String
    let snapshotEndpoint: String
    let token: String
    let timeout: TimeAmount
    let compresses: Bool
    private let counters = Mutex(Traffic())

    /// Bytes this transport sent and received: bodies, and the HTTP request
    /// line, status line and headers (as written on the wire, before TCP/IP).
    public struct Traffic: Sendable, Hashable {
        public var sent = 0
        public var received = 0
        public var roundTrips = 0
    }

    /// Everything sent and received so far.
    public var traffic: Traffic { counters.withLock { $0 } }

    /// `server` is the base URL (`http://127.0.0.1:8080`).
    /// `connectTimeout` bounds each connection attempt; ``ServerSync`` retries whole round trips.
    /// With `compression` (the default), request bodies over 1 KiB are sent
    /// gzipped and the server is asked to gzip its responses.
    public init(
        server: String, token: String, timeout: Duration = .seconds(60), connectTimeout: Duration = .seconds(3), compression: Bool = true
    ) {
        compresses = compression
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/v1/sync"
        snapshotEndpoint = base + "/v1/snapshot"
        self.token = token
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
        var configuration = HTTPClient.Configuration()
        // (The read timeout bounds silence on an open connection: a snapshot's body, which the request's deadline does not cover.)
        configuration.timeout = .init(connect: .seconds(connectTimeout.components.seconds), read: .seconds(timeout.components.seconds))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Shuts the HTTP client down; call once when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    public func send(_ request: SyncRequest) async throws(SyncTransportError) -> SyncResponse {
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
            let text = "\(error)"
            throw .unreachable(text.contains("Connection refused") ? "connection refused at \(endpoint)" : text)
        }
        return try Self.decode(status: status, data: data)
    }

    /// Whether the server is on this machine (a loopback address), where
    /// copying a snapshot is faster than compressing it.
    public var serverIsLocal: Bool {
        guard let host = URL(string: endpoint)?.host?.lowercased() else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    /// Downloads the server's snapshot of the list (`GET /v1/snapshot`) into a
    /// new file at `path`, streamed to disk. Returns the knowledge it holds, or
    /// nil when the server makes no snapshots. An incomplete download throws
    /// and leaves no file. `compressed` asks for it gzipped (about a quarter
    /// of the bytes); by default, when this transport compresses and the
    /// server is not on this machine.
    public func downloadSnapshot(
        to path: String, compressed: Bool? = nil, progress: @Sendable (_ bytesWritten: Int) -> Void = { _ in }
    ) async throws(SyncTransportError) -> VersionVector? {
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
            let text = "\(error)"
            throw .unreachable(text.contains("Connection refused") ? "connection refused at \(snapshotEndpoint)" : text)
        }
        if status == 200 {
            complete = true
            return knowledge
        }
        let refusal = Self.failure(status: status, data: Data(buffer: failure))
        if case .rejected(_, .snapshotUnavailable, _) = refusal { return nil }
        // (A server before snapshots answers a plain 404: the same, no snapshot.)
        if status == 404, case .invalidResponse = refusal { return nil }
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

    static func decode(status: Int, data: Data) throws(SyncTransportError) -> SyncResponse {
        if status == 200 {
            do { return try data.withUnsafeBytes { bytes throws(WireJSON.Malformed) in try WireJSON.response(from: bytes) } } catch {
                throw .invalidResponse("\(error)")
            }
        }
        throw failure(status: status, data: data)
    }

    /// What an answer other than 200 means: the server's error, or for a body
    /// that is none, a 5xx as unreachable (retryable) and anything else as invalid.
    static func failure(status: Int, data: Data) -> SyncTransportError {
        if let failure = try? JSONDecoder().decode(ErrorResponse.self, from: data) {
            return .rejected(status: status, code: failure.error.code, message: failure.error.message)
        }
        if status >= 500 { return .unreachable("HTTP \(status)") }
        return .invalidResponse("HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
    }
}
