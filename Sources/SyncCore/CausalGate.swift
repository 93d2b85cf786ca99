import ReadingListModel

/// Decides, entry by entry, whether an incoming stream can be applied: each
/// replica's counters must continue without a gap, and each change's context
/// must already be known (causal delivery). Pure: the store applies.
package struct CausalGate: Sendable {
    package private(set) var knowledge: VersionVector

    package init(knowledge: VersionVector) { self.knowledge = knowledge }

    package enum Verdict: Sendable, Hashable {
        /// New: apply it.
        case apply(LogEntry)
        /// Already known (a retry or a duplicate): apply nothing, but a
        /// stored change with the same dot must have the same content.
        case duplicate(LogEntry)
    }

    package mutating func admit(_ entry: LogEntry) throws(SyncError) -> Verdict {
        if case let .run(run) = entry {
            // A run is admitted as its changes. Known entirely: a duplicate. Known in
            // part (its first changes): the rest is applied; callers that compare a
            // duplicate's content with what they store expand runs first.
            let known = knowledge[run.replica]
            if run.lastCounter <= known { return .duplicate(entry) }
            let rest = run.changes.filter { $0.dot.counter > known }
            var gate = self
            for change in rest { _ = try gate.admit(.change(change)) }
            guard let remaining = ChangeRun(rest) else {
                throw .malformed(Dot(run.replica, run.counter), reason: "its writes do not form a run")
            }
            self = gate
            return .apply(.run(remaining))
        }
        let replica = entry.replica
        let known = knowledge[replica]
        switch entry {
        case let .replaced(range):
            if range.to <= known { return .duplicate(entry) }
            if range.from > known + 1 { throw .gap(replica: replica, expected: known + 1, got: range.from) }
            knowledge[replica] = range.to
            return .apply(.replaced(ReplacedRange(replica: replica, from: known + 1, to: range.to, digest: range.digest)))
        case .run:
            preconditionFailure("runs are admitted above")
        case let .change(change):
            let counter = change.dot.counter
            guard counter >= 1 else { throw .malformed(change.dot, reason: "counters start at 1") }
            if counter <= known { return Mutant.is(.redeliveryReapplied) ? .apply(entry) : .duplicate(entry) }
            if counter != known + 1 && !Mutant.is(.gateAdmitsGaps) { throw .gap(replica: replica, expected: known + 1, got: counter) }
            if change.context[replica] != counter - 1 && !Mutant.is(.gateAdmitsGaps) {
                throw .malformed(change.dot, reason: "its context must cover exactly its replica's previous change (\(counter - 1)), not \(change.context[replica])")
            }
            for (other, needed) in change.context.counters where other != replica && knowledge[other] < needed && !Mutant.is(.gateAdmitsMissingDependencies) {
                throw .missingDependency(change: change.dot, needs: Dot(other, needed))
            }
            knowledge[replica] = counter
            return .apply(entry)
        }
    }
}
