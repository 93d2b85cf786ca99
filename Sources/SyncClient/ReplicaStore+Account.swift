import Foundation
import ReplicaStore
import SyncProtocol

/// Which list a replica belongs to.
///
/// A replica belongs to one user of one server from its first server sync
/// on: the server says whose list a token opens (`SyncResponse.account`),
/// the replica records it, and every later request names it, so that a
/// replica given another user's token, or pointed at another server, is
/// refused before anything is sent or applied. Moving a list elsewhere is
/// deliberate: a sync with ``ServerSync/moving`` set.
extension ReplicaStore {
    static let accountKey = "account"

    /// The list this replica belongs to, or nil before its first server sync
    /// (or a replica synced only file to file with unbound replicas).
    public func account() throws(StoreError) -> SyncAccount? {
        guard let text = try setting(Self.accountKey) else { return nil }
        guard let account = try? JSONDecoder().decode(SyncAccount.self, from: Data(text.utf8)) else {
            throw .database("the replica's account record is unreadable: \(text)")
        }
        return account
    }

    /// Records the list this replica belongs to (one write: never half-recorded).
    package func bind(to account: SyncAccount) throws(StoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(account) else { throw .database("cannot encode account \(account)") }
        try setSetting(Self.accountKey, String(decoding: data, as: UTF8.self))
    }

    /// The limits `partner` (a server) announced in its last answer.
    func serverLimits(_ partner: String) throws(StoreError) -> SyncLimits? {
        guard let text = try setting(ServerSync.limitsKey(partner)) else { return nil }
        return try? JSONDecoder().decode(SyncLimits.self, from: Data(text.utf8))
    }

    func setServerLimits(_ limits: SyncLimits, _ partner: String) throws(StoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(limits) else { return }
        try setSetting(ServerSync.limitsKey(partner), String(decoding: data, as: UTF8.self))
    }
}
