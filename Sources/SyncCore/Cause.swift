/// What went wrong underneath an error of this project: a line for people,
/// and the error that caused it, kept as it was thrown.
///
/// A caller that needs to know more than the line (SQLite's result code, a
/// PostgreSQL error's SQLSTATE, an `errno`) casts ``underlying`` to the type
/// its library throws; nothing here is decided by matching the text.
public struct Cause: Error, Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// The line a person reads.
    public let description: String
    /// The error the line describes, if one was caught (a GRDB `DatabaseError`, a `PSQLError`...).
    public let underlying: (any Error)?

    /// `error`'s own text, keeping `error`.
    public init(_ error: any Error) {
        self.init(String(describing: error), underlying: error)
    }

    /// `context`, then `error`'s text (`context: error`), keeping `error`.
    public init(_ context: String, _ error: any Error) {
        self.init("\(context): \(error)", underlying: error)
    }

    /// A line of its own, with the error it comes from if there is one.
    public init(_ description: String, underlying: (any Error)? = nil) {
        self.description = description
        self.underlying = underlying
    }

    /// A line with no error underneath (a corrupt row found by this code, a broken invariant).
    public init(stringLiteral value: String) {
        self.init(value, underlying: nil)
    }
}
