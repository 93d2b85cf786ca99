import ArgumentParser
import ReadingListModel
import ReplicaStore
import SyncClient

/// `readinglist status`: the replica, its changes, its syncs.
package struct Status: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "Replica id, pending changes, last syncs.")
    @OptionGroup package var database: DatabaseOption
    @Flag(help: "Print a JSON object (replicaID, pendingChanges, syncPartners...).") var json = false

    package init() {}

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let (status, account, serverURL) = (try store.status(), try store.account(), try store.setting("server.url"))
        /// A server partner is recorded under its account ("account:SERVER:USER"): show whose list, and where.
        func label(_ name: String) -> String {
            guard name.hasPrefix("account:") else { return name }
            if let account, name == ServerSync.recordName(account) { return "\(account)\(serverURL.map { " at \($0)" } ?? "")" }
            let parts = name.split(separator: ":")
            return parts.count == 3 ? "user \(parts[2]) on server \(parts[1].prefix(8))" : name
        }
        let partners: [JSONValue] = status.partners.map { partner in
            .object([
                "name": .string(label(partner.name)), "replica": partner.replica.map { .string($0.rawValue) } ?? .null,
                "lastSync": .string(Timestamp.iso8601(partner.lastSync)),
            ])
        }
        let accountJSON: JSONValue = account.map { account in
            .object(["server": .string(account.server), "user": .number(Double(account.user)), "name": account.name.map(JSONValue.string) ?? .null])
        } ?? .null
        if json {
            output.json(.object([
                "replicaID": .string(status.replicaID.rawValue), "path": status.path.map(JSONValue.string) ?? .null,
                "localChanges": .number(Double(status.localChanges)), "pendingChanges": .number(Double(status.pendingChanges)),
                "knownChanges": .number(Double(status.knowledge.total)), "liveWrites": .number(Double(status.liveWrites)),
                "replacedRanges": .number(Double(status.replacedRanges)), "articles": .number(Double(status.visibleArticles)),
                "articlesWithConflicts": .number(Double(status.articlesWithConflicts)), "syncPartners": .array(partners),
                "account": accountJSON,
            ]))
            return
        }
        print("replica       \(status.replicaID.rawValue)", to: &output)
        print("database      \(status.path ?? ":memory:")", to: &output)
        print("articles      \(status.visibleArticles) (\(status.articlesWithConflicts) with conflicts)", to: &output)
        print("changes       \(status.localChanges) made here, \(status.knowledge.total) known, \(status.pendingChanges) not yet synced", to: &output)
        print("change log    \(status.liveWrites) live writes, \(status.replacedRanges) replaced ranges", to: &output)
        print("account       \(account.map(\.description) ?? "none yet (the first server sync sets it)")", to: &output)
        if status.partners.isEmpty { print("last sync     never", to: &output) }
        for partner in status.partners { print("last sync     \(Timestamp.iso8601(partner.lastSync))  \(label(partner.name))", to: &output) }
    }
}
