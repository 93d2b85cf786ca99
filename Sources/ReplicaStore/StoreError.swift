import ReadingListModel
import SyncCore

/// Errors of the replica store, each with the context a user needs. A store
/// operation that throws has changed nothing.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The file exists but is not a reading-list replica database.
    case notAReplica(path: String, reason: String)
    /// The file was written by a newer version of this program.
    case newerSchema(path: String, version: Int, supported: Int)
    /// The file does not exist (and was not to be created).
    case missingFile(path: String)
    /// No article matches what the user typed.
    case articleNotFound(String)
    /// An id prefix matches several articles.
    case ambiguousID(String, matches: Int)
    /// No highlight with this id.
    case highlightNotFound(String)
    /// Bad user input.
    case invalidInput(ModelError)
    /// An operation that makes no sense on the article as it is.
    case invalidOperation(String)
    /// A sync batch or session was refused.
    case sync(SyncError)
    /// SQLite failed (disk full, file locked, corrupted...); the cause keeps GRDB's `DatabaseError`
    /// where there is one (its `resultCode` says which).
    case database(Cause)
    /// A text value larger than its field takes (`FieldLimits`); `entity` names the article or highlight.
    case tooLarge(entity: EntityRef, field: String, bytes: Int, limit: Int)
    /// A text value that is empty or only whitespace: text fields hold text, and clearing one is explicit (null).
    case blank(field: String)
    /// A control character (a terminal escape, a line break in a one-line field) in text.
    case controlCharacter(field: String, scalar: UInt32)

    /// One line saying what is wrong, naming the file or the article concerned.
    public var description: String {
        switch self {
        case let .notAReplica(path, reason): "'\(path)' is not a reading-list replica database (\(reason))"
        case let .newerSchema(path, version, supported):
            "'\(path)' was written by a newer version of readinglist (schema \(version); this version reads up to \(supported)); upgrade readinglist to open it"
        case let .missingFile(path): "no replica database at '\(path)' (the first add or sync creates it)"
        case let .articleNotFound(what): "no article '\(what)' in the list"
        case let .ambiguousID(prefix, count): "id prefix '\(prefix)' matches \(count) articles; type more of the id"
        case let .highlightNotFound(id): "no highlight '\(id)'"
        case let .invalidInput(error): error.description
        case let .invalidOperation(message): message
        case let .sync(error): error.description
        case let .database(cause): "database error: \(cause)"
        case let .tooLarge(entity, field, bytes, limit):
            "\(entity.articleID.map { "article \($0.rawValue.prefix(8))" } ?? "\(entity.type) \(entity.id)"): the \(field) is \(Self.size(bytes, beside: limit)); a \(field) holds at most \(FieldLimits.describe(bytes: limit))"
        case let .controlCharacter(field, scalar):
            "the \(field) holds a control character (U+\(String(scalar, radix: 16, uppercase: true).leftPadded(to: 4))); \(field == Fields.title ? "a title is one line of text" : "only line breaks and tabs are allowed, in notes, excerpts, quotes and content")"
        case let .blank(field): "the \(field) is empty or only spaces: give some text (clearing a field is done explicitly)"
        }
    }
}

extension StoreError {
    /// `bytes` for people, exact when rounding would make it look like `limit`.
    static func size(_ bytes: Int, beside limit: Int) -> String {
        let text = FieldLimits.describe(bytes: bytes)
        return text == FieldLimits.describe(bytes: limit) ? "\(bytes) bytes" : text
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
