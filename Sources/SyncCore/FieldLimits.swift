/// The most a local write may hold, by field: UTF-8 bytes of its text.
///
/// Limits are enforced where data enters a replica (every local write goes
/// through one place), so that no single change can outgrow what a sync
/// server takes in one request (8 MiB by default): a save of a 9 MB page is
/// refused with a clear error instead of stopping every later sync. Changes
/// received from other replicas are not checked (they were written under
/// their writer's limits).
public enum FieldLimits {
    /// An article's text (readable text or HTML): 2 MiB.
    public static let content = 2 << 20
    /// A note (of an article or of a highlight) and a highlight's quote: 64 KiB.
    public static let note = 64 << 10
    /// An excerpt: 16 KiB.
    public static let excerpt = 16 << 10
    /// A title: 2 KiB.
    public static let title = 2 << 10
    /// A URL (as given, or an image's): 8 KiB.
    public static let url = 8 << 10
    /// Short texts: author, site name, language, a highlight's colour: 1 KiB.
    public static let short = 1 << 10

    /// The limit for `field`, or nil when it holds no text this version limits.
    public static func maxBytes(of field: String) -> Int? {
        switch field {
        case Fields.content: content
        case Fields.note, Fields.quote: note
        case Fields.excerpt: excerpt
        case Fields.title: title
        case Fields.url, Fields.imageURL: url
        case Fields.author, Fields.siteName, Fields.language, Fields.color: short
        default: nil
        }
    }

    /// `bytes` for people: "9.3 MB", "64 KB", "120 bytes".
    public static func describe(bytes: Int) -> String {
        if bytes >= 1 << 20 { return "\((Double(bytes) / Double(1 << 20) * 10).rounded() / 10) MB" }
        if bytes >= 1 << 10 { return "\((Double(bytes) / Double(1 << 10) * 10).rounded() / 10) KB" }
        return "\(bytes) bytes"
    }
}
