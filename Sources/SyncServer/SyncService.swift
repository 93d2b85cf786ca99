import ReplicaStore
import SyncCore
import SyncProtocol

/// The server's side of one sync round trip, independent of HTTP: validate,
/// refuse copies, apply the push atomically, record the replica, pull a page.
public struct SyncService: Sendable {
    public let storage: any ServerStorage
    public let limits: SyncLimits
    let metrics: ServerMetrics
    let now: @Sendable () -> Int64

    public init(storage: any ServerStorage, limits: SyncLimits = SyncLimits(), metrics: ServerMetrics = ServerMetrics(), now: @escaping @Sendable () -> Int64) {
        self.storage = storage
        self.limits = limits
        self.metrics = metrics
        self.now = now
    }

    public func handle(_ request: SyncRequest, for user: ServerUser) async throws(ServerError) -> SyncResponse {
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
        let space = try await storage.space(for: user)
        let before = try await space.knowledge()
        let replica = request.replica
        if before[replica] > request.knowledge[replica] {
            let error = SyncError.replicaBehindItself(replica: replica, itsOwnCounter: request.knowledge[replica], seenElsewhere: before[replica])
            throw .refused(.replicaBehindItself, error.description)
        }
        // A copied replica file wrote different changes under dots the server already has.
        for head in request.heads {
            if let stored = try await space.digest(at: head.dot), stored != head.digest {
                throw .refused(.copiedReplica, SyncError.conflictingDuplicate(head.dot).description)
            }
        }
        let result = request.push.isEmpty
            ? ApplyResultSummary(stored: 0, knowledge: before)
            : ApplyResultSummary(try await space.apply(request.push))
        try await space.recordReplica(replica, knowledge: request.knowledge, at: now())
        var pull = try await space.outgoing(for: request.knowledge, limit: pullLimit + 1)
        let more = pull.count > pullLimit
        if more { pull.removeLast() }
        metrics.recordSync(stored: result.stored, pulled: pull.count)
        return SyncResponse(knowledge: result.knowledge, heads: try await space.heads(), stored: result.stored, pull: pull, more: more)
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
