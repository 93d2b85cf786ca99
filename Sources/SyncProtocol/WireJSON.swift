import ReadingListModel
import SyncCore

/// Writes sync messages as JSON text directly: the same document
/// `JSONEncoder` makes of them (tested), at a fraction of its cost. A page of
/// 5 000 runs is most of what the server does per round trip, and Foundation's
/// encoder spent half the server's time on it.
public enum WireJSON {
    public static func text(_ response: SyncResponse) -> String {
        var out = "{\"protocolVersion\":\(response.protocolVersion),\"knowledge\":"
        out.reserveCapacity(64 + response.pull.count * 400)
        write(response.knowledge, into: &out)
        out += ",\"heads\":"
        writeHeads(response.heads, into: &out)
        out += ",\"stored\":\(response.stored),\"pull\":"
        writeEntries(response.pull, into: &out)
        out += ",\"more\":"
        out += response.more ? "true" : "false"
        if let horizon = response.horizon {
            out += ",\"horizon\":"
            write(horizon, into: &out)
        }
        if let collected = response.collected {
            out += ",\"collected\":["
            for (index, item) in collected.enumerated() {
                if index > 0 { out += "," }
                out += "{\"seq\":\(item.seq),\"article\":"
                writeString(item.article, into: &out)
                out += ",\"horizon\":"
                write(item.horizon, into: &out)
                out += "}"
            }
            out += "]"
        }
        out += "}"
        return out
    }

    public static func text(_ request: SyncRequest) -> String {
        var out = "{\"protocolVersion\":\(request.protocolVersion),\"replica\":\"\(request.replica.rawValue)\",\"knowledge\":"
        out.reserveCapacity(64 + request.push.count * 400)
        write(request.knowledge, into: &out)
        out += ",\"heads\":"
        writeHeads(request.heads, into: &out)
        out += ",\"push\":"
        writeEntries(request.push, into: &out)
        if let limit = request.pullLimit { out += ",\"pullLimit\":\(limit)" }
        if let seq = request.collectedThrough { out += ",\"collectedThrough\":\(seq)" }
        out += "}"
        return out
    }

    static func writeEntries(_ entries: [LogEntry], into out: inout String) {
        out += "["
        for (index, entry) in entries.enumerated() {
            if index > 0 { out += "," }
            write(entry, into: &out)
        }
        out += "]"
    }

    static func writeHeads(_ heads: [ForkCheck.Head], into out: inout String) {
        out += "["
        for (index, head) in heads.enumerated() {
            if index > 0 { out += "," }
            out += "{\"dot\":{\"replica\":\"\(head.dot.replica.rawValue)\",\"counter\":\(head.dot.counter)},\"digest\":\"\(hex16(head.digest))\"}"
        }
        out += "]"
    }

    static func write(_ entry: LogEntry, into out: inout String) {
        switch entry {
        case let .change(change):
            out += "{\"change\":{\"dot\":{\"replica\":\"\(change.dot.replica.rawValue)\",\"counter\":\(change.dot.counter)},\"entity\":"
            write(change.entity, into: &out)
            out += ",\"field\":"
            writeString(change.field, into: &out)
            out += ",\"value\":"
            out += change.value.canonicalText
            out += ",\"context\":"
            write(change.context, into: &out)
            out += ",\"hlc\":\"\(change.hlc.rawValue)\"}}"
        case let .run(run):
            out += "{\"run\":{\"replica\":\"\(run.replica.rawValue)\",\"counter\":\(run.counter),\"entity\":"
            write(run.entity, into: &out)
            out += ",\"context\":"
            write(run.context, into: &out)
            out += ",\"hlc\":\"\(run.hlc.rawValue)\",\"writes\":["
            for (index, write) in run.writes.enumerated() {
                if index > 0 { out += "," }
                out += "{\"field\":"
                writeString(write.field, into: &out)
                out += ",\"value\":"
                out += write.value.canonicalText
                out += "}"
            }
            out += "]}}"
        case let .replaced(range):
            out += "{\"replaced\":{\"replica\":\"\(range.replica.rawValue)\",\"from\":\(range.from),\"to\":\(range.to),\"digest\":\"\(hex16(range.digest))\"}}"
        }
    }

    static func write(_ entity: EntityRef, into out: inout String) {
        out += "{\"type\":"
        writeString(entity.type, into: &out)
        out += ",\"id\":"
        writeString(entity.id, into: &out)
        out += "}"
    }

    static func write(_ vector: VersionVector, into out: inout String) {
        out += "{"
        var first = true
        for (replica, counter) in vector.counters {
            if !first { out += "," }
            first = false
            out += "\"\(replica.rawValue)\":\(counter)"
        }
        out += "}"
    }

    /// A JSON string literal (the escaping ``JSONValue`` uses).
    static func writeString(_ text: String, into out: inout String) {
        out += JSONValue.string(text).canonicalText
    }
}
