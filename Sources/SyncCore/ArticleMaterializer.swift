import ReadingListModel

/// Turns the live writes of an article and its highlights into the
/// `Article` every replica displays. Pure: same writes, same article.
package enum ArticleMaterializer {
    /// The article with its visibility, or nil when no write of its URL is
    /// live (nothing to display; only writes of types this version does not know).
    package static func materialize(id: ArticleID, changes: [Change]) -> (article: Article, isVisible: Bool)? {
        let articleRef = EntityRef.article(id)
        var article = EntityState(entity: articleRef)
        var highlightStates: [String: EntityState] = [:]
        var dependents: [Change] = []
        for change in changes {
            if change.entity == articleRef {
                article.apply(change)
            } else if change.entity.type == EntityRef.highlightType, change.entity.articleID == id {
                highlightStates[change.entity.id, default: EntityState(entity: change.entity)].apply(change)
                dependents.append(change)
            }
        }
        guard let url = article.resolved(Fields.url)?.stringValue else { return nil }
        let normalized = (try? NormalizedURL(url))?.string ?? url

        func text(_ field: String) -> String? { article.resolved(field)?.stringValue }
        func flag(_ field: String) -> Bool { article.resolved(field)?.boolValue ?? false }

        var result = Article(id: id, url: url, normalizedURL: normalized)
        result.title = text(Fields.title)
        result.excerpt = text(Fields.excerpt)
        result.content = text(Fields.content)
        result.author = text(Fields.author)
        result.siteName = text(Fields.siteName)
        result.imageURL = text(Fields.imageURL)
        result.language = text(Fields.language)
        result.note = text(Fields.note)
        result.wordCount = article.resolved(Fields.wordCount)?.numberValue.map { Int($0) }
        result.isRead = flag(Fields.isRead)
        result.isArchived = flag(Fields.isArchived)
        result.isFavorite = flag(Fields.isFavorite)
        if let progress = article.resolved(Fields.progress) {
            let value = FieldRegister.progress(progress)
            result.progress = value.epoch < 0 ? ReadingProgress() : value
        }
        result.addedAt = Int64(article.resolved(Fields.addedAt)?.numberValue ?? 0)
        result.tags = article.fields.keys
            .filter { $0.hasPrefix(Fields.tagPrefix) && article.resolved($0)?.boolValue == true }
            .map { String($0.dropFirst(Fields.tagPrefix.count)) }
            .sorted()
        var updatedAt: Int64 = 0
        for register in article.fields.values { for change in register.siblings { updatedAt = max(updatedAt, change.hlc.millis) } }
        for change in dependents { updatedAt = max(updatedAt, change.hlc.millis) }
        result.updatedAt = updatedAt

        var conflicts: [FieldConflict] = []
        for (field, register) in article.fields {
            let values = register.conflictValues(by: FieldPolicy.of(entityType: articleRef.type, field: field))
            if !values.isEmpty { conflicts.append(FieldConflict(field: field, values: values)) }
        }
        var highlights: [Highlight] = []
        for (highlightID, state) in highlightStates where state.isVisible() {
            guard let quote = state.resolved(Fields.quote)?.stringValue else { continue }
            highlights.append(Highlight(
                id: highlightID, articleID: id, quote: quote,
                position: state.resolved(Fields.position)?.numberValue,
                note: state.resolved(Fields.note)?.stringValue,
                color: state.resolved(Fields.color)?.stringValue,
                createdAt: Int64(state.resolved(Fields.createdAt)?.numberValue ?? 0)))
            for (field, register) in state.fields {
                let values = register.conflictValues(by: FieldPolicy.of(entityType: EntityRef.highlightType, field: field))
                if !values.isEmpty { conflicts.append(FieldConflict(field: "highlight:\(highlightID).\(field)", values: values)) }
            }
        }
        result.highlights = highlights.sorted { ($0.position ?? 0, $0.createdAt, $0.id) < ($1.position ?? 0, $1.createdAt, $1.id) }
        result.conflicts = conflicts.sorted { $0.field < $1.field }
        return (result, article.isVisible(dependents: dependents))
    }
}
