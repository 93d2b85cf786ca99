import Foundation
import ReadingListModel
import ReplicaStore

/// Compares what replicas show with an ``Expectation``.
enum ExpectationChecker {
    static func check(_ expectation: Expectation, in world: World) throws -> [ScenarioFailure] {
        var failures: [ScenarioFailure] = []
        let replicas = expectation.replicas ?? world.stores.keys.sorted()
        func fail(_ location: Scenario.Location, _ expected: String, _ replica: String?, _ saw: String) {
            failures.append(ScenarioFailure(location: location, expected: expected, replica: replica, saw: saw))
        }
        if let converged = expectation.converged {
            let states = try replicas.map { try world.visibleState($0) }
            let same = Set(states).count <= 1
            if same != converged {
                let differing = zip(replicas, states).filter { $0.1 != states[0] }.map(\.0)
                fail(expectation.location, converged ? "all replicas to show the same list" : "the replicas to differ", nil,
                     converged ? "\(replicas[0]) differs from \(differing.joined(separator: ", "))" : "identical lists")
            }
        }
        for replica in replicas {
            let list = try world.store(replica).articles(includeContent: true)
            if let count = expectation.articleCount, list.count != count {
                fail(expectation.location, "\(count) article(s)", replica, "\(list.count): \(list.map { $0.title ?? $0.url }.joined(separator: ", "))")
            }
            for article in expectation.articles {
                let id = ArticleID(url: try NormalizedURL(article.url))
                let found = list.first { $0.id == id }
                if article.visible == false {
                    if found != nil { fail(article.location, "\(article.url) not to be visible", replica, "it is in the list") }
                    continue
                }
                guard let found else {
                    fail(article.location, "article \(article.url) in the list", replica,
                         "it is not there (\(list.count) article(s)\(list.isEmpty ? "" : ": " + list.map(\.url).joined(separator: ", ")))")
                    continue
                }
                let json = found.jsonValue(includeContent: true).objectValue ?? [:]
                for (field, expected, location) in article.fields {
                    let actual: JSONValue
                    if field == "highlights", case .equals(.number) = expected {
                        actual = .number(Double(found.highlights.count))
                    } else if field == "highlights" {
                        actual = .array(found.highlights.map { .string($0.quote) })
                    } else {
                        actual = json[field] ?? .null
                    }
                    if !expected.matches(actual) {
                        fail(location, "\(field) of \(article.url) to be \(expected)", replica, actual.canonicalText)
                    }
                }
                if let conflicts = article.conflicts {
                    let actual = Dictionary(uniqueKeysWithValues: found.conflicts.map { ($0.field, $0.values) })
                    let expectedText = conflicts.isEmpty ? "no conflicts" : "conflicts " + conflicts.keys.sorted().map { "\($0): \(JSONValue.array(conflicts[$0]!).canonicalText)" }.joined(separator: "; ")
                    let sawText = actual.isEmpty ? "no conflicts" : actual.keys.sorted().map { "\($0): \(JSONValue.array(actual[$0]!).canonicalText)" }.joined(separator: "; ")
                    let same = Set(conflicts.keys) == Set(actual.keys) && conflicts.allSatisfy { field, values in
                        let seen = actual[field] ?? []
                        return seen.count == values.count && values.allSatisfy { value in seen.contains { $0.loosely(equals: value) } }
                    }
                    if !same { fail(article.location, "\(expectedText) on \(article.url)", replica, sawText) }
                }
            }
        }
        return failures
    }
}
