import ReadingListModel

/// Changes one replica made together to one entity (a save, an edit of
/// several fields): consecutive dots, one clock reading, and one context
/// apart from the replica's own entry, which is always the previous dot.
///
/// A run is only a compact form of its `changes`: each write is still a
/// change of its own, with its own dot, and is replaced on its own. It
/// exists so that a save is one row in the change log and one entry on the
/// wire, its entity, context and clock written once instead of once per field.
public struct ChangeRun: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One field written by the run.
    package struct Write: Sendable, Hashable, Codable {
        package var field: String
        package var value: JSONValue

        package init(field: String, value: JSONValue) {
            self.field = field
            self.value = value
        }
    }

    package var replica: ReplicaID
    /// The counter of the first write; the others follow without a gap.
    package var counter: UInt64
    package var entity: EntityRef
    /// The context of the first write. Write `i` has the same context with
    /// the replica's own entry at `counter + i - 1`.
    package var context: VersionVector
    package var hlc: HLC
    package var writes: [Write]

    /// A run as it arrived (the wire reader): never empty; the gate checks each change.
    package init(replica: ReplicaID, counter: UInt64, entity: EntityRef, context: VersionVector, hlc: HLC, writes: [Write]) {
        self.replica = replica
        self.counter = counter
        self.entity = entity
        self.context = context
        self.hlc = hlc
        self.writes = writes
        precondition(!writes.isEmpty, "a run writes at least one field")
    }

    /// The run of `changes`, or nil when they are empty or do not form one
    /// (see ``extends(_:with:)``).
    package init?(_ changes: some Collection<Change>) {
        guard let first = changes.first else { return nil }
        var last = first
        for change in changes.dropFirst() {
            guard Self.extends(last, with: change) else { return nil }
            last = change
        }
        self.init(
            replica: first.dot.replica, counter: first.dot.counter, entity: first.entity, context: first.context, hlc: first.hlc,
            writes: changes.map { Write(field: $0.field, value: $0.value) })
    }

    /// True when `next` can follow `last` in a run: the same replica writing
    /// the same entity at the next counter, under the same clock reading,
    /// having seen exactly what `last` had seen plus `last` itself.
    package static func extends(_ last: Change, with next: Change) -> Bool {
        guard next.dot.replica == last.dot.replica, next.dot.counter == last.dot.counter + 1,
              next.hlc == last.hlc, next.entity == last.entity
        else { return false }
        let replica = last.dot.replica
        guard next.context[replica] == last.dot.counter, last.context[replica] == last.dot.counter - 1 else { return false }
        for (other, counter) in next.context.counters where other != replica {
            guard last.context[other] == counter else { return false }
        }
        for (other, counter) in last.context.counters where other != replica {
            guard next.context[other] == counter else { return false }
        }
        return true
    }

    /// The changes, in counter order.
    package var changes: [Change] {
        writes.enumerated().map { index, write in change(at: index, write) }
    }

    /// The counter of the last write.
    package var lastCounter: UInt64 { counter + UInt64(writes.count) - 1 }

    private func change(at index: Int, _ write: Write) -> Change {
        let dot = Dot(replica, counter + UInt64(index))
        var context = self.context
        if index > 0 { context[replica] = dot.counter - 1 }
        return Change(dot: dot, entity: entity, field: write.field, value: write.value, context: context, hlc: hlc)
    }

    public var description: String {
        "\(replica.short):\(counter)...\(lastCounter) \(entity.type)/\(entity.id.prefix(12)) \(writes.map(\.field).joined(separator: ","))"
    }

    private enum CodingKeys: String, CodingKey { case replica, counter, entity, context, hlc, writes }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        replica = try container.decode(ReplicaID.self, forKey: .replica)
        counter = try container.decode(UInt64.self, forKey: .counter)
        entity = try container.decode(EntityRef.self, forKey: .entity)
        context = try container.decode(VersionVector.self, forKey: .context)
        hlc = try container.decode(HLC.self, forKey: .hlc)
        writes = try container.decode([Write].self, forKey: .writes)
        guard !writes.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .writes, in: container, debugDescription: "a run writes at least one field")
        }
        guard counter >= 1, counter <= Dot.maxCounter, UInt64(writes.count) <= Dot.maxCounter - counter + 1 else {
            throw DecodingError.dataCorruptedError(forKey: .counter, in: container, debugDescription: "a run's counters are 1 to 2^53-1")
        }
    }
}

extension LogEntry {
    /// The entry as single changes and replaced ranges (a run becomes its changes).
    package var expanded: [LogEntry] {
        switch self {
        case .change, .replaced: [self]
        case let .run(run): run.changes.map(LogEntry.change)
        }
    }

    /// `entries` with every stretch of consecutive changes that forms a run
    /// sent as one (the order, and so the causal order, is kept).
    package static func coalesced(_ entries: [LogEntry]) -> [LogEntry] {
        var result: [LogEntry] = []
        result.reserveCapacity(entries.count)
        var pending: [Change] = []
        func flush() {
            if pending.count > 1, let run = ChangeRun(pending) {
                result.append(.run(run))
            } else {
                result += pending.map(LogEntry.change)
            }
            pending.removeAll(keepingCapacity: true)
        }
        for entry in entries {
            for single in entry.expanded {
                guard case let .change(change) = single else {
                    flush()
                    result.append(single)
                    continue
                }
                if let last = pending.last, !ChangeRun.extends(last, with: change) { flush() }
                pending.append(change)
            }
        }
        flush()
        return result
    }
}
