import GRDB
import ReadingListModel
import SyncCore

/// Errors of the replica store, each with the context a user needs. A store
/// operation that throws has changed nothing.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The error for a failure of SQLite on the file at `path`: a damaged or
    /// unwritable file named as such, anything else as ``database(_:)``.
    static func database(_ error: any Error, path: String?) -> StoreError {
        let cause = path.map { Cause($0, error) } ?? Cause(error)
        guard let path, let sqlite = error as? DatabaseError else { return .database(cause) }
        switch sqlite.resultCode.primaryResultCode {
        case .SQLITE_CORRUPT: return .damaged(path: path, cause)
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM: return .notWritable(path: path, cause)
        default: return .database(cause)
        }
    }

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
    /// SQLite failed (disk full, file locked...); the cause keeps GRDB's `DatabaseError`
    /// where there is one (its `resultCode` says which).
    case database(Cause)
    /// The file is damaged (truncated or corrupt: SQLite's `SQLITE_CORRUPT`); the cause keeps SQLite's error.
    case damaged(path: String, Cause)
    /// The file, or the folder it is to be made in, cannot be written (SQLite's
    /// `SQLITE_READONLY`, `SQLITE_CANTOPEN` or `SQLITE_PERM`); the cause keeps SQLite's error.
    case notWritable(path: String, Cause)
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
        case let .damaged(path, _):
            "'\(path)' is damaged (truncated or corrupt): restore it from a backup, or move it away and sync again to get the list back from the server or another replica"
        case let .notWritable(path, _):
            "cannot write '\(path)': the file or its folder is read-only or not yours (a replica records its state whenever it is opened, so even reading it needs write access)"
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
