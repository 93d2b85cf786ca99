import ArgumentParser
import ReplicaStore

/// `readinglist reset-identity`: a copied replica file becomes a replica of its own.
package struct ResetIdentity: ReplicaFileCommand {
    package static let configuration = CommandConfiguration(
        commandName: "reset-identity",
        abstract: "Give a copied replica file its own identity (its list is kept and merges on the next sync).",
        discussion: """
            Run it on the copy when a sync says the file is a copy of another replica's file. It keeps everything \
            the two files certainly share and writes again, under the new id, only the copy's own changes that no \
            sync partner has acknowledged: what the copy changed after it was made merges on the next sync, and \
            nothing another device deleted or edited meanwhile is undone.
            """)
    @OptionGroup package var database: DatabaseOption

    package init() {}

    package func perform(onFile path: String, output: inout CommandOutput) throws {
        let id = try ReplicaStore.resetIdentity(path: path)
        print("new replica id \(id.rawValue); the list was kept and will merge with the other replicas on the next sync", to: &output)
    }
}
