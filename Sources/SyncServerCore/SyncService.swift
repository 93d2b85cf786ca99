import ReplicaStore
import SyncCore
import SyncProtocol

/// The server's side of one sync round trip, independent of HTTP: validate,
/// refuse copies, apply the push atomically, record the replica, pull a page.
public struct SyncService: Sendable {
    package let storage: any ServerStorage
    package let limits: SyncLimits
    package let metrics: ServerMetrics
    let now: @Sendable () -> Int64
    /// How long a replica may stay away. Deleted articles are forgotten once
    /// every replica seen within this time has acknowledged the delete; a
    /// replica away longer must rejoin (its old changes may touch them).
    package let retention: Duration
    /// The push channel's connections (`GET /v1/events`), told of every sync that stores changes.
    package let push: PushHub

    /// `push`: the push channel's hub (default: one over `storage` with the default bounds).
    public init(
        storage: any ServerStorage, limits: SyncLimits = SyncLimits(), metrics: ServerMetrics = ServerMetrics(),
        retention: Duration = .seconds(90 * 86_400), push: PushHub? = nil, now: @escaping @Sendable () -> Int64
    ) {
        self.storage = storage
        self.limits = limits
        self.metrics = metrics
        self.retention = retention
        self.push = push ?? PushHub(storage: storage)
        self.now = now
    }

    var retentionMillis: Int64 { retention.components.seconds * 1000 + retention.components.attoseconds / 1_000_000_000_000_000 }

    package func handle(_ request: SyncRequest, for user: ServerUser) async throws(ServerError) -> SyncResponse {
        guard request.protocolVersion == SyncProtocolVersion.current else {
            throw .refused(.unsupportedProtocolVersion, "protocol version \(request.protocolVersion) is not supported; this server speaks version \(SyncProtocolVersion.current)")
        }
        guard request.push.count <= limits.maxPushEntries else {
            throw .refused(.tooManyChanges, "\(request.push.count) entries pushed in one request; the limit is \(limits.maxPushEntries)")
        }
        guard request.heads.count <= max(limits.maxPushEntries, 1000) else {
            throw .refused(.tooManyChanges, "\(request.heads.count) heads in one request; the limit is \(max(limits.maxPushEntries, 1000))")
        }
        let pullLimit = request.pullLimit ?? min(SyncLimits.defaultPullLimit, limits.maxPullEntries)
        guard (1...limits.maxPullEntries).contains(pullLimit) else {
            throw .refused(.malformedRequest, "pullLimit must be 1 to \(limits.maxPullEntries), not \(pullLimit)")
        }
        // A replica belongs to the list it first synced with: refused before anything is read or written.
        if let claimed = request.account {
            guard claimed.server == storage.serverID else {
                throw .refused(.wrongServer, "this replica belongs to a list on another server (server \(claimed.server.prefix(8)); this is server \(storage.serverID.prefix(8))); nothing was applied")
            }
            guard claimed.user == user.id else {
                throw .refused(.wrongAccount, "this replica belongs to another user's list on this server; the token is \(user.name)'s; nothing was applied")
            }
        }
        let space = try await storage.space(for: user)
        let time = now()
        let replica = request.replica
        if let seen = try await space.lastSeen(replica), seen < time - retentionMillis {
            throw .refused(.rejoinRequired, "replica \(replica.short) last synced more than \(retentionMillis / 86_400_000) days ago, longer than this server keeps deleted articles; it must rejoin from the server's copy (readinglist does this on its own and keeps the edits that still apply)")
        }
        let (before, digests) = try await space.knowledgeAndDigests(at: request.heads.map(\.dot))
        if before[replica] > request.knowledge[replica] {
            let error = SyncError.replicaBehindItself(replica: replica, itsOwnCounter: request.knowledge[replica], seenElsewhere: before[replica])
            throw .refused(.replicaBehindItself, error.description)
        }
        // A copied replica file wrote different changes under dots the server already has.
        for (head, stored) in zip(request.heads, digests) {
            if let stored, stored != head.digest {
                throw .refused(.copiedReplica, SyncError.conflictingDuplicate(head.dot).description)
            }
        }
        let result = request.push.isEmpty
            ? ApplyResultSummary(stored: 0, knowledge: before)
            : ApplyResultSummary(try await space.apply(request.push))
        // The user's other devices are told at once (the push channel); this one is not.
        if result.stored > 0 { await push.publish(.changed(user: user.id, by: replica, changes: result.stored)) }
        // Replicas named here that never synced with the server hold the horizon back until they do.
        var named = Set(request.knowledge.counters.keys)
        for entry in request.push { named.insert(entry.replica) }
        named.remove(replica)
        try await space.registerReplicas(named.sorted(), at: time)
        // The acknowledgement counts only once everything the replica has is stored here.
        let settled = result.knowledge.includes(request.knowledge)
        try await space.recordReplica(replica, acknowledged: settled ? request.knowledge : nil, at: time)
        // A client applying the previous page asks from past it; only `knowledge` was acknowledged above.
        // (The heads of the answer are read with the page: a collection below changes no head's digest.)
        let page = try await space.outgoingAndHeads(
            for: request.pullFrom.map { $0.merged(with: request.knowledge) } ?? request.knowledge, limit: pullLimit + 1)
        var pull = page.entries
        let more = pull.count > pullLimit
        if more { pull.removeLast() }
        var horizon: VersionVector?
        var collected: [CollectedArticle]?
        if !more {
            let settled = try await space.settle(
                activeSince: time - retentionMillis, at: time, keepSince: time - retentionMillis, collectedAfter: request.collectedThrough)
            if settled.collectedNow > 0 { metrics.recordCollection() }
            horizon = settled.horizon
            collected = settled.collections
        }
        metrics.recordSync(stored: result.stored, pulled: pull.count)
        var response = SyncResponse(
            knowledge: result.knowledge, heads: page.heads, stored: result.stored, pull: pull, more: more,
            horizon: horizon, collected: collected)
        response.account = SyncAccount(server: storage.serverID, user: user.id, name: user.name)
        response.limits = limits
        return response
    }
}

struct ApplyResultSummary {
    var stored: Int
    var knowledge: VersionVector

    init(stored: Int, knowledge: VersionVector) {
        self.stored = stored
        self.knowledge = knowledge
    }

    init(_ result: ApplyResult) {
        stored = result.appliedChanges
        knowledge = result.knowledge
    }
}
