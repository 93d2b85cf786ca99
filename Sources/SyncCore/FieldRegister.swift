import ReadingListModel

/// A multi-value register: the live writes ("siblings") of one field of one
/// entity, the writes that no other known write has replaced.
package struct FieldRegister: Sendable, Hashable {
    /// Live siblings, in no particular order.
    package private(set) var siblings: [Change]

    package init(siblings: [Change] = []) { self.siblings = siblings }

    /// What applying a write did.
    package struct Outcome: Sendable, Hashable {
        /// The write joined the siblings (false: already present, or already replaced).
        package var added: Bool
        /// Siblings the write replaced, now gone.
        package var replaced: [Change]
    }

    /// Applies `write`: drops the siblings its context covers, and adds it
    /// unless it is already here or a sibling has already replaced it.
    /// Idempotent, commutative and associative over any set of writes.
    @discardableResult
    package mutating func apply(_ write: Change) -> Outcome {
        if siblings.contains(where: { $0.dot == write.dot }) { return Outcome(added: false, replaced: []) }
        if siblings.contains(where: { $0.replaces(write) }) { return Outcome(added: false, replaced: []) }
        var replaced: [Change] = []
        siblings.removeAll { sibling in
            guard write.replaces(sibling) else { return false }
            replaced.append(sibling)
            return true
        }
        siblings.append(write)
        return Outcome(added: true, replaced: replaced)
    }

    /// The siblings by precedence under `policy`: the displayed one first.
    package func ranked(by policy: FieldPolicy) -> [Change] {
        siblings.sorted { a, b in
            switch policy {
            case .earliest:
                let (x, y) = (a.value.numberValue ?? .infinity, b.value.numberValue ?? .infinity)
                if Mutant.is(.addedAtLatestWins), x != y { return x > y }
                if x != y { return x < y }
            case .progress:
                let (x, y) = (Self.progress(a.value), Self.progress(b.value))
                if Mutant.is(.progressLowestPosition), x.epoch == y.epoch, x.position != y.position { return x.position < y.position }
                if Mutant.is(.progressIgnoresEpoch), x.position != y.position { return x.position > y.position }
                if x != y { return x > y }
            case .addWinsFlag, .deleted:
                let (x, y) = (a.value.boolValue ?? false, b.value.boolValue ?? false)
                if Mutant.is(.tagsRemoveWins), policy == .addWinsFlag, x != y { return !x }
                if x != y { return x }
            case .register, .url:
                if Mutant.is(.registerLowestWins), case .register = policy { return b.precedes(a) }
            }
            return a.precedes(b)
        }
    }

    /// The displayed value under `policy`, or nil when the field was never written.
    package func resolved(by policy: FieldPolicy) -> JSONValue? {
        // Nearly every field has one live write: nothing to rank.
        siblings.count < 2 ? siblings.first?.value : ranked(by: policy).first?.value
    }

    /// Every distinct live value, displayed one first, when people really
    /// disagree and `policy` surfaces conflicts; otherwise empty.
    package func conflictValues(by policy: FieldPolicy) -> [JSONValue] {
        let surfaces: Bool
        switch policy {
        case let .register(surfacesConflicts): surfaces = surfacesConflicts
        case .url: surfaces = true
        default: surfaces = false
        }
        guard surfaces, siblings.count > 1 else { return [] }
        var seen: Set<String> = []
        var values: [JSONValue] = []
        for sibling in ranked(by: policy) {
            let key: String
            if policy == .url, let text = sibling.value.stringValue, let normalized = try? NormalizedURL(text) {
                key = normalized.string
            } else {
                key = sibling.value.canonicalText
            }
            if seen.insert(key).inserted { values.append(sibling.value) }
        }
        return values.count > 1 ? values : []
    }

    /// Reads `{epoch, position}` leniently (a bad value ranks lowest).
    package static func progress(_ value: JSONValue) -> ReadingProgress {
        guard let object = value.objectValue else { return ReadingProgress(epoch: -1, position: 0) }
        return ReadingProgress(
            epoch: Int(object["epoch"]?.numberValue ?? -1),
            position: object["position"]?.numberValue ?? 0)
    }

    /// Checks that no live sibling replaces another and that dots are unique.
    package func checkInvariants() {
        precondition(Set(siblings.map(\.dot)).count == siblings.count, "sibling dots are unique")
        for a in siblings {
            for b in siblings where a.dot != b.dot {
                precondition(!a.replaces(b), "live sibling \(a.dot) replaces live sibling \(b.dot)")
            }
        }
    }
}

extension ReadingProgress {
    /// The JSON form written in `progress` changes.
    package var jsonValue: JSONValue { .object(["epoch": .number(Double(epoch)), "position": .number(position)]) }
}
