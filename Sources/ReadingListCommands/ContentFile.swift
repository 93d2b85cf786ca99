import Foundation

/// `--content-file`: the article's text from a file.
package enum ContentFile {
    /// The UTF-8 text of the file at `path` (nil without a path), or one line saying why it cannot be read.
    package static func read(_ path: String?) throws -> String? {
        guard let path else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isFolder: ObjCBool = false
            let why = !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) ? "no such file"
                : isFolder.boolValue ? "it is a folder" : "it cannot be read (permissions?)"
            throw CLIError(message: "cannot read content file '\(path)': \(why)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError(message: "content file '\(path)' is not UTF-8 text") }
        return text
    }
}
