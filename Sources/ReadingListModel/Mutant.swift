#if DEBUG
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#endif

/// Deliberate breaks of the merge rules, for measuring whether the project's
/// own checks (scenarios, simulator) notice a wrong rule: the mutation score
/// of `Tests/EndToEndTests/MutationTests.swift` and `Docs/Testing.md`.
///
/// A debug build reads `READINGLIST_MUTANT` once (the raw value of one case);
/// each rule asks `Mutant.is(.x)` in one line. A release build compiles the
/// switch out: `is` is a constant `false` there and no environment is read.
package enum Mutant: String, CaseIterable, Sendable {
    /// Registers (title, note, flags...): the lowest `(hlc, replica)` wins instead of the highest.
    case registerLowestWins = "register-lowest-wins"
    /// `addedAt`: the latest value wins instead of the earliest.
    case addedAtLatestWins = "added-at-latest-wins"
    /// `progress`: within one epoch, concurrent positions keep the lowest.
    case progressLowestPosition = "progress-lowest-position"
    /// `progress`: the epoch is ignored (the highest position wins, even of an older read-through).
    case progressIgnoresEpoch = "progress-ignores-epoch"
    /// Tags: a concurrent remove beats an add.
    case tagsRemoveWins = "tags-remove-wins"
    /// Visibility: a live `deleted = false` (a concurrent save) no longer keeps an article.
    case saveLosesToDelete = "save-loses-to-delete"
    /// Visibility: an edit of a field the deleter had not seen no longer keeps an article.
    case editLosesToDelete = "edit-loses-to-delete"
    /// Visibility: a highlight write the deleter had not seen no longer keeps an article.
    case highlightLosesToDelete = "highlight-loses-to-delete"
    /// `url-v1`: `utm_*` parameters are kept, so two variants of one page are two articles.
    case urlKeepsUTM = "url-v1-keeps-utm"
    /// The causal gate admits a replica's change after a gap in its counters.
    case gateAdmitsGaps = "gate-admits-gaps"
    /// The causal gate admits a change whose context names another replica's change not yet held.
    case gateAdmitsMissingDependencies = "gate-admits-missing-dependencies"
    /// A dot already held, delivered again, is applied again instead of skipped.
    case redeliveryReapplied = "redelivery-reapplied"
    /// A change that arrives under a dot already held with different content (a copied
    /// replica file) is taken for a duplicate instead of refused (heads and batches alike).
    case copiedReplicaAccepted = "copied-replica-accepted"
    /// Garbage collection forgets a deleted article before every replica acknowledged the delete.
    case horizonIgnored = "horizon-ignored"

    #if DEBUG
    /// The mutant `READINGLIST_MUTANT` names (read once); an unknown name stops the process.
    package static let active: Mutant? = {
        guard let raw = getenv("READINGLIST_MUTANT") else { return nil }
        let name = String(cString: raw)
        if name.isEmpty { return nil }
        guard let mutant = Mutant(rawValue: name) else {
            fatalError("READINGLIST_MUTANT=\(name) is not a mutant (known: \(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return mutant
    }()

    /// Whether `mutant` is switched on (debug builds only).
    @inline(__always)
    package static func `is`(_ mutant: Mutant) -> Bool { active == mutant }
    #else
    /// Always false: a release build cannot switch a mutant on.
    @inline(__always)
    package static func `is`(_ mutant: Mutant) -> Bool { false }
    #endif
}
