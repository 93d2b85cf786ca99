import ReadingListModel
@testable import ReplicaStore
import SyncCore
import Testing

/// `InputRules.violation` scans bytes; the rules it implements are written
/// here once more the slow way (as `writeLocal` checked them before), and
/// both must agree on every awkward text.
@Suite("Input rules: one byte scan, the same verdicts as the rules read character by character")
struct InputRulesTests {
    static func reference(_ field: String, _ text: String) -> InputRules.Violation? {
        if let limit = FieldLimits.maxBytes(of: field), text.utf8.count > limit { return .tooLarge(bytes: text.utf8.count, limit: limit) }
        if text.allSatisfy(\.isWhitespace) { return .blank }
        let multiline = field == Fields.note || field == Fields.content || field == Fields.excerpt || field == Fields.quote
        if let bad = text.unicodeScalars.first(where: { scalar in
            (scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) && !(multiline && (scalar == "\n" || scalar == "\t" || scalar == "\r"))
        }) {
            return .controlCharacter(bad.value)
        }
        return nil
    }

    static let texts = [
        "", " ", "  \t ", "\n", "\r\n", "\t", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{3000}", "\u{2028}", " \u{301}", "\u{1C}", "\u{1}",
        "a", "a b", "a\nb", "a\tb", "a\rb", "a\u{1B}[31m", "a\u{7F}", "a\u{80}", "a\u{85}", "a\u{9F}", "a\u{A0}", "\u{9F}a", "é", "日本語",
        "emoji 👩‍👩‍👧", "\u{200B}", "x\u{0}y", "Ā\u{80}", "\u{C2}", String(repeating: "x", count: 70_000), " \n\u{85}\u{A0}x",
    ]

    @Test(arguments: [Fields.title, Fields.note, Fields.content, Fields.url, Fields.quote, Fields.author])
    func theByteScanAgreesWithTheCharacterRules(field: String) {
        for text in Self.texts {
            #expect(InputRules.violation(field, text) == Self.reference(field, text), "\(field): \(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func plainTagsAreKeptAsGivenAndOthersNormalised() throws {
        for tag in ["swift", "reading-list", "c++", "2026", "a.b_c", "日本"] { #expect(try Tag.validated(tag) == tag) }
        #expect(try Tag.validated("Swift") == "swift")
        #expect(try Tag.validated("#swift") == "swift")
        #expect(try Tag.validated("  two   words ") == "two words")
        #expect(throws: ModelError.self) { try Tag.validated("a,b") }
        #expect(throws: ModelError.self) { try Tag.validated(String(repeating: "x", count: 101)) }
    }
}
