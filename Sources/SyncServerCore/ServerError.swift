import ReplicaStore
import SyncCore
import SyncProtocol

/// Errors of the server library, each mapped to one protocol error code at the route.
public enum ServerError: Error, Sendable, CustomStringConvertible {
    /// A request the protocol refuses (code and message go to the client).
    case refused(SyncErrorCode, String)
    /// The storage failed (disk, connection): a retryable 503. The cause keeps the
    /// store's error (a `StoreError`, a `PSQLError`...).
    case storage(Cause)
    /// A user that already exists, or another admin mistake.
    case invalidAdminRequest(String)

    /// One line saying what failed.
    public var description: String {
        switch self {
        case let .refused(code, message): "\(code.rawValue): \(message)"
        case let .storage(cause): "storage error: \(cause)"
        case let .invalidAdminRequest(message): message
        }
    }

    /// Maps a store error: refused batches keep their meaning, everything else is a storage failure.
    init(_ error: StoreError) {
        switch error {
        case let .sync(sync): self = .refused(SyncErrorCode(sync), sync.description)
        default: self = .storage(Cause(error))
        }
    }
}
