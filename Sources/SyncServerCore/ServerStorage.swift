import Foundation
import ReplicaStore
import SyncCore
import SyncProtocol

/// A user of the sync server: one isolated reading list.
public struct ServerUser: Sendable, Hashable, Codable {
    /// The user's number, unique on the server.
    public var id: Int64
    /// The user's name, unique on the server.
    public var name: String
    /// Milliseconds since 1970 when the user was added.
    public var createdAt: Int64
    /// Milliseconds since 1970 when the user's token was revoked; nil while it is active.
    public var revokedAt: Int64?

    package init(id: Int64, name: String, createdAt: Int64, revokedAt: Int64? = nil) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Where the server keeps users, tokens and every user's change log.
/// `SQLiteServerStorage` is the embedded default; other backends implement
/// the same protocol.
public protocol ServerStorage: Sendable {
    /// The server's identity (32 hex digits), drawn once when its database was
    /// made and kept by backups: a replica belongs to one user of one server.
    var serverID: String { get }
    /// Creates a user whose bearer token hashes to `tokenHash`.
    func addUser(name: String, tokenHash: String) async throws(ServerError) -> ServerUser
    /// Every user, revoked ones included.
    func users() async throws(ServerError) -> [ServerUser]
    /// Revokes a user's token; their list stays stored. False when no such active user.
    func revokeUser(name: String) async throws(ServerError) -> Bool
    /// Gives a user a new token (hashing to `tokenHash`): the old one stops
    /// working, and a revoked user is active again. False when no such user.
    func replaceToken(name: String, tokenHash: String) async throws(ServerError) -> Bool
    /// The active user whose token hashes to `tokenHash`.
    func user(tokenHash: String) async throws(ServerError) -> ServerUser?
    /// The change log of `user`'s list. Nothing in it is reachable from another user's space.
    func space(for user: ServerUser) async throws(ServerError) -> any SyncSpace
    /// A consistent copy of `user`'s list as a replica file, open for
    /// sending, for a new replica to start from; nil when this backend makes
    /// none (the client then pulls page by page). Refused as `unavailable`
    /// while the list's articles are being materialised (a long catch-up,
    /// after a bulk push), and beyond the snapshots the backend sends at once.
    func snapshot(for user: ServerUser) async throws(ServerError) -> ServerSnapshot?
    /// Releases connections and files.
    func close() async
}

/// One user's change log on the server: the same operations a replica
/// offers its sync partners. Each `apply` is one transaction.
public protocol SyncSpace: Sendable {
    /// Every change the list has, by replica.
    func knowledge() async throws(ServerError) -> VersionVector
    /// The newest change of each replica with its digest, for a client to check that it is not a copy (fork detection).
    func heads() async throws(ServerError) -> [ForkCheck.Head]
    /// The digest of the change `dot`, or nil when the list has none for it.
    func digest(at dot: Dot) async throws(ServerError) -> UInt64?
    /// Applies a page atomically (all or nothing), refusing gaps, missing dependencies and reused dots.
    func apply(_ entries: [LogEntry]) async throws(ServerError) -> ApplyResult
    /// At most `limit` entries a replica knowing `knowledge` lacks, in causal order.
    func outgoing(for knowledge: VersionVector, limit: Int) async throws(ServerError) -> [LogEntry]
    /// Records that `replica` synced at `time`; with `acknowledged`, also
    /// what it has (all of it stored on the server, its own changes included).
    func recordReplica(_ replica: ReplicaID, acknowledged: VersionVector?, at time: Int64) async throws(ServerError)
    /// When `replica` last synced, or nil when it never did (nor wrote anything the server stored).
    func lastSeen(_ replica: ReplicaID) async throws(ServerError) -> Int64?
    /// Registers replicas that appear in a request (as authors or in knowledge) but never synced
    /// here themselves: until they do (or expire) they hold the horizon back.
    func registerReplicas(_ replicas: [ReplicaID], at time: Int64) async throws(ServerError)
    /// The pointwise minimum of what every replica seen since `activeSince` acknowledged.
    func horizon(activeSince: Int64) async throws(ServerError) -> VersionVector
    /// Forgets deleted articles within `horizon` (see `ReplicaStore.collectGarbage`) and records
    /// each collection, so that every replica forgets the same changes; drops records older than `keepSince`.
    func collectGarbage(horizon: VersionVector, at time: Int64, keepSince: Int64) async throws(ServerError) -> Int
    /// Collections recorded after `seq` (all retained ones when nil).
    func collections(after seq: Int64?) async throws(ServerError) -> [CollectedArticle]
    /// `knowledge()` and `digest(at:)` of each dot, read together (one
    /// snapshot where the backend can: fewer round trips per sync).
    func knowledgeAndDigests(at dots: [Dot]) async throws(ServerError) -> (knowledge: VersionVector, digests: [UInt64?])
    /// `outgoing(for:limit:)` and `heads()`, read together.
    func outgoingAndHeads(for knowledge: VersionVector, limit: Int) async throws(ServerError) -> (entries: [LogEntry], heads: [ForkCheck.Head])
    /// The end of a sync that pulled everything: the horizon of the replicas
    /// active since `activeSince`, garbage collected at it, and the
    /// collections recorded after `collectedAfter` (the new ones included).
    func settle(activeSince: Int64, at time: Int64, keepSince: Int64, collectedAfter: Int64?) async throws(ServerError) -> Settlement
}

/// A snapshot being sent: an open file no longer in any folder (it goes with
/// the last reference), its size and knowledge. Releasing it (sent, or the
/// response dropped) frees the backend's slot.
public final class ServerSnapshot: Sendable {
    package let knowledge: VersionVector
    /// The file's size (uncompressed).
    package let bytes: Int
    let file: FileHandle
    private let release: @Sendable () -> Void

    init(knowledge: VersionVector, bytes: Int, file: FileHandle, release: @escaping @Sendable () -> Void) {
        self.knowledge = knowledge
        self.bytes = bytes
        self.file = file
        self.release = release
    }

    /// The next part of the file (empty at its end).
    package func read(upTo count: Int) throws -> Data { try file.read(upToCount: count) ?? Data() }

    /// Writes the rest of the file to a new file at `path` (an in-process client).
    package func copy(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let target = FileHandle(forWritingAtPath: path) else {
            throw ServerError.storage("cannot write '\(path)'")
        }
        defer { try? target.close() }
        while true {
            let part = try read(upTo: 1 << 20)
            if part.isEmpty { return }
            try target.write(contentsOf: part)
        }
    }

    deinit {
        try? file.close()
        release()
    }
}

/// What the end of a sync found: see ``SyncSpace/settle(activeSince:at:keepSince:collectedAfter:)``.
public struct Settlement: Sendable {
    package var horizon: VersionVector
    package var collectedNow: Int
    package var collections: [CollectedArticle]

    package init(horizon: VersionVector, collectedNow: Int, collections: [CollectedArticle]) {
        self.horizon = horizon
        self.collectedNow = collectedNow
        self.collections = collections
    }
}

extension SyncSpace {
    /// Reads the knowledge, then each digest (a backend that can read them in one snapshot implements its own).
    public func knowledgeAndDigests(at dots: [Dot]) async throws(ServerError) -> (knowledge: VersionVector, digests: [UInt64?]) {
        let knowledge = try await knowledge()
        var digests: [UInt64?] = []
        for dot in dots { digests.append(try await digest(at: dot)) }
        return (knowledge, digests)
    }

    /// Reads the outgoing entries, then the heads (a backend that can read them in one snapshot implements its own).
    public func outgoingAndHeads(for knowledge: VersionVector, limit: Int) async throws(ServerError) -> (entries: [LogEntry], heads: [ForkCheck.Head]) {
        (try await outgoing(for: knowledge, limit: limit), try await heads())
    }

    /// The horizon, a garbage collection at it, and the collections after `collectedAfter`, one call after the other.
    public func settle(activeSince: Int64, at time: Int64, keepSince: Int64, collectedAfter: Int64?) async throws(ServerError) -> Settlement {
        let horizon = try await horizon(activeSince: activeSince)
        let collected = try await collectGarbage(horizon: horizon, at: time, keepSince: keepSince)
        return Settlement(horizon: horizon, collectedNow: collected, collections: try await collections(after: collectedAfter))
    }
}

/// Version vectors as both backends store them (``VersionVector/compactText``).
package enum StoredVector {
    package static func encode(_ vector: VersionVector) -> String { vector.compactText }

    package static func decode(_ text: String) throws -> VersionVector {
        guard let vector = VersionVector(compactText: text) else { throw ServerError.storage("corrupt knowledge in the replica table") }
        return vector
    }

    /// The pointwise minimum; a replica missing from any vector counts 0 there.
    package static func minimum(_ vectors: [VersionVector]) -> VersionVector {
        guard var result = vectors.first else { return VersionVector() }
        for vector in vectors.dropFirst() {
            var next: [ReplicaID: UInt64] = [:]
            for (replica, counter) in result.counters { next[replica] = min(counter, vector[replica]) }
            result = VersionVector(next)
        }
        return result
    }
}
