import Foundation
import ReadingListModel
import ReplicaStore
import ScenarioKit
import SyncCore
import Testing

/// `ReplicaStore.explain`: why a field shows what it shows, on real replicas
/// synced through the real server code in process.
@Suite("Explain")
struct ExplainTests {
    static let url = "https://example.com/a"

    /// Runs `body` with a phone and a laptop that both hold the article, titled "Draft".
    static func withWorld(_ body: (World) async throws -> Void) async throws {
        let world = try await World()
        do {
            try world.open("phone")
            try world.open("laptop")
            try world.store("phone").save(SaveRequest(url: url, title: "Draft"))
            try await world.syncWithServer("phone")
            try await world.syncWithServer("laptop")
            try await body(world)
        } catch {
            await world.tearDown()
            throw error
        }
        await world.tearDown()
    }

    static func syncAll(_ world: World) async throws {
        for _ in 0..<2 {
            try await world.syncWithServer("phone")
            try await world.syncWithServer("laptop")
        }
    }

    @Test func concurrentTitlesNameTheirDotsContextsAndTheRule() async throws {
        try await Self.withWorld { world in
            try world.store("phone").edit(Self.url, [Fields.title: "Phone title"])
            world.clock.advance(1000)
            try world.store("laptop").edit(Self.url, [Fields.title: "Laptop title"])
            try await Self.syncAll(world)

            let phone = world.store("phone"), laptop = world.store("laptop")
            let explanation = try phone.explain(Self.url, field: "title")
            let field = try #require(explanation.fields.first)
            #expect(explanation.fields.count == 1)
            #expect(field.shown == "Laptop title")
            #expect(field.siblings.map(\.value) == ["Laptop title", "Phone title"])
            #expect(field.siblings[0].replica == laptop.replicaID.rawValue && !field.siblings[0].local)
            #expect(field.siblings[1].replica == phone.replicaID.rawValue && field.siblings[1].local)
            #expect(field.siblings[0].clockMillis > field.siblings[1].clockMillis)
            // Both had seen the phone's save, neither the other's title.
            let saveCounter = try #require(field.siblings[1].context[phone.replicaID.rawValue])
            #expect(field.siblings[0].context[phone.replicaID.rawValue] == saveCounter)
            #expect(field.siblings[0].context[laptop.replicaID.rawValue] == nil)
            #expect(field.rule.contains("the highest (clock, replica) wins, here \(field.siblings[0].dot)"))
            #expect(field.concurrency.count == 1 && field.concurrency[0].contains("are concurrent"))
            #expect(field.conflict == ["Laptop title", "Phone title"])
            #expect(explanation.visibility.visible && explanation.visibility.deletes.isEmpty)
            // Every replica that has seen the same writes explains them the same way (but for "local").
            let other = try laptop.explain(Self.url, field: "title")
            #expect(other.fields[0].siblings.map(\.dot) == field.siblings.map(\.dot))
            #expect(other.fields[0].rule == field.rule)

            // Resolving writes one value that has seen both: one live write, no conflict.
            try phone.resolveConflict(Self.url, field: Fields.title, keep: 1)
            let resolved = try phone.explain(Self.url, field: "title").fields[0]
            #expect(resolved.siblings.count == 1 && resolved.conflict.isEmpty)
            #expect(resolved.rule.hasPrefix("one live write"))
            #expect(resolved.siblings[0].context[laptop.replicaID.rawValue] != nil)
        }
    }

    @Test func anEditTheDeleterHadNotSeenKeepsTheArticleAndIsNamed() async throws {
        try await Self.withWorld { world in
            try world.store("laptop").delete(Self.url)
            try world.store("phone").setTags(Self.url, ["fresh"], present: true)
            try await Self.syncAll(world)

            let visibility = try world.store("laptop").explain(Self.url, field: "visible").visibility
            #expect(visibility.visible)
            #expect(visibility.deletes.count == 1 && visibility.saves.isEmpty && visibility.hiddenBy.isEmpty)
            #expect(visibility.keptBy.map(\.field) == ["tag:fresh"])
            #expect(visibility.rule.contains("no delete had seen keep it (edit wins over delete)"))
        }
    }

    @Test func aSaveConcurrentWithADeleteIsNamed() async throws {
        try await Self.withWorld { world in
            try world.store("phone").delete(Self.url)
            try world.store("laptop").save(SaveRequest(url: Self.url))
            try await Self.syncAll(world)

            let visibility = try world.store("phone").explain(Self.url, field: "visible").visibility
            #expect(visibility.visible)
            #expect(visibility.saves.count == 1 && visibility.saves[0].replica == world.store("laptop").replicaID.rawValue)
            #expect(visibility.rule.contains("a save always says"))
        }
    }

    @Test func aDeletedArticleIsExplainedByURLOrFullIdAndNamesItsDelete() async throws {
        try await Self.withWorld { world in
            try world.store("phone").edit(Self.url, [Fields.note: "seen by the deleter"])
            try await Self.syncAll(world)
            try world.store("laptop").delete(Self.url)
            try await Self.syncAll(world)

            let phone = world.store("phone")
            let id = ArticleID(url: try NormalizedURL(Self.url)).rawValue
            for name in ["https://EXAMPLE.com/a/?utm_source=x", id] {
                let explanation = try phone.explain(name)
                #expect(explanation.article == id)
                #expect(!explanation.visibility.visible)
                #expect(explanation.visibility.hiddenBy.count == 1 && explanation.visibility.keptBy.isEmpty)
                #expect(explanation.visibility.rule.hasPrefix("hidden by \(explanation.visibility.hiddenBy[0].dot)"))
                // Every field with a live write is explained, the note the deleter had seen included.
                #expect(explanation.fields.contains { $0.field == Fields.note && $0.shown == "seen by the deleter" })
                #expect(!explanation.fields.contains { $0.field == Fields.deleted })
            }
            // An id prefix names visible articles only.
            #expect(throws: StoreError.self) { try phone.explain(String(id.prefix(8))) }
        }
    }

    @Test func aFieldWithoutALiveWriteIsRefusedNamingTheWrittenOnes() async throws {
        try await Self.withWorld { world in
            do {
                _ = try world.store("phone").explain(Self.url, field: "author")
                Issue.record("expected an error")
            } catch {
                let text = "\(error)"
                #expect(text.contains("no live write of 'author'") && text.contains("title"), "\(text)")
            }
        }
    }

    @Test func theJSONFormRoundTrips() async throws {
        try await Self.withWorld { world in
            try world.store("phone").addHighlight(Self.url, quote: "a key sentence", note: "why")
            let explanation = try world.store("phone").explain(Self.url)
            #expect(explanation.fields.contains { $0.field.hasPrefix("highlight:") && $0.field.hasSuffix(".quote") && $0.shown == "a key sentence" })
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let data = try encoder.encode(explanation)
            #expect(try JSONDecoder().decode(Explanation.self, from: data) == explanation)
        }
    }
}
