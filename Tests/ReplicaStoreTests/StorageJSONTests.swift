import Foundation
import ReadingListModel
@testable import ReplicaStore
import Testing

@Suite("The stored article JSON")
struct StorageJSONTests {
    @Test func decodesToTheSameArticleAsTheCodableForm() throws {
        let id = ArticleID(url: try NormalizedURL("https://example.com/a"))
        let full = Article(
            id: id, url: "https://example.com/a?utm_source=x", normalizedURL: "https://example.com/a", title: "Quotes \" and \\ and “curly” 🇺🇦",
            excerpt: "line\nbreak\ttab", content: "x", author: "A", siteName: "S", imageURL: "https://example.com/i.png", language: "en",
            wordCount: 1234, tags: ["a", "b"], isRead: true, isArchived: false, isFavorite: true,
            progress: ReadingProgress(epoch: 3, position: 0.123456789), note: "n", addedAt: 1_795_925_815_397, updatedAt: 1_795_925_815_398,
            highlights: [
                Highlight(id: "\(id.rawValue)/abc1", articleID: id, quote: "q", position: 0.5, note: "hn", color: "yellow", createdAt: 5),
                Highlight(id: "\(id.rawValue)/abc2", articleID: id, quote: "q2"),
            ],
            conflicts: [FieldConflict(field: "title", values: ["one", 2, nil, true, .object(["k": .array([1.5])])])])
        let bare = Article(id: id, url: "https://example.com/a", normalizedURL: "https://example.com/a")
        for article in [full, bare] {
            let decoded = try JSONDecoder().decode(Article.self, from: Data(article.storageJSON.utf8))
            #expect(decoded == article)
            let viaEncoder = try JSONDecoder().decode(Article.self, from: JSONEncoder().encode(article))
            #expect(decoded == viaEncoder)
            // Exactly the canonical text of the Codable form (sorted keys, integral numbers without ".0").
            #expect(article.storageJSON == (try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(article))).canonicalText)
        }
    }
}
