/// The identity of an article: derived from its normalised URL, so the same
/// page saved on two offline devices is one article everywhere.
///
/// `id = hex(SHA-256("url-v1\n" + normalised URL))[0..<32]`, the URL
/// normalised by the current normaliser (`url-v2`). The name in the hash
/// stays `url-v1`: `url-v2` gives a URL already in canonical form the text
/// `url-v1` gave it, so every id of a canonical URL is the one it always
/// had, and a variant gets the id its canonical form always had.
public struct ArticleID: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The id's text: 32 lowercase hexadecimal digits.
    public let rawValue: String

    /// Wraps an id that is already known to be one (32 lowercase hex digits).
    public init(validating rawValue: String) throws(ModelError) {
        guard rawValue.utf8.count == 32, rawValue.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw .invalidArticleID(rawValue)
        }
        self.rawValue = rawValue
    }

    package init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// The name hashed with the normalised URL: the first normaliser's, kept so that ids never move.
    package static let derivation = "url-v1"

    /// The id of the article saved at `url`.
    public init(url: NormalizedURL) {
        rawValue = String(SHA256.hex(Self.derivation + "\n" + url.string).prefix(32))
    }

    /// The id's text (``rawValue``).
    public var description: String { rawValue }
    /// Orders ids by their text.
    public static func < (lhs: ArticleID, rhs: ArticleID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Decodes an id from its text, refusing one that is not 32 lowercase hexadecimal digits.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    /// Encodes the id as its text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
