import ArgumentParser
import ReadingListModel
import ReplicaStore
import SyncCore

/// `readinglist log`: the change log, newest first.
package struct Log: ReplicaCommand {
    package static let configuration = CommandConfiguration(abstract: "The change log, newest first.")
    @OptionGroup package var database: DatabaseOption
    @Option(parsing: .unconditional, help: "How many entries (changes and replaced ranges).") var limit = 50
    @Flag(help: "Print a JSON array, one object per change or replaced range.") var json = false

    package init() {}

    package func check() throws {
        guard limit >= 1 else { throw CLIError(message: "--limit must be at least 1, not \(limit)") }
    }

    package func perform(on store: ReplicaStore, output: inout CommandOutput) throws {
        let (lines, me) = (try store.log(limit: limit), store.replicaID)
        if json {
            // A run (the changes of one save) is shown as its changes, newest first.
            output.json(.array(lines.flatMap { line in line.entry.expanded.reversed().map { entry in (line, entry) } }.prefix(limit).map { line, entry in
                switch entry {
                case let .change(change):
                    .object([
                        "seq": .number(Double(line.seq)), "replica": .string(change.dot.replica.rawValue),
                        "counter": .number(Double(change.dot.counter)), "entityType": .string(change.entity.type),
                        "entityID": .string(change.entity.id), "field": .string(change.field), "value": change.value,
                        "time": .string(Timestamp.iso8601(change.hlc.millis)), "local": .bool(change.dot.replica == me),
                    ])
                case let .replaced(range):
                    .object([
                        "seq": .number(Double(line.seq)), "replica": .string(range.replica.rawValue),
                        "replaced": .array([.number(Double(range.from)), .number(Double(range.to))]),
                    ])
                case .run: preconditionFailure("runs are expanded")
                }
            }))
            return
        }
        for entry in lines.flatMap({ $0.entry.expanded.reversed() }).prefix(limit) {
            switch entry {
            case let .change(change):
                let origin = change.dot.replica == me ? "here" : change.dot.replica.short
                print("\(Timestamp.iso8601(change.hlc.millis))  \(change.dot)  \(origin)  \(change.entity.type) \(change.entity.id.prefix(8))  \(change.field) = \(Format.value(change.value, field: change.field))", to: &output)
            case let .replaced(range):
                print("                          \(range)  replaced by later writes", to: &output)
            case .run: preconditionFailure("runs are expanded")
            }
        }
    }
}
