import ReplicaStore
import SyncCore

/// The six flag commands (`read`, `unread`, `archive`, `unarchive`, `favorite`,
/// `unfavorite`) differ only in the field and the value they write.
package protocol FlagCommand: ReplicaCommand {
    var article: String { get }
    static var field: String { get }
    static var value: Bool { get }
}

extension FlagCommand {
    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let updated = Self.field == Fields.isRead
            ? try store.setRead(article, Self.value)
            : try store.edit(article, [Self.field: .bool(Self.value)])
        print(Format.line(updated), to: &output)
    }
}
