import SyncCore

/// The version of the sync protocol these types speak. A request with any
/// other version is refused with `unsupported_protocol_version`.
package enum SyncProtocolVersion {
    /// 2: log entries may be runs (`run`), the changes of one save in one entry.
    package static let current = 2
}

/// `POST /v1/sync`: one round trip that pushes a page of what the server
/// lacks and pulls a page of what the client lacks.
public struct SyncRequest: Sendable, Hashable, Codable {
    /// Must be `SyncProtocolVersion.current`.
    package var protocolVersion: Int
    /// The client replica.
    package var replica: ReplicaID
    /// The client's knowledge (version vector), after everything in `push`.
    package var knowledge: VersionVector
    /// The client's latest dot of every replica it knows, with digests (copy detection).
    package var heads: [ForkCheck.Head]
    /// Entries the server lacks, in causal order (at most ``SyncLimits/maxPushEntries``; a run is one entry).
    package var push: [LogEntry]
    /// How many entries to pull at most (1 ... ``SyncLimits/maxPullEntries``; default 1000).
    package var pullLimit: Int?
    /// The last collection (``CollectedArticle/seq``) this replica applied; nil before its first.
    package var collectedThrough: Int64?
    /// Pull as if the client had this knowledge: set when it asks for the
    /// next page while still applying the one before (whose entries this
    /// includes). Only `knowledge` counts as what the client has: a page not
    /// yet applied is never acknowledged, so it cannot let the server forget a
    /// deleted article the client has not seen.
    package var pullFrom: VersionVector?
    /// The list this replica belongs to, once it has synced with a server:
    /// the server refuses the request (`wrong_server`, `wrong_account`)
    /// before anything is applied when the token is another user's or the
    /// server is another one. Nil before the replica's first sync.
    package var account: SyncAccount?

    package init(replica: ReplicaID, knowledge: VersionVector, heads: [ForkCheck.Head], push: [LogEntry], pullLimit: Int? = nil) {
        protocolVersion = SyncProtocolVersion.current
        self.replica = replica
        self.knowledge = knowledge
        self.heads = heads
        self.push = push
        self.pullLimit = pullLimit
    }
}

/// The answer to a ``SyncRequest``.
public struct SyncResponse: Sendable, Hashable, Codable {
    package var protocolVersion: Int
    /// The server's knowledge after applying the push.
    package var knowledge: VersionVector
    /// The server's latest dot of every replica, with digests, to compare before applying `pull`.
    package var heads: [ForkCheck.Head]
    /// Changes of the push that were new to the server.
    package var stored: Int
    /// A page of entries the client lacks, in causal order.
    package var pull: [LogEntry]
    /// True when more entries wait: send another request.
    package var more: Bool
    /// When nothing more waits: what every active replica of the list has acknowledged.
    package var horizon: VersionVector?
    /// When nothing more waits: deleted articles the server forgot since
    /// `collectedThrough`; the client forgets the same changes of them.
    package var collected: [CollectedArticle]?
    /// Whose list this is: the server and the token's user. A replica binds
    /// itself to it on its first sync and sends it with every request after.
    package var account: SyncAccount?
    /// The server's limits, so that a client sizes its pages (by entries and
    /// by bytes) to what the server takes.
    package var limits: SyncLimits?

    package init(
        knowledge: VersionVector, heads: [ForkCheck.Head], stored: Int, pull: [LogEntry], more: Bool,
        horizon: VersionVector? = nil, collected: [CollectedArticle]? = nil
    ) {
        protocolVersion = SyncProtocolVersion.current
        self.knowledge = knowledge
        self.heads = heads
        self.stored = stored
        self.pull = pull
        self.more = more
        self.horizon = horizon
        self.collected = collected
    }
}

/// One user's list on one server: what a replica belongs to from its first
/// sync on. Two accounts are the same when both the server and the user are;
/// the name only makes messages readable.
public struct SyncAccount: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The server's identity: 32 hex digits drawn once, when its database was
    /// created (a restored backup, or the same database behind another
    /// address, keeps it).
    public var server: String
    /// The user's number on that server.
    public var user: Int64
    /// The user's name on that server (for messages; not compared).
    public var name: String?

    package init(server: String, user: Int64, name: String? = nil) {
        self.server = server
        self.user = user
        self.name = name
    }

    /// Whether `other` is the same list: the same server and the same user.
    package func isSameList(as other: SyncAccount) -> Bool { server == other.server && user == other.user }

    /// `'alice' on server 3f2a9c01`, or `user 3 on server 3f2a9c01` without a name.
    public var description: String {
        "\(name.map { "'\($0)'" } ?? "user \(user)") on server \(server.prefix(8))"
    }
}

/// A deleted article the server forgot: every change of it within `horizon` is gone.
public struct CollectedArticle: Sendable, Hashable, Codable {
    package var seq: Int64
    package var article: String
    package var horizon: VersionVector

    package init(seq: Int64, article: String, horizon: VersionVector) {
        self.seq = seq
        self.article = article
        self.horizon = horizon
    }
}

/// Every error answer: `{"error": {"code": ..., "message": ..., "retryable": ...}}`.
public struct ErrorResponse: Sendable, Hashable, Codable {
    /// What the server says went wrong.
    public struct Body: Sendable, Hashable, Codable {
        /// The machine-readable reason.
        public var code: SyncErrorCode
        /// The reason for a person.
        public var message: String
        /// Whether the same request may succeed later (``SyncErrorCode/isRetryable``).
        public var retryable: Bool
    }

    /// The error's details (the JSON body is `{"error": {...}}`).
    public var error: Body

    package init(code: SyncErrorCode, message: String) {
        error = Body(code: code, message: message, retryable: code.isRetryable)
    }
}

/// Machine-readable error codes, each with its HTTP status.
public enum SyncErrorCode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request is not the protocol's JSON, or breaks its rules (400).
    case malformedRequest = "malformed_request"
    /// The client speaks a protocol version the server does not (400).
    case unsupportedProtocolVersion = "unsupported_protocol_version"
    /// No token, or one the server does not know or has revoked (401).
    case unauthorized
    /// The path is right, the HTTP method is not (405).
    case methodNotAllowed = "method_not_allowed"
    /// The request body is larger than the server takes (413; ``SyncLimits/maxBodyBytes``).
    case bodyTooLarge = "body_too_large"
    /// The push holds more entries than the server takes (413; ``SyncLimits/maxPushEntries``).
    case tooManyChanges = "too_many_changes"
    /// The push skips changes of a replica the server has not seen (409).
    case gap
    /// A pushed change depends on a change the server does not have (409).
    case missingDependency = "missing_dependency"
    /// The replica's changes clash with ones stored under the same ids: the database is a copy of another (409).
    case copiedReplica = "copied_replica"
    /// The server has more of this replica's changes than the replica itself: a restored backup or a copy (409).
    case replicaBehindItself = "replica_behind_itself"
    /// The replica stayed away longer than the server keeps deleted articles: it must rejoin (409).
    case rejoinRequired = "rejoin_required"
    /// The replica belongs to another server's list (its first sync was with another server).
    case wrongServer = "wrong_server"
    /// The replica belongs to another user's list on this server (the token is another user's).
    case wrongAccount = "wrong_account"
    /// A pushed change cannot be valid (422).
    case malformedChange = "malformed_change"
    /// `GET /v1/snapshot` on a server that makes no snapshots (the client pulls page by page).
    case snapshotUnavailable = "snapshot_unavailable"
    /// `GET /v1/events` past the server's bound of push connections (per user or in all).
    case tooManyConnections = "too_many_connections"
    /// The server cannot answer now (storage busy or failing, a list being prepared): try again later (503).
    case unavailable

    /// The HTTP status the server answers this code with.
    public var httpStatus: Int {
        switch self {
        case .malformedRequest, .unsupportedProtocolVersion: 400
        case .unauthorized: 401
        case .methodNotAllowed: 405
        case .bodyTooLarge, .tooManyChanges: 413
        case .gap, .missingDependency, .copiedReplica, .replicaBehindItself, .rejoinRequired, .wrongServer, .wrongAccount: 409
        case .malformedChange: 422
        case .snapshotUnavailable: 404
        case .tooManyConnections: 429
        case .unavailable: 503
        }
    }

    /// Whether the same request may succeed later (only `unavailable`).
    public var isRetryable: Bool { self == .unavailable }

    /// The code for a refused batch or session.
    package init(_ error: SyncError) {
        switch error {
        case .gap: self = .gap
        case .missingDependency: self = .missingDependency
        case .conflictingDuplicate, .sameReplica: self = .copiedReplica
        case .replicaBehindItself: self = .replicaBehindItself
        case .malformed: self = .malformedChange
        }
    }
}

/// Limits a server enforces (configurable on the server; these are the defaults).
public struct SyncLimits: Sendable, Hashable, Codable {
    /// The largest request body, in bytes.
    public var maxBodyBytes: Int
    /// The most entries one request may push.
    public var maxPushEntries: Int
    /// The most entries one response pulls.
    public var maxPullEntries: Int

    /// A server's limits (the defaults are the server's own).
    public init(maxBodyBytes: Int = 8 << 20, maxPushEntries: Int = 5000, maxPullEntries: Int = 5000) {
        self.maxBodyBytes = maxBodyBytes
        self.maxPushEntries = maxPushEntries
        self.maxPullEntries = maxPullEntries
    }

    /// The page size a client pulls by default.
    public static let defaultPullLimit = 1000
}
