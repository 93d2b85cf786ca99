import ReadingListModel
import SyncCore

/// Writes sync messages as JSON text directly: the same document
/// `JSONEncoder` makes of them (tested), at a fraction of its cost. A page of
/// 5 000 runs is most of what the server does per round trip, and Foundation's
/// encoder spent half the server's time on it.
package enum WireJSON {
    package static func text(_ response: SyncResponse) -> String {
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
        if let account = response.account {
            out += ",\"account\":"
            write(account, into: &out)
        }
        if let limits = response.limits {
            out += ",\"limits\":{\"maxBodyBytes\":\(limits.maxBodyBytes),\"maxPushEntries\":\(limits.maxPushEntries),\"maxPullEntries\":\(limits.maxPullEntries)}"
        }
        out += "}"
        return out
    }

    static func write(_ account: SyncAccount, into out: inout String) {
        out += "{\"server\":"
        writeString(account.server, into: &out)
        out += ",\"user\":\(account.user)"
        if let name = account.name {
            out += ",\"name\":"
            writeString(name, into: &out)
        }
        out += "}"
    }

    /// How many bytes `entry` takes in a request or a response (its JSON text):
    /// what a client counts to keep a page under the server's body limit.
    package static func byteCount(of entry: LogEntry) -> Int {
        var out = ""
        write(entry, into: &out)
        return out.utf8.count
    }

    /// `request` without its entries, in bytes: what every page costs besides them.
    package static func envelopeByteCount(of request: SyncRequest) -> Int {
        var bare = request
        bare.push = []
        return text(bare).utf8.count
    }

    package static func text(_ request: SyncRequest) -> String {
        var out = "{\"protocolVersion\":\(request.protocolVersion),\"replica\":\"\(request.replica.rawValue)\",\"knowledge\":"
        out.reserveCapacity(64 + request.push.count * 400)
        write(request.knowledge, into: &out)
        out += ",\"heads\":"
        writeHeads(request.heads, into: &out)
        out += ",\"push\":"
        writeEntries(request.push, into: &out)
        if let limit = request.pullLimit { out += ",\"pullLimit\":\(limit)" }
        if let seq = request.collectedThrough { out += ",\"collectedThrough\":\(seq)" }
        if let from = request.pullFrom {
            out += ",\"pullFrom\":"
            write(from, into: &out)
        }
        if let account = request.account {
            out += ",\"account\":"
            write(account, into: &out)
        }
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
            out += "{\"change\":{\"dot\":{\"replica\":\""
            out += change.dot.replica.rawValue
            out += "\",\"counter\":"
            out += String(change.dot.counter)
            out += "},\"entity\":"
            write(change.entity, into: &out)
            out += ",\"field\":"
            writeString(change.field, into: &out)
            out += ",\"value\":"
            change.value.appendCanonicalText(to: &out)
            out += ",\"context\":"
            write(change.context, into: &out)
            out += ",\"hlc\":\""
            out += String(change.hlc.rawValue)
            out += "\"}}"
        case let .run(run):
            out += "{\"run\":{\"replica\":\""
            out += run.replica.rawValue
            out += "\",\"counter\":"
            out += String(run.counter)
            out += ",\"entity\":"
            write(run.entity, into: &out)
            out += ",\"context\":"
            write(run.context, into: &out)
            out += ",\"hlc\":\""
            out += String(run.hlc.rawValue)
            out += "\",\"writes\":["
            for (index, write) in run.writes.enumerated() {
                if index > 0 { out += "," }
                out += "{\"field\":"
                writeString(write.field, into: &out)
                out += ",\"value\":"
                write.value.appendCanonicalText(to: &out)
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
            out += "\""
            out += replica.rawValue
            out += "\":"
            out += String(counter)
        }
        out += "}"
    }

    /// A JSON string literal (the escaping ``JSONValue`` uses).
    static func writeString(_ text: String, into out: inout String) {
        JSONValue.appendString(text, to: &out)
    }
}

// MARK: Reading

extension WireJSON {
    /// A message that is not what the protocol says, naming where.
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Reads a response as `JSONDecoder` would, with the same checks, at a
    /// fraction of its cost (the client spent a fifth of an initial sync in it).
    package static func response(from bytes: UnsafeRawBufferPointer) throws(Malformed) -> SyncResponse {
        guard let json = JSONValue(jsonBytes: bytes) else { throw Malformed(description: "the body is not JSON") }
        let object = try object(json, "the body")
        var response = SyncResponse(
            knowledge: try vector(member(object, "knowledge", "the body"), "knowledge"),
            heads: try array(member(object, "heads", "the body"), "heads").enumerated().map { index, item throws(Malformed) in
                try head(item, "heads[\(index)]")
            },
            stored: Int(try integer(member(object, "stored", "the body"), "stored", max: UInt64(Int.max))),
            pull: try array(member(object, "pull", "the body"), "pull").enumerated().map { index, item throws(Malformed) in
                try entry(item, "pull[\(index)]")
            },
            more: try bool(member(object, "more", "the body"), "more"))
        response.protocolVersion = Int(try integer(member(object, "protocolVersion", "the body"), "protocolVersion", max: UInt64(Int.max)))
        if let horizon = object["horizon"], horizon != .null { response.horizon = try vector(horizon, "horizon") }
        if let collected = object["collected"], collected != .null {
            response.collected = try array(collected, "collected").enumerated().map { index, item throws(Malformed) in
                let path = "collected[\(index)]"
                let fields = try Self.object(item, path)
                return CollectedArticle(
                    seq: Int64(try integer(member(fields, "seq", path), path + ".seq", max: UInt64(Int64.max))),
                    article: try string(member(fields, "article", path), path + ".article"),
                    horizon: try vector(member(fields, "horizon", path), path + ".horizon"))
            }
        }
        if let account = object["account"], account != .null { response.account = try Self.account(account, "account") }
        if let limits = object["limits"], limits != .null {
            let fields = try Self.object(limits, "limits")
            func limit(_ key: String) throws(Malformed) -> Int {
                Int(try integer(member(fields, key, "limits"), "limits." + key, max: UInt64(Int.max)))
            }
            response.limits = SyncLimits(
                maxBodyBytes: try limit("maxBodyBytes"), maxPushEntries: try limit("maxPushEntries"), maxPullEntries: try limit("maxPullEntries"))
        }
        return response
    }

    /// Reads a request as `JSONDecoder` would (the server decoded every sync
    /// with it: a twentieth of its time under load). Integers that `Codable`
    /// reads as signed (`protocolVersion`, `pullLimit`, `collectedThrough`)
    /// are read signed here too, so that the service gives its own answer to
    /// a negative one.
    package static func request(from bytes: UnsafeRawBufferPointer) throws(Malformed) -> SyncRequest {
        guard let json = JSONValue(jsonBytes: bytes) else { throw Malformed(description: "the body is not JSON") }
        let object = try object(json, "the body")
        // Fields in the order Codable reads them: the version is checked first.
        let version = Int(try signed(member(object, "protocolVersion", "the body"), "protocolVersion"))
        var request = SyncRequest(
            replica: try replica(member(object, "replica", "the body"), "replica"),
            knowledge: try vector(member(object, "knowledge", "the body"), "knowledge"),
            heads: try array(member(object, "heads", "the body"), "heads").enumerated().map { index, item throws(Malformed) in
                try head(item, "heads[\(index)]")
            },
            push: try array(member(object, "push", "the body"), "push").enumerated().map { index, item throws(Malformed) in
                try entry(item, "push[\(index)]")
            })
        request.protocolVersion = version
        if let limit = object["pullLimit"], limit != .null { request.pullLimit = Int(try signed(limit, "pullLimit")) }
        if let seq = object["collectedThrough"], seq != .null { request.collectedThrough = try signed(seq, "collectedThrough") }
        if let from = object["pullFrom"], from != .null { request.pullFrom = try vector(from, "pullFrom") }
        if let account = object["account"], account != .null { request.account = try Self.account(account, "account") }
        return request
    }

    static func account(_ json: JSONValue, _ path: String) throws(Malformed) -> SyncAccount {
        let fields = try object(json, path)
        var account = SyncAccount(
            server: try string(member(fields, "server", path), path + ".server"),
            user: try signed(member(fields, "user", path), path + ".user"))
        if let name = fields["name"], name != .null { account.name = try string(name, path + ".name") }
        return account
    }

    static func entry(_ json: JSONValue, _ path: String) throws(Malformed) -> LogEntry {
        let fields = try object(json, path)
        if let body = fields["change"] {
            let path = path + ".change", change = try object(body, path)
            let dotFields = try object(member(change, "dot", path), path + ".dot")
            let counter = try integer(member(dotFields, "counter", path + ".dot"), path + ".dot.counter", max: Dot.maxCounter)
            guard counter >= 1 else { throw Malformed(description: "\(path).dot.counter: a counter is 1 to 2^53-1, not 0") }
            return .change(Change(
                dot: Dot(try replica(member(dotFields, "replica", path + ".dot"), path + ".dot.replica"), counter),
                entity: try entity(member(change, "entity", path), path + ".entity"),
                field: try string(member(change, "field", path), path + ".field"),
                value: try member(change, "value", path),
                context: try vector(member(change, "context", path), path + ".context"),
                hlc: try hlc(member(change, "hlc", path), path + ".hlc")))
        }
        if let body = fields["run"] {
            let path = path + ".run", run = try object(body, path)
            let counter = try integer(member(run, "counter", path), path + ".counter", max: Dot.maxCounter)
            let writes = try array(member(run, "writes", path), path + ".writes")
            guard counter >= 1, !writes.isEmpty, UInt64(writes.count) <= Dot.maxCounter - counter + 1 else {
                throw Malformed(description: "\(path): a run writes at least one field, with counters 1 to 2^53-1")
            }
            return .run(ChangeRun(
                replica: try replica(member(run, "replica", path), path + ".replica"), counter: counter,
                entity: try entity(member(run, "entity", path), path + ".entity"),
                context: try vector(member(run, "context", path), path + ".context"),
                hlc: try hlc(member(run, "hlc", path), path + ".hlc"),
                writes: try writes.enumerated().map { index, write throws(Malformed) in
                    let writePath = "\(path).writes[\(index)]", fields = try object(write, writePath)
                    return ChangeRun.Write(field: try string(member(fields, "field", writePath), writePath + ".field"), value: try member(fields, "value", writePath))
                }))
        }
        if let body = fields["replaced"] {
            let path = path + ".replaced", range = try object(body, path)
            let from = try integer(member(range, "from", path), path + ".from", max: Dot.maxCounter)
            let to = try integer(member(range, "to", path), path + ".to", max: Dot.maxCounter)
            guard from >= 1, from <= to else { throw Malformed(description: "\(path): a replaced range needs 1 <= from <= to") }
            return .replaced(ReplacedRange(
                replica: try replica(member(range, "replica", path), path + ".replica"), from: from, to: to,
                digest: try digest(member(range, "digest", path), path + ".digest")))
        }
        throw Malformed(description: "\(path): a log entry holds 'change', 'run' or 'replaced'")
    }

    static func head(_ json: JSONValue, _ path: String) throws(Malformed) -> ForkCheck.Head {
        let fields = try object(json, path)
        let dotFields = try object(member(fields, "dot", path), path + ".dot")
        let counter = try integer(member(dotFields, "counter", path + ".dot"), path + ".dot.counter", max: Dot.maxCounter)
        guard counter >= 1 else { throw Malformed(description: "\(path).dot.counter: a counter is 1 to 2^53-1, not 0") }
        return ForkCheck.Head(
            dot: Dot(try replica(member(dotFields, "replica", path + ".dot"), path + ".dot.replica"), counter),
            digest: try digest(member(fields, "digest", path), path + ".digest"))
    }

    static func member(_ object: [String: JSONValue], _ key: String, _ path: String) throws(Malformed) -> JSONValue {
        guard let value = object[key] else { throw Malformed(description: "\(path): missing field '\(key)'") }
        return value
    }

    static func object(_ json: JSONValue, _ path: String) throws(Malformed) -> [String: JSONValue] {
        guard case let .object(fields) = json else { throw Malformed(description: "\(path): expected an object") }
        return fields
    }

    static func array(_ json: JSONValue, _ path: String) throws(Malformed) -> [JSONValue] {
        guard case let .array(items) = json else { throw Malformed(description: "\(path): expected an array") }
        return items
    }

    static func string(_ json: JSONValue, _ path: String) throws(Malformed) -> String {
        guard case let .string(text) = json else { throw Malformed(description: "\(path): expected a string") }
        return text
    }

    static func bool(_ json: JSONValue, _ path: String) throws(Malformed) -> Bool {
        guard case let .bool(value) = json else { throw Malformed(description: "\(path): expected true or false") }
        return value
    }

    static func integer(_ json: JSONValue, _ path: String, max: UInt64) throws(Malformed) -> UInt64 {
        // (Compared as integers: Double(Int.max) rounds up to 2^63, which Int(_:) would trap on.)
        guard case let .number(value) = json, let whole = UInt64(exactly: value), whole <= max
        else { throw Malformed(description: "\(path): expected a whole number from 0 to \(max)") }
        return whole
    }

    static func signed(_ json: JSONValue, _ path: String) throws(Malformed) -> Int64 {
        // (Int64(exactly:) is nil outside -2^63 ..< 2^63 and for fractions: no trap.)
        guard case let .number(value) = json, let whole = Int64(exactly: value)
        else { throw Malformed(description: "\(path): expected a whole number") }
        return whole
    }

    static func replica(_ json: JSONValue, _ path: String) throws(Malformed) -> ReplicaID {
        guard let id = ReplicaID(try string(json, path)) else { throw Malformed(description: "\(path): not a replica id") }
        return id
    }

    static func entity(_ json: JSONValue, _ path: String) throws(Malformed) -> EntityRef {
        let fields = try object(json, path)
        return EntityRef(type: try string(member(fields, "type", path), path + ".type"), id: try string(member(fields, "id", path), path + ".id"))
    }

    static func vector(_ json: JSONValue, _ path: String) throws(Malformed) -> VersionVector {
        var counters: [ReplicaID: UInt64] = [:]
        for (key, value) in try object(json, path) {
            guard let replica = ReplicaID(key) else { throw Malformed(description: "\(path): version vector key '\(key)' is not a replica id") }
            counters[replica] = try integer(value, "\(path).\(key)", max: Dot.maxCounter)
        }
        return VersionVector(counters)
    }

    static func hlc(_ json: JSONValue, _ path: String) throws(Malformed) -> HLC {
        guard let value = UInt64(try string(json, path)) else { throw Malformed(description: "\(path): an hlc is a decimal string of a 64-bit unsigned integer") }
        return HLC(rawValue: value)
    }

    static func digest(_ json: JSONValue, _ path: String) throws(Malformed) -> UInt64 {
        let text = try string(json, path)
        guard text.utf8.count == 16, let value = UInt64(text, radix: 16) else { throw Malformed(description: "\(path): a digest is 16 hex digits") }
        return value
    }
}
