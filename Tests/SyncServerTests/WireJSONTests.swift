import Foundation
import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol
import Testing

/// The hand-written wire encoder makes the document `JSONEncoder` makes.
@Suite("Wire JSON")
struct WireJSONTests {
    func tree(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
    func tree(_ value: some Encodable) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value)) }

    @Test func requestsAndResponsesMatchTheCodableForm() throws {
        let phone = try ReplicaStore.inMemory()
        // (Control characters are refused in a title a user types; a change from elsewhere may still hold them, and must survive the wire.)
        try phone.save(SaveRequest(url: "https://example.com/a", tags: ["x", "y"]))
        try phone.writeRaw([(.article(ArticleID(url: try NormalizedURL("https://example.com/a"))), Fields.title, "Quotes \" and \\ and\nnew lines, tabs\t, \u{1} and ünïcödé 😀")])
        try phone.edit("https://example.com/a", [Fields.title: "U", Fields.wordCount: 1200, Fields.note: .null])
        try phone.setProgress("https://example.com/a", 0.37)
        try phone.addHighlight("https://example.com/a", quote: "q", position: 0.5)
        try phone.delete("https://example.com/a")
        let entries = try phone.outgoing(for: VersionVector(), limit: 100)
        #expect(Set(entries.map { "\($0)".prefix(5) }).count >= 3, "changes, runs and replaced ranges: \(entries)")
        var request = SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(), push: entries)
        #expect(try tree(WireJSON.text(request)) == tree(request))
        request.pullLimit = 7
        request.collectedThrough = 42
        #expect(try tree(WireJSON.text(request)) == tree(request))
        #expect(try JSONDecoder().decode(SyncRequest.self, from: Data(WireJSON.text(request).utf8)) == request)
        // The server's reader gives back the request, from either writer, with and without the optional fields.
        var ahead = request
        ahead.pullFrom = try phone.knowledge()
        let bare = SyncRequest(replica: phone.replicaID, knowledge: VersionVector(), heads: [], push: [])
        for value in [request, ahead, bare] {
            #expect(try readRequest(WireJSON.text(value)) == value)
            #expect(try readRequest(String(decoding: JSONEncoder().encode(value), as: UTF8.self)) == value)
        }

        var response = SyncResponse(knowledge: try phone.knowledge(), heads: try phone.heads(), stored: 3, pull: entries, more: true)
        #expect(try tree(WireJSON.text(response)) == tree(response))
        response.more = false
        response.horizon = try phone.knowledge()
        response.collected = [CollectedArticle(seq: 9, article: "8881675bde43f4169773cd6e9257ab77", horizon: try phone.knowledge())]
        #expect(try tree(WireJSON.text(response)) == tree(response))
        #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(WireJSON.text(response).utf8)) == response)
        let empty = SyncResponse(knowledge: VersionVector(), heads: [], stored: 0, pull: [], more: false, collected: [])
        #expect(try tree(WireJSON.text(empty)) == tree(empty))

        // The reader gives back what it was given, from either writer.
        for value in [response, empty] {
            #expect(try read(WireJSON.text(value)) == value)
            #expect(try read(String(decoding: JSONEncoder().encode(value), as: UTF8.self)) == value)
        }
    }

    func readRequest(_ text: String) throws -> SyncRequest {
        try Data(text.utf8).withUnsafeBytes { try WireJSON.request(from: $0) }
    }

    @Test func theRequestReaderRefusesWhatJSONDecoderRefusesAndSaysWhere() throws {
        let replica = String(repeating: "a", count: 32)
        func body(push: String = "", heads: String = "[]", extra: String = "") -> String {
            #"{"protocolVersion":2,"replica":"\#(replica)","knowledge":{},"heads":\#(heads),"push":[\#(push)]\#(extra)}"#
        }
        let change = #"{"change":{"dot":{"replica":"\#(replica)","counter":1},"entity":{"type":"article","id":"x"},"field":"title","value":"T","context":{},"hlc":"5"}}"#
        #expect(try readRequest(body(push: change)).push.count == 1)
        // What Codable accepts, the reader takes the same way: nulls for optionals, unknown fields, negative integers.
        let lenient = try readRequest(body(extra: #","pullLimit":-3,"collectedThrough":null,"pullFrom":null,"future":{"x":1}"#))
        #expect(lenient.pullLimit == -3 && lenient.collectedThrough == nil && lenient.pullFrom == nil)
        #expect(try JSONDecoder().decode(SyncRequest.self, from: Data(body(extra: #","pullLimit":-3"#).utf8)).pullLimit == -3)
        let cases: [(String, String)] = [
            ("{not json", "not JSON"),
            ("[]", "the body: expected an object"),
            (#"{"protocolVersion":2,"replica":"\#(replica)","heads":[],"push":[]}"#, "missing field 'knowledge'"),
            (body().replacingOccurrences(of: #""protocolVersion":2,"#, with: ""), "missing field 'protocolVersion'"),
            (body().replacingOccurrences(of: #""protocolVersion":2"#, with: #""protocolVersion":2.5"#), "protocolVersion"),
            (body().replacingOccurrences(of: #""replica":"\#(replica)","knowledge""#, with: #""replica":"nope","knowledge""#), "replica"),
            (body(push: change.replacingOccurrences(of: #""counter":1"#, with: #""counter":0"#)), "push[0].change.dot.counter"),
            (body(push: change.replacingOccurrences(of: #""hlc":"5""#, with: #""hlc":5"#)), "push[0].change.hlc"),
            (body(heads: #"[{"dot":{"replica":"\#(replica)","counter":1},"digest":"1"}]"#), "heads[0].digest"),
            (body(extra: #","pullLimit":"7""#), "pullLimit"),
            (body(extra: #","collectedThrough":9223372036854775808"#), "collectedThrough"),
            (body(extra: #","pullFrom":{"\#(replica)":-1}"#), "pullFrom"),
        ]
        // Invalid UTF-8 in a string (here in a pushed title, with and without an escape) is refused, not repaired.
        for title in [Data([0x54, 0xFF, 0x54]), Data("T\\n".utf8) + Data([0xC3])] {
            let parts = body(push: change).components(separatedBy: #""value":"T""#)
            let bytes = Data(parts[0].utf8) + Data(#""value":""#.utf8) + title + Data("\"".utf8) + Data(parts[1].utf8)
            #expect(throws: (any Error).self) { try JSONDecoder().decode(SyncRequest.self, from: bytes) }
            #expect { try bytes.withUnsafeBytes { try WireJSON.request(from: $0) } } throws: { "\($0)".contains("not JSON") }
        }
        for (text, expected) in cases {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(SyncRequest.self, from: Data(text.utf8)) }
            do {
                _ = try readRequest(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    func read(_ text: String) throws -> SyncResponse {
        try Data(text.utf8).withUnsafeBytes { try WireJSON.response(from: $0) }
    }

    @Test func theReaderRefusesWhatJSONDecoderRefusesAndSaysWhere() throws {
        let replica = String(repeating: "a", count: 32)
        func body(_ pull: String, heads: String = "[]") -> String {
            #"{"protocolVersion":2,"knowledge":{},"heads":\#(heads),"stored":0,"pull":[\#(pull)],"more":false}"#
        }
        let change = #"{"change":{"dot":{"replica":"\#(replica)","counter":1},"entity":{"type":"article","id":"x"},"field":"title","value":"T","context":{},"hlc":"5"}}"#
        #expect(try read(body(change)).pull.count == 1)
        let cases: [(String, String)] = [
            ("{not json", "not JSON"),
            (#"{"protocolVersion":2}"#, "missing field 'knowledge'"),
            (body(change.replacingOccurrences(of: #""counter":1"#, with: #""counter":0"#)), "pull[0].change.dot.counter"),
            (body(change.replacingOccurrences(of: #""hlc":"5""#, with: #""hlc":5"#)), "pull[0].change.hlc"),
            (body(change.replacingOccurrences(of: replica, with: "nope")), "pull[0].change.dot.replica"),
            (body(#"{"run":{"replica":"\#(replica)","counter":1,"entity":{"type":"article","id":"x"},"context":{},"hlc":"1","writes":[]}}"#), "pull[0].run"),
            (body(#"{"replaced":{"replica":"\#(replica)","from":3,"to":2,"digest":"0000000000000001"}}"#), "pull[0].replaced"),
            (body(#"{"replaced":{"replica":"\#(replica)","from":1,"to":2,"digest":"xyz"}}"#), "pull[0].replaced.digest"),
            (body(#"{"other":{}}"#), "pull[0]: a log entry holds"),
            (body("", heads: #"[{"dot":{"replica":"\#(replica)","counter":1},"digest":"1"}]"#), "heads[0].digest"),
            (#"{"protocolVersion":2,"knowledge":{"\#(replica)":-1},"heads":[],"stored":0,"pull":[],"more":false}"#, "knowledge"),
            // 2^63: above Int64, where a careless conversion would trap.
            (#"{"protocolVersion":2,"knowledge":{},"heads":[],"stored":9223372036854775808,"pull":[],"more":false}"#, "stored"),
        ]
        for (text, expected) in cases {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(SyncResponse.self, from: Data(text.utf8)) }
            do {
                _ = try read(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }
}
