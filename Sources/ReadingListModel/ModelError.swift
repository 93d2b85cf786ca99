/// Errors of the model layer: input a user gave that cannot become part of a reading list.
public enum ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text is not an http(s) URL; `reason` says why.
    case invalidURL(String, reason: String)
    /// A progress fraction outside 0...1 (or not a number).
    case invalidProgress(Double)
    /// A tag that is empty or too long after trimming.
    case invalidTag(String)
    /// An article id that is not 32 lowercase hexadecimal digits.
    case invalidArticleID(String)

    /// One line saying what is wrong, for a person.
    public var description: String {
        switch self {
        // (Without the password a URL may carry: an error line ends up in terminals and logs.)
        case let .invalidURL(url, reason): "invalid URL '\(NormalizedURL.removingCredentials(url))': \(reason)"
        case let .invalidProgress(value): "invalid progress \(value): it must be a fraction from 0 to 1"
        case let .invalidTag(tag): "invalid tag '\(tag)': a tag must be 1 to 100 characters, not only spaces"
        case let .invalidArticleID(id): "invalid article id '\(id)'"
        }
    }
}
