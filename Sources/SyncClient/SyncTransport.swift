import SyncProtocol

/// Carries one sync round trip to a server. The library ships an HTTP
/// implementation (`HTTPSyncTransport` in `SyncClientHTTP`) and
/// ``ClosureTransport``; an app can supply its own (URLSession, a test double).
public protocol SyncTransport: Sendable {
    /// Sends `request` and returns the server's answer, or throws a ``SyncTransportError``.
    func send(_ request: SyncRequest) async throws(SyncTransportError) -> SyncResponse
}

/// Why a round trip failed.
public enum SyncTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server answered with an error; `retryable` ones (503) are retried.
    case rejected(status: Int, code: SyncErrorCode, message: String)
    /// The server could not be reached, or the connection broke: retried with backoff.
    case unreachable(String)
    /// The server answered something that is not the protocol.
    case invalidResponse(String)
    /// The address does not lead to a readinglist server: it is not a valid
    /// URL, it asks for HTTPS from a port that speaks plain HTTP, its path is
    /// not where the sync API is, the server's certificate is not trusted.
    /// The text is the whole explanation, naming the URL. Not retried: the
    /// URL (or the server's setup) must change first.
    case wrongAddress(String)

    /// Whether a round trip that failed so may succeed if tried again.
    public var isRetryable: Bool {
        switch self {
        case let .rejected(_, code, _): code.isRetryable
        case .unreachable: true
        case .invalidResponse, .wrongAddress: false
        }
    }

    /// One line saying why the round trip failed, for a person.
    public var description: String {
        switch self {
        case let .rejected(status, code, message): "the server refused the sync (\(status) \(code.rawValue)): \(message)"
        case let .unreachable(reason): "cannot reach the server: \(reason)"
        case let .invalidResponse(reason): "the server's answer is not the sync protocol: \(reason)"
        case let .wrongAddress(explanation): explanation
        }
    }
}

/// A transport that calls a function: in-process servers, simulations, tests.
public struct ClosureTransport: SyncTransport {
    let handler: @Sendable (SyncRequest) async throws(SyncTransportError) -> SyncResponse

    /// A transport that answers each request with `handler`.
    public init(_ handler: @escaping @Sendable (SyncRequest) async throws(SyncTransportError) -> SyncResponse) {
        self.handler = handler
    }

    /// Calls the handler.
    public func send(_ request: SyncRequest) async throws(SyncTransportError) -> SyncResponse {
        try await handler(request)
    }
}

/// The backoff a ``ServerSync`` retries round trips with (declared in
/// `SyncProtocol`, where `ServerSyncMachine` makes the retry decisions).
public typealias RetryPolicy = SyncProtocol.RetryPolicy
