import ReadingListModel
import SyncCore

/// A reference model of the merge contract (`Docs/ConflictResolution.md`,
/// rules 1, 3, 5), written apart from SyncCore as a test oracle: it has its
/// own register, policy and visibility code and never calls `FieldRegister`,
/// `FieldPolicy`, `EntityState` or `ArticleMaterializer`. It only uses the
/// plain value types (`Change`, `Dot`, `VersionVector`, `HLC`, `JSONValue`,
/// `NormalizedURL`).
///
/// Fed every write a run made (with the context each was made with), it
/// says what every replica that has seen them all must display: the visible
/// articles, each field's value, the conflicts and the highlights.
package struct Oracle: Sendable {
    /// A displayed value that disagrees with the contract.
    package struct Violation: Sendable, Hashable, CustomStringConvertible {
        package var replica: String
        /// The article's URL (as the contract or the replica shows it) and id prefix.
        package var article: String
        package var field: String
        package var expected: String
        package var seen: String

        package var description: String {
            "oracle: on \(replica), article \(article), field \(field): expected \(expected), saw \(seen)"
        }
    }

    /// What one article displays, field by field (`conflicts.FIELD` and
    /// `highlight:ID` are fields of their own, so a violation names them).
    package typealias Display = [String: JSONValue]

    /// Writes of one field of one entity.
    struct Key: Hashable {
        var type: String
        var id: String
        var field: String
    }

    /// Every write, by field; and the live ones (replaced by no other write).
    let writes: [Key: [Change]]
    let live: [Key: [Change]]

    package init(writes: some Sequence<Change>) {
        var grouped: [Key: [Change]] = [:]
        var seen: Set<Dot> = []
        for write in writes where seen.insert(write.dot).inserted {
            grouped[Key(type: write.entity.type, id: write.entity.id, field: write.field), default: []].append(write)
        }
        self.writes = grouped
        live = grouped.mapValues { all in
            all.filter { write in !all.contains { $0.dot != write.dot && $0.context.covers(write.dot) } }
        }
    }

    /// The live writes no replica needs any more: live by the contract, but
    /// forgotten by a replica (absent from `held`, its live changes) with a
    /// delete of the same article it does not hold either, which is or has
    /// seen the write (an invisible article collected at the horizon; the
    /// delete itself may since have been replaced, by a fresh save). A write
    /// missing for any other reason stays in the model: it was lost.
    package func forgotten(held: Set<Dot>) -> Set<Dot> {
        var deletes: [String: [Change]] = [:]
        for (key, changes) in writes where key.type == "article" && key.field == "deleted" {
            deletes[key.id] = changes.filter { $0.value == .bool(true) && !held.contains($0.dot) }
        }
        var result: Set<Dot> = []
        for (key, changes) in live {
            guard let article = Self.parent(type: key.type, id: key.id), let gone = deletes[article], !gone.isEmpty else { continue }
            for write in changes where !held.contains(write.dot) {
                if gone.contains(where: { $0.dot == write.dot || $0.context.covers(write.dot) }) { result.insert(write.dot) }
            }
        }
        return result
    }

    // MARK: - The policy table (rule 3)

    enum Policy {
        /// Highest `(hlc, replica)`; `conflicts`: disagreeing siblings are shown.
        case latest(conflicts: Bool)
        /// `url`: highest `(hlc, replica)`; siblings normalising alike agree.
        case url
        case earliest
        case progress
        case addWins
    }

    static func policy(type: String, field: String) -> Policy {
        switch (type, field) {
        case ("article", "url"): return .url
        case ("article", "addedAt"): return .earliest
        case ("article", "progress"): return .progress
        case ("article", _) where field.hasPrefix("tag:"): return .addWins
        case ("article", "title"), ("article", "excerpt"), ("article", "content"), ("article", "author"), ("article", "siteName"),
             ("article", "imageURL"), ("article", "language"), ("article", "wordCount"), ("article", "note"),
             ("article", "isArchived"), ("article", "isFavorite"):
            return .latest(conflicts: true)
        case ("highlight", "quote"), ("highlight", "note"), ("highlight", "color"), ("highlight", "position"):
            return .latest(conflicts: true)
        default: return .latest(conflicts: false)
        }
    }

    /// `a` before `b` among concurrent writes: higher `(hlc, replica)`.
    static func newer(_ a: Change, _ b: Change) -> Bool {
        if a.hlc != b.hlc { return a.hlc > b.hlc }
        return a.dot.replica > b.dot.replica
    }

    static func readProgress(_ value: JSONValue) -> (epoch: Int, position: Double) {
        guard case let .object(object) = value, case let .number(epoch)? = object["epoch"] else { return (-1, 0) }
        if case let .number(position)? = object["position"] { return (Int(epoch), position) }
        return (Int(epoch), 0)
    }

    /// The displayed value of siblings under `policy` (nil: never written).
    static func winner(_ siblings: [Change], _ policy: Policy) -> JSONValue? {
        guard var best = siblings.first else { return nil }
        for write in siblings.dropFirst() {
            let better: Bool
            switch policy {
            case .latest, .url:
                better = newer(write, best)
            case .earliest:
                let (x, y) = (number(write.value) ?? .infinity, number(best.value) ?? .infinity)
                better = x != y ? x < y : newer(write, best)
            case .progress:
                let (x, y) = (readProgress(write.value), readProgress(best.value))
                better = x != y ? x > y : newer(write, best)
            case .addWins:
                let (x, y) = (write.value == .bool(true), best.value == .bool(true))
                better = x != y ? x : newer(write, best)
            }
            if better { best = write }
        }
        return best.value
    }

    /// The values of a conflict (displayed first, then by precedence), or nil when people agree.
    static func conflict(_ siblings: [Change], _ policy: Policy) -> [JSONValue]? {
        let shown: Bool
        switch policy {
        case let .latest(conflicts): shown = conflicts
        case .url: shown = true
        default: shown = false
        }
        guard shown, siblings.count > 1 else { return nil }
        var keys: Set<String> = []
        var values: [JSONValue] = []
        for write in siblings.sorted(by: newer) {
            var key = write.value.canonicalText
            if case .url = policy, case let .string(text) = write.value, let normalized = try? NormalizedURL(text) { key = "url " + normalized.string }
            if keys.insert(key).inserted { values.append(write.value) }
        }
        return values.count > 1 ? values : nil
    }

    static func number(_ value: JSONValue) -> Double? { if case let .number(number) = value { number } else { nil } }
    static func text(_ value: JSONValue?) -> JSONValue { if case let .string(text)? = value { .string(text) } else { .null } }

    /// The article an entity belongs to (articles and highlights `ARTICLE/HEX`).
    static func parent(type: String, id: String) -> String? {
        switch type {
        case "article": id
        case "highlight": id.firstIndex(of: "/").map { String(id[..<$0]) }
        default: nil
        }
    }

    // MARK: - Visibility (rule 5) and display

    /// Rule 5: visible when it has live writes and no live delete, or a live
    /// `deleted = false`, or a live write of another field (or of a
    /// dependent) that no live delete's context covers.
    static func visible(_ fields: [String: [Change]], dependents: [Change]) -> Bool {
        let all = fields.values.flatMap { $0 }
        guard !all.isEmpty else { return false }
        let flags = fields["deleted"] ?? []
        let deletes = flags.filter { $0.value == .bool(true) }
        if deletes.isEmpty || flags.contains(where: { $0.value == .bool(false) }) { return true }
        let others = fields.filter { $0.key != "deleted" }.values.flatMap { $0 } + dependents
        return others.contains { write in !deletes.contains { $0.context.covers(write.dot) } }
    }

    /// What every replica must display, by article id, leaving out the writes in `forgotten`.
    package func expected(forgetting forgotten: Set<Dot> = []) -> [String: Display] {
        // Live writes per entity, then per article.
        var articles: [String: [String: [Change]]] = [:]
        var highlights: [String: [String: [String: [Change]]]] = [:]  // article -> highlight id -> field -> live
        for (key, changes) in live {
            let kept = changes.filter { !forgotten.contains($0.dot) }
            guard !kept.isEmpty else { continue }
            if key.type == "article" {
                articles[key.id, default: [:]][key.field] = kept
            } else if key.type == "highlight", let article = Self.parent(type: key.type, id: key.id) {
                highlights[article, default: [:]][key.id, default: [:]][key.field] = kept
            }
        }
        var result: [String: Display] = [:]
        for (id, fields) in articles {
            let children = highlights[id] ?? [:]
            let dependents = children.values.flatMap { $0.values.flatMap { $0 } }
            guard Self.visible(fields, dependents: dependents) else { continue }
            func shown(_ field: String) -> JSONValue? { fields[field].flatMap { Self.winner($0, Self.policy(type: "article", field: field)) } }
            guard case let .string(url)? = shown("url") else { continue }
            var display: Display = [:]
            display["url"] = .string(url)
            display["normalizedURL"] = .string((try? NormalizedURL(url))?.string ?? url)
            for field in ["title", "excerpt", "content", "author", "siteName", "imageURL", "language", "note"] {
                display[field] = Self.text(shown(field))
            }
            display["wordCount"] = shown("wordCount").flatMap(Self.number).map { .number(Double(Int($0))) } ?? .null
            for field in ["isRead", "isArchived", "isFavorite"] {
                display[field] = .bool(shown(field) == .bool(true))
            }
            var progress: (epoch: Int, position: Double) = shown("progress").map(Self.readProgress) ?? (0, 0)
            if progress.epoch < 0 { progress = (0, 0) }
            display["progress"] = .object(["epoch": .number(Double(progress.epoch)), "position": .number(progress.position)])
            display["addedAt"] = .number(Double(Int64(shown("addedAt").flatMap(Self.number) ?? 0)))
            display["tags"] = .array(fields.keys.filter { $0.hasPrefix("tag:") && shown($0) == .bool(true) }
                .map { String($0.dropFirst(4)) }.sorted().map { .string($0) })
            let newest = (fields.values.flatMap { $0 } + dependents).map(\.hlc.millis).max() ?? 0
            display["updatedAt"] = .number(Double(newest))
            for (field, siblings) in fields {
                if let values = Self.conflict(siblings, Self.policy(type: "article", field: field)) { display["conflicts.\(field)"] = .array(values) }
            }
            var order: [(position: Double, createdAt: Int64, id: String)] = []
            for (highlight, state) in children where Self.visible(state, dependents: []) {
                func value(_ field: String) -> JSONValue? { state[field].flatMap { Self.winner($0, Self.policy(type: "highlight", field: field)) } }
                guard case let .string(quote)? = value("quote") else { continue }
                let position = value("position").flatMap(Self.number)
                let createdAt = Int64(value("createdAt").flatMap(Self.number) ?? 0)
                display["highlight:\(highlight)"] = .object([
                    "quote": .string(quote), "position": position.map { .number($0) } ?? .null, "note": Self.text(value("note")),
                    "color": Self.text(value("color")), "createdAt": .number(Double(createdAt)),
                ])
                order.append((position ?? 0, createdAt, highlight))
                for (field, siblings) in state {
                    if let values = Self.conflict(siblings, Self.policy(type: "highlight", field: field)) {
                        display["conflicts.highlight:\(highlight).\(field)"] = .array(values)
                    }
                }
            }
            display["highlights"] = .array(order.sorted { ($0.position, $0.createdAt, $0.id) < ($1.position, $1.createdAt, $1.id) }.map { .string($0.id) })
            result[id] = display
        }
        return result
    }

    /// An article as a replica displays it, in the form of ``expected(forgetting:)``.
    package static func display(of article: Article) -> Display {
        var display: Display = [:]
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        display["url"] = .string(article.url)
        display["normalizedURL"] = .string(article.normalizedURL)
        display["title"] = text(article.title)
        display["excerpt"] = text(article.excerpt)
        display["content"] = text(article.content)
        display["author"] = text(article.author)
        display["siteName"] = text(article.siteName)
        display["imageURL"] = text(article.imageURL)
        display["language"] = text(article.language)
        display["note"] = text(article.note)
        display["wordCount"] = article.wordCount.map { .number(Double($0)) } ?? .null
        display["isRead"] = .bool(article.isRead)
        display["isArchived"] = .bool(article.isArchived)
        display["isFavorite"] = .bool(article.isFavorite)
        display["progress"] = .object(["epoch": .number(Double(article.progress.epoch)), "position": .number(article.progress.position)])
        display["addedAt"] = .number(Double(article.addedAt))
        display["tags"] = .array(article.tags.map { .string($0) })
        display["updatedAt"] = .number(Double(article.updatedAt))
        for conflict in article.conflicts { display["conflicts.\(conflict.field)"] = .array(conflict.values) }
        for highlight in article.highlights {
            display["highlight:\(highlight.id)"] = .object([
                "quote": .string(highlight.quote), "position": highlight.position.map { .number($0) } ?? .null, "note": text(highlight.note),
                "color": text(highlight.color), "createdAt": .number(Double(highlight.createdAt)),
            ])
        }
        display["highlights"] = .array(article.highlights.map { .string($0.id) })
        return display
    }

    /// Compares what `replica` displays (`articles()` with content) with `expected`.
    package static func compare(replica: String, shows articles: [Article], expected: [String: Display]) -> [Violation] {
        var violations: [Violation] = []
        let seen = Dictionary(articles.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
        func name(_ id: String, _ display: Display?) -> String {
            "\(display?["url"]?.stringValue ?? "?") (\(id.prefix(8)))"
        }
        for id in Set(expected.keys).union(seen.keys).sorted() {
            let want = expected[id]
            let got = seen[id].map(display(of:))
            guard let want, let got else {
                violations.append(Violation(
                    replica: replica, article: name(id, want ?? got), field: "visible",
                    expected: want == nil ? "not shown" : "shown", seen: got == nil ? "not shown" : "shown"))
                continue
            }
            for field in Set(want.keys).union(got.keys).sorted() where want[field] != got[field] {
                violations.append(Violation(
                    replica: replica, article: name(id, want), field: field,
                    expected: want[field]?.canonicalText ?? "none", seen: got[field]?.canonicalText ?? "none"))
            }
        }
        return violations
    }
}
