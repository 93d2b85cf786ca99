import ReadingListModel

/// The live writes of one entity, field by field.
package struct EntityState: Sendable, Hashable {
    package let entity: EntityRef
    package private(set) var fields: [String: FieldRegister]

    package init(entity: EntityRef, fields: [String: FieldRegister] = [:]) {
        self.entity = entity
        self.fields = fields
    }

    /// Builds the state from live changes (all of `entity`).
    package init(entity: EntityRef, changes: some Sequence<Change>) {
        self.entity = entity
        fields = [:]
        for change in changes { apply(change) }
    }

    @discardableResult
    package mutating func apply(_ change: Change) -> FieldRegister.Outcome {
        fields[change.field, default: FieldRegister()].apply(change)
    }

    package func register(_ field: String) -> FieldRegister { fields[field] ?? FieldRegister() }

    package func resolved(_ field: String) -> JSONValue? {
        fields[field]?.resolved(by: FieldPolicy.of(entityType: entity.type, field: field))
    }

    package var liveChanges: [Change] { fields.values.flatMap(\.siblings) }

    /// The deletion rule (edit wins over delete):
    ///
    /// visible when there are live writes and either no live `deleted = true`
    /// sibling, or some live `deleted = false` sibling (a concurrent save), or
    /// some live write of any other field — including `dependents`, the
    /// writes of child entities — that none of the live deletes' contexts
    /// covers (an edit the deleter had not seen).
    package func isVisible(dependents: [Change] = []) -> Bool {
        let deletedSiblings = register(Fields.deleted).siblings
        let deletes = deletedSiblings.filter { $0.value.boolValue == true }
        guard !deletes.isEmpty else { return !fields.isEmpty }
        if deletedSiblings.contains(where: { $0.value.boolValue == false }) && !Mutant.is(.saveLosesToDelete) { return true }
        let others = fields.lazy.filter { $0.key != Fields.deleted && !Mutant.is(.editLosesToDelete) }.flatMap(\.value.siblings)
        let dependents = Mutant.is(.highlightLosesToDelete) ? [] : dependents
        return (Array(others) + dependents).contains { write in
            !deletes.contains { $0.context.covers(write.dot) }
        }
    }

    package func checkInvariants() {
        for (name, register) in fields {
            register.checkInvariants()
            precondition(register.siblings.allSatisfy { $0.field == name && $0.entity == entity }, "siblings belong to their field")
        }
    }
}
