import Foundation
import ReadableText
import ReadingListImport
import ReadingListModel
import ReplicaStore
import ServerHarness
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncServerCore
import Testing

// These tests use only the library's public API, as an app that embeds it
// would: the target is declared with `packageAccess: false` in Package.swift,
// so SwiftPM compiles it without the package's name and nothing
// declared `package` is visible here, and every import is a plain `import`.

/// A fresh folder under the temporary directory, removed at the end of `body`.
private func withTemporaryFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appending(path: "readinglist-public-api-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try await body(folder)
}

/// The first result of `body`, or a failure after `seconds` (a guard against a hang, not a measurement).
private func firstValue<T: Sendable>(within seconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return try #require(first, "nothing within \(seconds) s")
    }
}

@Suite struct PublicAPITests {
    @Test func savesEditsTagsListsAndSearches() async throws {
        try await withTemporaryFolder { folder in
            let store = try ReplicaStore.open(path: folder.appending(path: "list.sqlite").path)
            let (saved, outcome) = try store.save(SaveRequest(url: "https://example.com/story", title: "A story", tags: ["swift"]))
            #expect(outcome == .created)
            #expect(saved.tags == ["swift"])
            try store.save(SaveRequest(url: "https://example.com/other", title: "Something else about gardens"))

            let edited = try store.edit(saved.id.rawValue, [Fields.title: "A better story", Fields.isFavorite: true])
            #expect(edited.title == "A better story")
            #expect(edited.isFavorite)
            #expect(try store.setTags("https://example.com/story", ["reading"], present: true).tags.sorted() == ["reading", "swift"])
            #expect(try store.setTags("https://example.com/story", ["swift"], present: false).tags == ["reading"])
            #expect(try store.setRead("https://example.com/story", true).isRead)
            #expect(try store.setProgress("https://example.com/story", 0.4).progress.position == 0.4)
            let highlightID = try store.addHighlight("https://example.com/story", quote: "a line worth keeping", note: "why")
            #expect(try store.article("https://example.com/story").highlights.map(\.id) == [highlightID])

            #expect(try store.articles(.unread).map(\.url) == ["https://example.com/other"])
            #expect(try store.articles(.favorites).map(\.id) == [saved.id])
            #expect(try store.articles(.tag("reading")).map(\.id) == [saved.id])
            #expect(try store.articles(ReplicaStore.ListFilter(order: .oldest)).map(\.url) == ["https://example.com/story", "https://example.com/other"])
            let hits = try store.search("gardens")
            #expect(hits.map(\.article.url) == ["https://example.com/other"])
            #expect(hits.first?.snippet.contains("gardens") == true)

            let status = try store.status()
            #expect(status.visibleArticles == 2)
            #expect(status.replicaID == store.replicaID)
            #expect(try store.checkInvariants().isEmpty)

            try store.delete("https://example.com/other")
            #expect(try store.articles().map(\.id) == [saved.id])
            do throws(StoreError) {
                _ = try store.article("https://example.com/other")
                Issue.record("a deleted article is not found")
            } catch {
                guard case .articleNotFound = error else { throw error }
            }
            do throws(StoreError) {
                _ = try store.save(SaveRequest(url: "https://example.com/x", tags: ["a,b"]))
                Issue.record("a tag with a comma is refused")
            } catch {
                guard case .invalidInput(.invalidTag) = error else { throw error }
            }
            try store.close()
        }
    }

    @Test func observationDeliversTheListAndEachChange() async throws {
        let store = try ReplicaStore.inMemory()
        var updates = store.observeArticles(.all).makeAsyncIterator()
        #expect(try await updates.next() == [])
        try store.save(SaveRequest(url: "https://example.com/observed", title: "Observed"))
        let next = try await updates.next()
        #expect(next?.map(\.title) == ["Observed"])

        var count = store.observeConflictCount().makeAsyncIterator()
        #expect(try await count.next() == 0)
        var state = store.observeSyncState().makeAsyncIterator()
        #expect(try await state.next()?.pendingChanges ?? 0 > 0)
    }

    @Test func twoReplicasSyncedFileToFileShowAndResolveAConflict() async throws {
        try await withTemporaryFolder { folder in
            let phone = try ReplicaStore.open(path: folder.appending(path: "phone.sqlite").path)
            let laptop = try ReplicaStore.open(path: folder.appending(path: "laptop.sqlite").path)
            let url = "https://example.com/conflict"
            try phone.save(SaveRequest(url: url, title: "First"))
            try PeerSync.run(local: phone, remote: laptop)
            #expect(try laptop.article(url).title == "First")

            _ = try phone.edit(url, [Fields.title: "From the phone"])
            _ = try laptop.edit(url, [Fields.title: "From the laptop"])
            let report = try PeerSync.run(local: phone, remote: laptop)
            #expect(report.conflicts == 1)
            #expect(report.summary.pushedChanges > 0 && report.summary.pulledChanges > 0)
            let conflicted = try phone.conflicted()
            #expect(conflicted.count == 1)
            let conflict = try #require(conflicted.first?.conflicts.first)
            #expect(conflict.field == Fields.title)
            #expect(Set(conflict.values.compactMap(\.stringValue)) == ["From the phone", "From the laptop"])

            let resolved = try phone.resolveConflict(url, field: Fields.title, text: "Agreed")
            #expect(resolved.title == "Agreed" && resolved.conflicts.isEmpty)
            try PeerSync.run(local: phone, remote: laptop)
            #expect(try laptop.article(url).title == "Agreed")
            #expect(try laptop.conflicted().isEmpty)
            #expect(try phone.articles() == laptop.articles())
        }
    }

    @Test func twoReplicasSyncThroughARealServer() async throws {
        try await withTemporaryFolder { folder in
            let database = folder.appending(path: "server.sqlite").path
            // The host's side: a user and its token, through the storage's public API.
            let token = Tokens.generate()
            let storage = try SQLiteServerStorage(path: database)
            _ = try await storage.addUser(name: "reader", tokenHash: Tokens.hash(token))
            await storage.close()

            let server = try RunningServer(executable: Self.serverExecutable, arguments: RunningServer.storageArguments(database))
            defer { server.stop() }
            let address = try ServerAddress(validating: server.url)
            let transport = HTTPSyncTransport(address: address, token: token)

            let phone = try ReplicaStore.open(path: folder.appending(path: "phone.sqlite").path)
            let laptop = try ReplicaStore.open(path: folder.appending(path: "laptop.sqlite").path)
            try phone.save(SaveRequest(url: "https://example.com/synced", title: "Synced", tags: ["server"]))
            let pushed = try await ServerSync().run(store: phone, transport: transport, partner: address.url)
            #expect(pushed.pushed > 0)
            let pulled = try await ServerSync().run(store: laptop, transport: transport, partner: address.url)
            #expect(pulled.pulled > 0)
            #expect(try laptop.articles().map(\.title) == ["Synced"])
            #expect(try laptop.syncState().pendingChanges == 0)
            let account = try #require(try laptop.account())
            #expect(account.user > 0)

            // The laptop keeps in sync while "the app runs": the push channel tells it of the phone's next sync.
            let push = PushChannelClient(server: address, token: token, replica: laptop.replicaID)
            let live = LiveSync(store: laptop, transport: transport, partner: address.url, channel: LiveSync.channel(push, store: laptop))
            let engine = Task { await live.run() }
            let idle = try await firstValue(within: 30) {
                for await state in live.states() where state == .idle { return true }
                return false
            }
            #expect(idle)
            try phone.save(SaveRequest(url: "https://example.com/live", title: "Live"))
            _ = try await ServerSync().run(store: phone, transport: transport, partner: address.url)
            let shown = try await firstValue(within: 30) {
                for try await articles in laptop.observeArticles(.all) where articles.contains(where: { $0.title == "Live" }) {
                    return articles.map(\.title)
                }
                return []
            }
            #expect(Set(shown) == ["Synced", "Live"])
            engine.cancel()
            await engine.value

            let refused = HTTPSyncTransport(address: address, token: "not-a-token")
            do throws(ServerSync.Failure) {
                _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: refused, partner: address.url)
                Issue.record("a wrong token is refused")
            } catch {
                guard case .transport(.rejected(status: 401, _, _), _) = error else { throw error }
            }
            await refused.shutdown()
            await transport.shutdown()
        }
    }

    @Test func importsAPocketExportAndExportsJSON() async throws {
        try await withTemporaryFolder { folder in
            let csv = folder.appending(path: "pocket.csv")
            try """
            title,url,time_added,tags,status
            First,https://example.com/one,1600322788,swift|reading,unread
            Second,https://example.com/two,1600400000,,archive

            """.write(to: csv, atomically: true, encoding: .utf8)
            let store = try ReplicaStore.inMemory()
            let report = try Importer.importFiles([csv.path], format: .pocket, into: store)
            #expect(report.created == 2 && report.skipped.isEmpty)
            let archived = try store.articles(.archived)
            #expect(archived.map(\.url) == ["https://example.com/two"])

            let json = try Exporter.export(store, format: .json)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let articles = try #require(object["articles"] as? [[String: Any]])
            #expect(Set(articles.compactMap { $0["url"] as? String }) == ["https://example.com/one", "https://example.com/two"])

            let again = try ReplicaStore.inMemory()
            let exported = folder.appending(path: "export.json")
            try json.write(to: exported, atomically: true, encoding: .utf8)
            try Importer.importFiles([exported.path], into: again)
            #expect(try again.articles().map(\.url).sorted() == ["https://example.com/one", "https://example.com/two"])
        }
    }

    @Test func extractsReadableText() {
        let document = ReadableText.extract("""
            <html lang="en"><head><title>Gardens in winter</title></head>
            <body><nav>Home · About</nav><article><h1>Gardens in winter</h1>
            <p>Cold months are when a garden shows its bones: the paths, the hedges, the old trees.</p>
            <p>Plan the spring now, while you can see everything the leaves will hide.</p></article></body></html>
            """)
        #expect(document.title == "Gardens in winter")
        #expect(document.body.contains("shows its bones"))
        #expect(!document.body.contains("About"))
        #expect(document.wordCount > 20)
        #expect(document.readingMinutes >= 1)
    }

    /// `readinglist-server` beside the test bundle's build products (`READINGLIST_SERVER_BIN` overrides).
    static var serverExecutable: String {
        if let path = ProcessInfo.processInfo.environment["READINGLIST_SERVER_BIN"] { return path }
        var root = URL(fileURLWithPath: #filePath)
        while root.pathComponents.count > 1 {
            root.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: root.appending(path: "Package.swift").path) { break }
        }
        for configuration in ["debug", "release"] {
            let path = root.appending(path: ".build/\(configuration)/readinglist-server").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return root.appending(path: ".build/debug/readinglist-server").path
    }
}
