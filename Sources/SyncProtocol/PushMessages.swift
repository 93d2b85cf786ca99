import SyncCore

/// The push channel, `GET /v1/events` upgraded to a WebSocket: the server
/// sends small JSON text frames; the data itself still flows through
/// `POST /v1/sync`. Every frame is an object with a `type`:
///
/// - `hello` (``PushHello``), once, as soon as the connection is open, saying
///   whether the replica is behind the list (when the client stated its knowledge);
/// - `changed` (``PushNotice``), whenever a sync by another replica of the
///   same user stored new changes: the receiver should sync.
///
/// The client sends no messages (a data frame from it closes the channel with
/// 1003, unsupported data); pings and pongs find dead peers both ways.
package enum PushFrameType {
    package static let hello = "hello"
    package static let changed = "changed"
}

/// The first frame on a push channel: whose list it watches and how often the
/// server pings (a client that hears nothing, not even a ping, for about two
/// intervals may take the connection for dead and reconnect).
public struct PushHello: Sendable, Hashable, Codable {
    /// Always `hello`.
    public var type: String
    /// `SyncProtocolVersion.current` of the server.
    public var protocolVersion: Int
    /// The token's list (the same as a sync response's `account`).
    public var account: SyncAccount
    /// The replica the channel was opened for (its own syncs wake no notice).
    public var replica: ReplicaID
    /// Seconds between the server's WebSocket pings.
    public var heartbeatSeconds: Int
    /// Whether the list on the server holds changes the replica lacks, judged
    /// when the channel opened from the knowledge the client stated
    /// (``knowledgeHeader``): `false` means the replica has everything
    /// (a client with nothing to push need not sync now; a later change wakes
    /// a notice), `true` that it should sync. Absent when the client stated no
    /// knowledge (or the server could not read the list's): sync, as before.
    /// (Added in a backward-compatible way: older clients ignore it, and an
    /// older server never sends it.)
    public var behind: Bool?
    /// Whether the replica has changes the list on the server lacks (merged
    /// from another replica file, say), judged the same way: `true` calls for
    /// a sync to push them. Absent when ``behind`` is.
    public var ahead: Bool?

    package init(account: SyncAccount, replica: ReplicaID, heartbeatSeconds: Int, behind: Bool? = nil, ahead: Bool? = nil) {
        type = PushFrameType.hello
        protocolVersion = SyncProtocolVersion.current
        self.account = account
        self.replica = replica
        self.heartbeatSeconds = heartbeatSeconds
        self.behind = behind
        self.ahead = ahead
    }

    /// The server said the replica and the list have the same changes: no sync is needed now.
    public var upToDate: Bool { behind == false && ahead == false }
}

extension PushHello {
    /// The request header in which a client opening the push channel states
    /// what its replica has (`VersionVector.compactText`: `replica:counter,...`),
    /// so that the hello can say whether it is ``behind`` (or ``ahead``). Optional; a
    /// malformed value is refused with 400 `malformed_request`.
    package static let knowledgeHeader = "Readinglist-Knowledge"
}

/// A `changed` frame: the user's list on the server moved past what this
/// device acknowledged (another replica's sync stored `changes` new changes).
/// Receiving one means "sync now". Notices are not replayed: what landed
/// while a device was not connected is told by the hello's
/// ``PushHello/behind`` when it reconnects (or, when it stated no knowledge,
/// the client syncs after every (re)connection).
public struct PushNotice: Sendable, Hashable, Codable {
    /// Always `changed`.
    public var type: String
    /// How many new changes the sync that caused this notice stored (at least 1;
    /// a notice may stand for several syncs coalesced, then their sum).
    public var changes: Int

    package init(changes: Int) {
        type = PushFrameType.changed
        self.changes = changes
    }
}

/// The channel's limits and timings as the server applies them (its flags).
public struct PushLimits: Sendable, Hashable, Codable {
    /// The most open push connections of one user (all their devices).
    public var maxConnectionsPerUser: Int
    /// The most open push connections of the whole server process.
    public var maxConnections: Int
    /// Seconds between WebSocket pings; a peer that does not answer one
    /// within the next interval is closed.
    public var heartbeatSeconds: Int

    /// Bounds for a server's push channel (the defaults suit one server process).
    public init(maxConnectionsPerUser: Int = 16, maxConnections: Int = 10_000, heartbeatSeconds: Int = 30) {
        self.maxConnectionsPerUser = maxConnectionsPerUser
        self.maxConnections = maxConnections
        self.heartbeatSeconds = heartbeatSeconds
    }
}
