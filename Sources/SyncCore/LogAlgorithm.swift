import ReadingListModel

// The change log's algorithm, written once for every store that keeps a log
// (a replica's SQLite file, which the SQLite server uses too, and the
// server's PostgreSQL tables). Sans-I/O, as postgres-nio's PoolStateMachine:
// these types only decide; each store reads the rows a decision needs, asks,
// and writes what the answer says. (One generic loop over a storage protocol
// cannot serve both: SQLite's runs synchronously inside a GRDB write
// closure, PostgreSQL's is async.) Docs/Architecture.md, "One log algorithm".

/// The apply loop's decisions for one batch of entries, in order: what to do
/// with each entry, and how many were already known.
///
/// A store's loop: for each entry of `entries.lazy.flatMap(\.expanded)`, call
/// ``step(_:)`` and act on the answer; then write back its knowledge.
package struct LogApply: Sendable {
    /// The gate every entry passes (its knowledge: the log's, as far as the batch has gone).
    package private(set) var gate: CausalGate
    /// Entries that were already known (a retry, or a change received by another path).
    package private(set) var duplicates = 0

    package init(knowledge: VersionVector) { gate = CausalGate(knowledge: knowledge) }

    /// What the store does with one entry.
    package enum Step: Sendable, Hashable {
        /// A new change: read the live siblings of its field and act on
        /// ``LogRules/integrate(_:siblings:)``.
        case integrate(Change)
        /// New replaced dots (the gate trimmed what was known): record them
        /// under a new sequence number, merged with their neighbours
        /// (``ReplacedRanges/merge(_:below:above:)``).
        case record(ReplacedRange)
        /// A dot already known, arriving as a change or as the top of a
        /// replaced range with the digest of the change it held: read the
        /// digest the log holds at the dot (a live change's, or the top of a
        /// replaced range's) and pass it to ``check(_:digest:stored:)``.
        case check(Dot, digest: UInt64)
    }

    /// Admits one entry (a change or a replaced range: runs are expanded
    /// first, so that a duplicate's content is compared change by change).
    package mutating func step(_ entry: LogEntry) throws(SyncError) -> Step {
        switch try gate.admit(entry) {
        case let .apply(.change(change)): return .integrate(change)
        case let .apply(.replaced(range)): return .record(range)
        case let .duplicate(.change(change)):
            duplicates += 1
            return .check(change.dot, digest: change.digest)
        case let .duplicate(.replaced(range)):
            // A copy whose later write replaced its own earlier one sends that dot as a range.
            duplicates += 1
            return .check(Dot(range.replica, range.to), digest: range.digest)
        case .apply(.run), .duplicate(.run): preconditionFailure("runs are expanded before the gate")
        }
    }

    /// Refuses a known dot that arrives with other content: a copied replica
    /// file wrote another change under it. Also where the held change was
    /// replaced since: a replaced range keeps its top's digest, and a copy
    /// that pushes past the log's head of its replica sends that dot too.
    /// The same holds for a replaced range, whose digest is its top's.
    /// `stored` is nil where the log cannot tell (a dot inside a range).
    package static func check(_ dot: Dot, digest: UInt64, stored: UInt64?) throws(SyncError) {
        if let stored, stored != digest, !Mutant.is(.copiedReplicaAccepted) {
            throw .conflictingDuplicate(dot)
        }
    }
}

/// The decisions on single changes: integrating one, and collecting an article.
package enum LogRules {
    /// What integrating a change does to the log.
    package struct Integration: Sendable, Hashable {
        /// Live siblings the change replaces: the store forgets each first
        /// (its dot becomes replaced, at the place its row held in the log's order).
        package var replaced: [Change]
        /// Whether the change is stored live; false when a live sibling
        /// already replaces it (not under causal delivery; kept for safety):
        /// then only its dot is recorded as replaced, under a new sequence number.
        package var live: Bool
    }

    /// Integrates `change` into the register of its field, whose live
    /// writes are `siblings` (``FieldRegister``).
    package static func integrate(_ change: Change, siblings: [Change]) -> Integration {
        var register = FieldRegister(siblings: siblings)
        let outcome = register.apply(change)
        return Integration(replaced: outcome.replaced, live: outcome.added)
    }

    /// The live changes garbage collection forgets of article `id`, given all
    /// of its live changes (its highlights' included): every one of them,
    /// when the article is not visible, a live write deletes it, and every
    /// live change is within `horizon` (every active replica has seen the
    /// delete, and an edit made concurrently with it would already have
    /// arrived and made the article visible); otherwise none.
    package static func collected(article id: ArticleID, live: [Change], horizon: VersionVector) -> [Change] {
        if let (_, visible) = ArticleMaterializer.materialize(id: id, changes: live), visible { return [] }
        let deletes = live.filter { $0.entity == .article(id) && $0.field == Fields.deleted && $0.value == true }
        guard !deletes.isEmpty, deletes.allSatisfy({ horizon.covers($0.dot) }) || Mutant.is(.horizonIgnored) else { return [] }
        // Everything live is in the deletes' past (the article is invisible), hence within the horizon too.
        guard live.allSatisfy({ horizon.covers($0.dot) }) || Mutant.is(.horizonIgnored) else { return [] }
        return live
    }

    /// The live changes a replica forgets when it applies a collection the
    /// server made within `horizon`: those the horizon covers. Changes
    /// outside it (made by a replica the server had not heard of yet) stay.
    package static func collected(live: [Change], within horizon: VersionVector) -> [Change] {
        live.filter { horizon.covers($0.dot) }
    }
}

/// A stored range of one replica's replaced dots, `from...to`: at `seq` in
/// the log's order, with the digest of the change at `to`.
package struct ReplacedRow: Sendable, Hashable {
    package var from: UInt64
    package var to: UInt64
    package var seq: Int64
    package var digest: UInt64

    package init(from: UInt64, to: UInt64, seq: Int64, digest: UInt64) {
        self.from = from
        self.to = to
        self.seq = seq
        self.digest = digest
    }
}

/// How replaced ranges stay merged: a replica's ranges never overlap or
/// touch, so their number stays bounded by its live writes.
package enum ReplacedRanges {
    /// The stored range a new `from...to` joins from below: the one ending at `from - 1`.
    package static func belowEnd(of new: ReplacedRow) -> UInt64 { new.from - 1 }
    /// The stored range a new `from...to` joins from above: the one starting at `to + 1`.
    package static func aboveStart(of new: ReplacedRow) -> UInt64 { new.to + 1 }

    /// The one range that replaces `new` and its stored neighbours: `below`
    /// (ending at `new.from - 1`) and `above` (starting at `new.to + 1`), each
    /// where one is stored. It spans all three, keeps the earliest place in
    /// the log's order, and the digest of its top (`above`'s, when there is one).
    /// The store removes the neighbours and stores the result (where `above`
    /// is stored, it may grow that row down instead: it keeps its end and digest).
    package static func merge(_ new: ReplacedRow, below: ReplacedRow?, above: ReplacedRow?) -> ReplacedRow {
        precondition(below.map { $0.to + 1 == new.from } ?? true, "the range below ends just under the new one")
        precondition(above.map { $0.from == new.to + 1 } ?? true, "the range above starts just over the new one")
        var merged = new
        if let below {
            merged.from = below.from
            merged.seq = min(merged.seq, below.seq)
        }
        if let above {
            merged.to = above.to
            merged.seq = min(merged.seq, above.seq)
            merged.digest = above.digest
        }
        return merged
    }
}
