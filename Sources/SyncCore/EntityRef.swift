import ReadingListModel

/// Which entity a change writes: its type and id.
///
/// Known types are `article` (id: the `ArticleID`) and `highlight` (id:
/// `ARTICLEID/HEX`, so the parent article is part of its identity). Any other
/// type is one a newer version knows: stored and passed on, never dropped.
public struct EntityRef: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The entity's type: `article` or `highlight` (others are kept, never shown).
    public var type: String
    /// The entity's id: an `ArticleID`'s text, or a highlight's id.
    public var id: String

    package init(type: String, id: String) {
        self.type = type
        self.id = id
    }

    package static let articleType = "article"
    package static let highlightType = "highlight"

    package static func article(_ id: ArticleID) -> EntityRef { EntityRef(type: articleType, id: id.rawValue) }

    package static func highlight(_ id: String) -> EntityRef { EntityRef(type: highlightType, id: id) }

    /// The article this entity belongs to, for the types this version knows.
    public var articleID: ArticleID? {
        switch type {
        case Self.articleType: return try? ArticleID(validating: id)
        case Self.highlightType:
            guard let slash = id.firstIndex(of: "/") else { return nil }
            return try? ArticleID(validating: String(id[id.startIndex..<slash]))
        default: return nil
        }
    }

    /// `type id`.
    public var description: String { "\(type) \(id)" }
    /// Orders by type, then id.
    public static func < (lhs: EntityRef, rhs: EntityRef) -> Bool { (lhs.type, lhs.id) < (rhs.type, rhs.id) }
}
