/// Character classes by Unicode scalar, with an ASCII fast path: looking up
/// a scalar's Unicode properties costs about a hundred nanoseconds, and most
/// saved text is ASCII.
enum Scalars {
    /// A letter or a digit (of any script).
    @inline(__always)
    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (value >= 0x61 && value <= 0x7A) || (value >= 0x41 && value <= 0x5A) || (value >= 0x30 && value <= 0x39) }
        return scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    /// Whitespace (no-break spaces included).
    @inline(__always)
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return scalar.properties.isWhitespace
    }

    /// The scalar's lowercase form (the first scalar of it: enough to compare words).
    @inline(__always)
    static func lowercase(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let value = scalar.value
        if value < 0x80 { return value >= 0x41 && value <= 0x5A ? Unicode.Scalar(UInt8(value + 0x20)) : scalar }
        return scalar.properties.lowercaseMapping.unicodeScalars.first ?? scalar
    }

    /// `text` lowercased, its words (letters, digits, and `'`, `’` or `-`
    /// inside a word) separated by one space, nothing else kept.
    static func normalizedWords(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if isWord(scalar) || ((scalar == "'" || scalar == "’" || scalar == "-") && !out.isEmpty && !pendingSpace) {
                if pendingSpace && !out.isEmpty { out.append(0x20) }
                pendingSpace = false
                append(lowercase(scalar), to: &out)
            } else {
                pendingSpace = true
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the UTF-8 of `scalar`.
    @inline(__always)
    static func append(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        if scalar.value < 0x80 {
            out.append(UInt8(scalar.value))
        } else {
            out.append(contentsOf: UTF8.encode(scalar)!)
        }
    }

    /// Whether the UTF-8 of `haystack` holds that of `needle`.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return true }
            }
            index += 1
        }
        return false
    }
}
