import ReadingListModel
import SyncCore

/// The rules every text a local write puts into the list follows: bounded
/// (``FieldLimits``), not blank, and free of control characters (line breaks
/// and tabs only in multi-line fields). One copy, applied by
/// `LogTransaction.writeLocal` (which throws the ``StoreError``) and by an
/// import's checks before its transaction (which skip the row, saying why).
enum InputRules {
    /// What is wrong with a text.
    enum Violation: Equatable {
        case tooLarge(bytes: Int, limit: Int)
        case blank
        case controlCharacter(UInt32)
    }

    /// Whether `field` may hold line breaks and tabs.
    static func isMultiline(_ field: String) -> Bool {
        field == Fields.note || field == Fields.content || field == Fields.excerpt || field == Fields.quote
    }

    /// What `text` breaks as a value of `field`, or nil; the size first, then
    /// blankness, then the first control character.
    ///
    /// One pass over the UTF-8 bytes: an import checks every text twice
    /// (before its transaction and as it writes), and walking `Character`s
    /// (grapheme breaking and Unicode properties for each) was a tenth of
    /// building its transactions. A C0 control or DEL is one byte; a C1
    /// control (U+0080...U+009F) is 0xC2 then 0x80...0x9F. Only a text with no
    /// ASCII letter, digit or mark and some non-ASCII byte asks `Character`
    /// whether it is all whitespace (U+00A0, U+3000...).
    static func violation(_ field: String, _ text: String) -> Violation? {
        let bytes = text.utf8
        if let limit = FieldLimits.maxBytes(of: field), bytes.count > limit { return .tooLarge(bytes: bytes.count, limit: limit) }
        let multiline = isMultiline(field)
        var control: UInt32?
        var visible = false
        var nonASCII = false
        var previous: UInt8 = 0
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F {
                if control == nil && !(multiline && (byte == 0x0A || byte == 0x09 || byte == 0x0D)) { control = UInt32(byte) }
                if !(0x09...0x0D).contains(byte) { visible = true }
            } else if byte < 0x80 {
                if byte != 0x20 { visible = true }
            } else {
                nonASCII = true
                if previous == 0xC2 && byte <= 0x9F && control == nil { control = UInt32(byte) }
            }
            previous = byte
        }
        if !visible && (!nonASCII || text.allSatisfy(\.isWhitespace)) { return .blank }
        return control.map { .controlCharacter($0) }
    }
}
