/// The language of a text, recognised from its most common words.
///
/// Small and deterministic on purpose (no platform recogniser: Apple's
/// NaturalLanguage is not on Linux, and replicas must agree): it knows seven
/// languages written in Latin script by their function words, and says
/// nothing (nil) when the text is short or the count is close.
enum Language {
    static let stopwords: [(String, Set<String>)] = [
        ("en", ["the", "and", "of", "to", "is", "in", "that", "it", "was", "for", "on", "with", "as", "are", "this", "be", "have", "not", "you", "by", "he", "she", "they", "from", "at", "but", "which", "would", "has", "were"]),
        ("fr", ["le", "la", "les", "et", "des", "est", "une", "un", "du", "que", "dans", "pour", "pas", "qui", "sur", "au", "avec", "ce", "il", "sont", "elle", "nous", "vous", "mais", "ont", "été", "aux", "cette", "ses", "leur"]),
        ("de", ["der", "die", "und", "das", "ist", "nicht", "ein", "eine", "zu", "den", "mit", "von", "sich", "auf", "für", "dem", "des", "auch", "es", "im", "wir", "sie", "ich", "wird", "werden", "aber", "oder", "wie", "nach", "bei"]),
        ("es", ["el", "los", "las", "y", "que", "en", "un", "una", "es", "por", "con", "para", "del", "se", "no", "al", "lo", "su", "como", "más", "pero", "sus", "le", "ya", "este", "está", "fue", "ha", "muy", "también"]),
        ("it", ["il", "di", "che", "è", "la", "per", "un", "una", "non", "sono", "del", "della", "con", "gli", "si", "le", "da", "al", "nel", "anche", "come", "più", "ma", "questo", "alla", "dei", "delle", "ha", "essere", "stato"]),
        ("pt", ["o", "os", "as", "de", "que", "e", "do", "da", "em", "um", "uma", "para", "com", "não", "por", "se", "dos", "mais", "é", "na", "no", "ao", "das", "como", "mas", "foi", "seu", "sua", "ou", "está"]),
        ("nl", ["de", "het", "een", "en", "van", "is", "dat", "op", "te", "in", "zijn", "niet", "met", "voor", "ook", "aan", "er", "die", "wordt", "maar", "om", "bij", "nog", "als", "dit", "door", "naar", "heeft", "worden", "uit"]),
    ]

    /// Which languages (indexes into ``stopwords``) have each common word.
    static let index: [String: [Int]] = {
        var index: [String: [Int]] = [:]
        for (language, entry) in stopwords.enumerated() { for word in entry.1 { index[word, default: []].append(language) } }
        return index
    }()

    /// The language of `text` (its first 1 500 words), or nil when it has fewer than 20 words or no
    /// language clearly leads (the best count at least 1.5 times the next).
    static func detect(_ text: String) -> String? {
        var counts = [Int](repeating: 0, count: stopwords.count)
        var words = 0
        let normalized = Scalars.normalizedWords(String(decoding: text.utf8.prefix(12_000), as: UTF8.self))
        for word in normalized.utf8.split(separator: 0x20).prefix(1500) {
            words += 1
            guard word.count <= 8, let languages = index[String(decoding: word, as: UTF8.self)] else { continue }
            for language in languages { counts[language] += 1 }
        }
        guard words >= 20 else { return nil }
        let order = counts.indices.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        let best = counts[order[0]]
        let second = counts[order[1]]
        guard best >= 5, best * 2 >= second * 3, best * 10 >= words else { return nil }
        return stopwords[order[0]].0
    }

    /// `en_US` → `en-US`, `EN` → `en`; nil for what is not a language tag.
    static func normalizedTag(_ raw: String) -> String? {
        let parts = raw.trimmingSpaces.split(whereSeparator: { $0 == "-" || $0 == "_" })
        guard let first = parts.first, (2...3).contains(first.count), first.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
        var tag = first.lowercased()
        for part in parts.dropFirst().prefix(2) where part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) && (2...8).contains(part.count) {
            tag += "-" + (part.count == 2 ? part.uppercased() : part.count == 4 ? part.prefix(1).uppercased() + part.dropFirst().lowercased() : part.lowercased())
        }
        return tag
    }
}
