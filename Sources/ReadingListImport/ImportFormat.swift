/// The file formats `import` reads.
public enum ImportFormat: String, Sendable, CaseIterable, Hashable {
    /// Detect the format from the file's name and first bytes.
    case auto
    /// Pocket's CSV export (both header variants), alone or as a ZIP of parts.
    case pocket
    /// Pocket's legacy HTML export (`ril_export.html`).
    case pocketHTML = "pocket-html"
    /// Instapaper's CSV export (older and newer columns).
    case instapaper
    /// Omnivore's export: the official ZIP (metadata JSON, content, highlights) or a community JSON array.
    case omnivore
    /// Wallabag's JSON or semicolon CSV export.
    case wallabag
    /// Netscape bookmark HTML (browsers, Pinboard, linkding, karakeep).
    case netscape
    /// Readwise Reader's library CSV, or Readwise's highlights CSV.
    case readwise
    /// Karakeep's (Hoarder's) JSON export.
    case karakeep
    /// This app's own lossless JSON export.
    case json
    /// This app's own CSV export (`export --format csv`): what a spreadsheet
    /// holds (URL, title, tags, added time, states, progress, note); the JSON
    /// export is the lossless one.
    case csv
}
