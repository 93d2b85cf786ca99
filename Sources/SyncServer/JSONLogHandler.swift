import Foundation
import Logging
import ReadingListModel
import SyncServerCore

/// Structured logs: one JSON object per line, on stderr unless given another
/// `LogWriter` (SyncServerCore): `ts` (ISO 8601, UTC, milliseconds), `level`, `label` (the
/// logger's), `msg`, then the metadata by key. Metadata that is an integer, a
/// floating-point number (finite) or a Bool is written as a JSON number or
/// boolean (`status`, `ms`); arrays and dictionaries as JSON arrays and
/// objects; anything else as a string.
///
/// ``log(event:)`` formats the line and queues it on the writer, which writes
/// from a thread of its own: a reader that falls behind costs lines (counted
/// in `/metrics`), never a request's time.
public struct JSONLogHandler: LogHandler {
    /// Metadata added to every line.
    public var metadata: Logger.Metadata = [:]
    /// Metadata read when each line is written.
    public var metadataProvider: Logger.MetadataProvider?
    /// The lowest level written.
    public var logLevel: Logger.Level
    let label: String
    let writer: LogWriter

    /// A handler for `label` that writes lines of `level` and above to `writer`.
    public init(
        label: String, level: Logger.Level = .info, writer: LogWriter = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        logLevel = level
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one JSON line (dropped, and counted, when the writer's queue is full).
    public func log(event: LogEvent) {
        // The handler's metadata, then the provider's, then the event's: the later wins.
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let own = event.metadata, !own.isEmpty { merged.merge(own) { $1 } }
        if let error = event.error, merged["error"] == nil { merged["error"] = .string("\(error)") }
        let millis = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        writer.enqueue(Self.line(millis: millis, level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    /// The keys every line starts with; metadata under these names is left out.
    static let fixedKeys: Set<String> = ["ts", "level", "label", "msg"]

    /// One log line, its newline included.
    static func line(millis: Int64, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var json = JSONLine()
        json.bytes.reserveCapacity(160 + message.utf8.count + metadata.count * 24)
        json.raw("{\"ts\":\"")
        json.timestamp(millis: millis)
        json.raw("\",\"level\":")
        json.string(level.rawValue)
        json.raw(",\"label\":")
        json.string(label)
        json.raw(",\"msg\":")
        json.string(message)
        for key in metadata.keys.sorted() where !fixedKeys.contains(key) {
            json.bytes.append(UInt8(ascii: ","))
            json.string(key)
            json.bytes.append(UInt8(ascii: ":"))
            json.value(metadata[key]!)
        }
        json.raw("}\n")
        return json.bytes
    }
}

/// A JSON text built by hand: cheaper than JSONSerialization for a flat line,
/// and it writes numbers as numbers.
struct JSONLine {
    var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func value(_ value: Logger.Metadata.Value) {
        switch value {
        case let .string(text):
            string(text)
        case let .stringConvertible(item):
            if let flag = item as? Bool {
                flag ? raw("true") : raw("false")
            } else if let integer = item as? any BinaryInteger {
                bytes.append(contentsOf: String(describing: integer).utf8)
            } else if let number = item as? any BinaryFloatingPoint {
                floating(number)
            } else {
                string(item.description)
            }
        case let .array(items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case let .dictionary(entries):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                self.value(entries[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// A finite number as a JSON number (Swift's shortest form: `1.25`, `5.0`, `1e+20`); infinities and NaN as strings.
    private mutating func floating<Number: BinaryFloatingPoint>(_ number: Number) {
        let text = String(describing: number)
        if number.isFinite { bytes.append(contentsOf: text.utf8) } else { string(text) }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for milliseconds since 1970: the project's
    /// one way of writing a time (``Timestamp/iso8601(_:)``).
    mutating func timestamp(millis: Int64) {
        bytes.append(contentsOf: Timestamp.iso8601(millis).utf8)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
