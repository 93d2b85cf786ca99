import Foundation
import ReadingListModel
@testable import ReadingListImport
import ReplicaStore
import SyncCore
import ZIPFoundation

/// The fixtures folder beside this file (one file per format and shape, written for these tests).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

/// A fresh temporary folder, removed by the caller's `defer`.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("import-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A ZIP of the fixture folder `name` (its files at their paths inside it), written into `folder`.
func zipFixture(_ name: String, in folder: URL) throws -> String {
    let source = fixtures.appendingPathComponent(name)
    let target = folder.appendingPathComponent("\(name).zip")
    let archive = try Archive(url: target, accessMode: .create)
    let files = FileManager.default.enumerator(at: source, includingPropertiesForKeys: [.isRegularFileKey])!
    var paths: [String] = []
    for case let url as URL in files where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
        paths.append(String(url.standardizedFileURL.path.dropFirst(source.standardizedFileURL.path.count + 1)))
    }
    for path in paths.sorted() { try archive.addEntry(with: path, relativeTo: source, compressionMethod: .deflate) }
    return target.path
}

/// Writes `text` to `name` in `folder`.
func write(_ text: String, _ name: String, in folder: URL) throws -> String {
    let url = folder.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url.path
}

/// A replica in memory with a fixed clock.
func makeStore() throws -> ReplicaStore {
    try ReplicaStore.inMemory(now: { 1_800_000_000_000 })
}

/// How many changes this replica has made (its own counter in its knowledge).
func changeCount(_ store: ReplicaStore) throws -> UInt64 {
    try store.knowledge()[store.replicaID]
}

extension ReplicaStore {
    /// The visible article of `url` (with content), or nil.
    func find(_ url: String) throws -> Article? {
        guard let normalized = try? NormalizedURL(url) else { return nil }
        return try articles(includeContent: true).first { $0.id == ArticleID(url: normalized) }
    }
}

/// Milliseconds of an ISO 8601 time, for expectations.
func millis(_ iso: String) -> Int64 { DateParse.iso(iso)! }
