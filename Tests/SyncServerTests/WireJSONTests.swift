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
        try phone.save(SaveRequest(url: "https://example.com/a", title: "Quotes \" and \\ and\nnew lines, tabs\t, \u{1} and ünïcödé 😀", tags: ["x", "y"]))
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

        var response = SyncResponse(knowledge: try phone.knowledge(), heads: try phone.heads(), stored: 3, pull: entries, more: true)
        #expect(try tree(WireJSON.text(response)) == tree(response))
        response.more = false
        response.horizon = try phone.knowledge()
        response.collected = [CollectedArticle(seq: 9, article: "8881675bde43f4169773cd6e9257ab77", horizon: try phone.knowledge())]
        #expect(try tree(WireJSON.text(response)) == tree(response))
        #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(WireJSON.text(response).utf8)) == response)
        let empty = SyncResponse(knowledge: VersionVector(), heads: [], stored: 0, pull: [], more: false, collected: [])
        #expect(try tree(WireJSON.text(empty)) == tree(empty))
    }
}
