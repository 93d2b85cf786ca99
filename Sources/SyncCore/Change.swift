import ReadingListModel

/// One write of one field of one entity.
///
/// `context` is the writer's version vector when it wrote: every write of the
/// same field that it covers is replaced by this one. `hlc` only breaks ties
/// between concurrent writes.
public struct Change: Sendable, Hashable, Codable, CustomStringConvertible {
    package var dot: Dot
    package var entity: EntityRef
    package var field: String
    package var value: JSONValue
    package var context: VersionVector
    package var hlc: HLC

    package init(dot: Dot, entity: EntityRef, field: String, value: JSONValue, context: VersionVector, hlc: HLC) {
        self.dot = dot
        self.entity = entity
        self.field = field
        self.value = value
        self.context = context
        self.hlc = hlc
    }

    /// True when `self` replaces `other` (a write of the same field it had seen).
    package func replaces(_ other: Change) -> Bool { context.covers(other.dot) }

    /// Precedence among concurrent writes: higher `(hlc, replica)` first.
    package func precedes(_ other: Change) -> Bool {
        (hlc, dot.replica) > (other.hlc, other.dot.replica)
    }

    public var description: String { "\(dot) \(entity.type)/\(entity.id.prefix(12)).\(field)=\(value.canonicalText.prefix(40))" }

    /// A 64-bit FNV-1a hash of everything but the dot: equal for the same
    /// change everywhere, different (with overwhelming probability) for two
    /// changes that two copies of one replica wrote under the same dot.
    ///
    /// Each part is hashed as its text followed by 0xff: the entity type and
    /// id, the field, the value's canonical text, each context entry as
    /// `replica:counter` (by replica), and the HLC in decimal. Numbers are
    /// hashed digit by digit, without building their text (a save hashes
    /// every change it writes).
    package var digest: UInt64 {
        var hash = FNV1a()
        hash.add(entity.type); hash.separate()
        hash.add(entity.id); hash.separate()
        hash.add(field); hash.separate()
        hash.add(value.canonicalText); hash.separate()
        let counters = context.counters
        if counters.count == 1, let (replica, counter) = counters.first {
            hash.add(replica.rawValue); hash.add(58); hash.addDecimal(counter); hash.separate()
        } else {
            for (replica, counter) in counters.sorted(by: { $0.key < $1.key }) {
                hash.add(replica.rawValue); hash.add(58); hash.addDecimal(counter); hash.separate()
            }
        }
        hash.addDecimal(hlc.rawValue); hash.separate()
        return hash.value
    }

    /// Everything but the dot, as compared when a dot arrives that is already stored:
    /// a difference means two databases used the same replica id.
    package func sameContent(as other: Change) -> Bool {
        entity == other.entity && field == other.field && value.canonicalText == other.value.canonicalText
            && context == other.context && hlc == other.hlc
    }
}

/// The unit of a sync stream: a change, a run of changes made together, or
/// a range of replaced dots.
public enum LogEntry: Sendable, Hashable, Codable {
    case change(Change)
    case run(ChangeRun)
    case replaced(ReplacedRange)

    package var replica: ReplicaID {
        switch self {
        case let .change(change): change.dot.replica
        case let .run(run): run.replica
        case let .replaced(range): range.replica
        }
    }

    /// The highest counter this entry accounts for.
    package var lastCounter: UInt64 {
        switch self {
        case let .change(change): change.dot.counter
        case let .run(run): run.lastCounter
        case let .replaced(range): range.to
        }
    }

    private enum CodingKeys: String, CodingKey { case change, run, replaced }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let change = try container.decodeIfPresent(Change.self, forKey: .change) {
            self = .change(change)
        } else if let run = try container.decodeIfPresent(ChangeRun.self, forKey: .run) {
            self = .run(run)
        } else if let range = try container.decodeIfPresent(ReplacedRange.self, forKey: .replaced) {
            guard range.from >= 1, range.from <= range.to else {
                throw DecodingError.dataCorruptedError(forKey: .replaced, in: container, debugDescription: "a replaced range needs 1 <= from <= to")
            }
            self = .replaced(range)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a log entry holds 'change', 'run' or 'replaced'"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .change(change): try container.encode(change, forKey: .change)
        case let .run(run): try container.encode(run, forKey: .run)
        case let .replaced(range): try container.encode(range, forKey: .replaced)
        }
    }
}
