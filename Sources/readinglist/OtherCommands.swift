import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import Synchronization

struct HighlightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "highlight", abstract: "Add, list or delete highlights.",
        subcommands: [AddHighlight.self, ListHighlights.self, DeleteHighlight.self])

    struct AddHighlight: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Highlight a passage of an article.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "ID-OR-URL") var article: String
        @Option(help: "The quoted passage.") var quote: String
        @Option(help: "Where it starts, a fraction from 0 to 1.") var position: Double?
        @Option var note: String?
        @Option var color: String?

        func run() throws {
            let id = try database.with { try $0.addHighlight(article, quote: quote, position: position, note: note, color: color) }
            print(id)
        }
    }

    struct ListHighlights: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List an article's highlights.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "ID-OR-URL") var article: String
        @Flag var json = false

        func run() throws {
            let found = try database.with { try $0.article(article) }
            if json { printJSON(.array(found.highlights.map(\.jsonValue))); return }
            if found.highlights.isEmpty { print("(no highlights)") }
            for highlight in found.highlights {
                print("\(highlight.id)  \"\(highlight.quote)\"\(highlight.note.map { "  — \($0)" } ?? "")")
            }
        }
    }

    struct DeleteHighlight: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a highlight.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "HIGHLIGHT-ID") var highlight: String

        func run() throws {
            try database.with { try $0.deleteHighlight(highlight) }
            print("deleted highlight \(highlight)")
        }
    }
}

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List articles whose fields have concurrent, disagreeing values.")
    @OptionGroup var database: DatabaseOption
    @Flag var json = false

    func run() throws {
        let articles = try database.with { try $0.conflicted() }
        if json {
            printJSON(.array(articles.map { article in
                .object([
                    "id": .string(article.id.rawValue), "url": .string(article.url),
                    "title": article.title.map(JSONValue.string) ?? .null,
                    "conflicts": .array(article.conflicts.map { .object(["field": .string($0.field), "values": .array($0.values)]) }),
                ])
            }))
            return
        }
        if articles.isEmpty { print("no conflicts") }
        for article in articles {
            print("\(article.id.rawValue.prefix(8))  \(article.title ?? article.url)")
            for conflict in article.conflicts {
                print("  \(conflict.field):")
                for (index, value) in conflict.values.enumerated() {
                    print("    \(index + 1). \(Format.value(value))\(index == 0 ? "  (shown)" : "")")
                }
            }
        }
    }
}

struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resolve a conflict: write a value that replaces every sibling.")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "ID-OR-URL") var article: String
    @Argument(help: "FIELD (as `conflicts` names it)") var field: String
    @Option(help: "The value to keep (text; 'true'/'false' for flags).") var value: String?
    @Option(help: "Keep the N-th value `conflicts` lists (1 = the one shown).") var keep: Int?

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        if (value == nil) == (keep == nil) { throw CLIError(message: "give exactly one of --value and --keep") }
    }

    func run() throws {
        try check()
        let resolved = try database.with { store in
            if let keep { return try store.resolveConflict(article, field: field, keep: keep) }
            let text = value!
            let json: JSONValue = ["isArchived", "isFavorite", "isRead"].contains(field)
                ? (text == "true" ? .bool(true) : text == "false" ? .bool(false) : .string(text))
                : field == Fields.wordCount ? (Double(text).map(JSONValue.number) ?? .string(text)) : .string(text)
            return try store.resolveConflict(article, field: field, value: json)
        }
        print("resolved \(field): \(Format.line(resolved))")
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync with the server, or with another replica file (--peer).",
        discussion: """
            With --server/--token (or $READINGLIST_SERVER/$READINGLIST_TOKEN), both are remembered in the \
            replica after the first successful use, so a bare `readinglist sync` works.
            """)
    @OptionGroup var database: DatabaseOption
    @Option(help: "Another replica database file (file-to-file sync, no server).") var peer: String?
    @Option(help: "The sync server's URL, e.g. http://127.0.0.1:8080.") var server: String?
    @Option(help: "The bearer token `readinglist-server user add` printed.") var token: String?
    @Option(name: .customLong("page-size"), help: "Entries per atomically applied page.") var pageSize = 1000
    @Option(help: "Attempts per round trip on network errors, with exponential backoff.") var attempts = 6
    @Flag(name: .customLong("no-snapshot"), help: "Into a new or empty replica, pull page by page instead of starting from the server's snapshot.")
    var noSnapshot = false
    @Flag var json = false

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        guard pageSize > 0 else { throw CLIError(message: "--page-size must be positive") }
        guard attempts > 0 else { throw CLIError(message: "--attempts must be positive") }
        if peer != nil && (server != nil || token != nil) { throw CLIError(message: "use either --peer or --server, not both") }
    }

    func run() async throws {
        try check()
        if let peer { return try syncPeer(peer) }
        let environment = ProcessInfo.processInfo.environment
        let path = database.path
        let existed = FileManager.default.fileExists(atPath: path)
        var remembered: (url: String?, token: String?) = (nil, nil)
        if existed {
            let store = try database.open()
            defer { try? store.close() }
            remembered = (try store.setting("server.url"), try store.setting("server.token"))
        }
        guard let url = server ?? environment["READINGLIST_SERVER"].flatMap({ $0.isEmpty ? nil : $0 }) ?? remembered.url else {
            throw CLIError(message: "no server to sync with: give --server URL --token TOKEN (or --peer FILE) once; they are remembered")
        }
        guard let token = token ?? environment["READINGLIST_TOKEN"].flatMap({ $0.isEmpty ? nil : $0 }) ?? remembered.token else {
            throw CLIError(message: "no token for \(url): give --token TOKEN (from 'readinglist-server user add')")
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw CLIError(message: "invalid server URL '\(url)': it must start with http:// or https://") }
        let transport = HTTPSyncTransport(server: url, token: token)
        let interactive = isatty(STDERR_FILENO) != 0
        // A new or empty replica starts from the server's snapshot when it has one,
        // then syncs as usual; without one (or when it fails), page by page.
        var fromSnapshot = false
        var created: ReplicaStore?
        if !noSnapshot {
            // On a terminal, the download's size as it grows (a large list is hundreds of megabytes).
            let shown = Mutex(0)
            let progress: @Sendable (Int) -> Void = { bytes in
                guard interactive else { return }
                let megabytes = bytes >> 20
                guard shown.withLock({ last in defer { last = max(last, megabytes) }; return megabytes > last }) else { return }
                FileHandle.standardError.write(Data("\rdownloading the server's snapshot: \(megabytes) MB".utf8))
            }
            let told = Mutex(false)
            let waiting = InitialSnapshot.Waiting { _ in
                guard !told.withLock({ told in defer { told = true }; return told }) else { return }
                FileHandle.standardError.write(Data("the server is preparing its snapshot of the list; waiting (at most 5 minutes)\n".utf8))
            }
            do {
                if !existed {
                    let folder = (path as NSString).deletingLastPathComponent
                    if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                    created = try await InitialSnapshot.create(at: path, transport: transport, partner: url, waiting: waiting, progress: progress)
                    fromSnapshot = created != nil
                } else {
                    let store = try database.open()
                    defer { try? store.close() }
                    if try store.isEmpty() {
                        fromSnapshot = try await InitialSnapshot.adopt(into: store, transport: transport, partner: url, waiting: waiting, progress: progress)
                    }
                }
                if shown.withLock({ $0 }) > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
            } catch {
                if shown.withLock({ $0 }) > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
                // A refused token would be refused page by page too: say so once.
                if let refusal = error as? SyncTransportError, case let .rejected(_, code, message) = refusal, code == .unauthorized {
                    await transport.shutdown()
                    throw CLIError(message: "the server refused the token: \(message)")
                }
                FileHandle.standardError.write(Data("the server's snapshot could not be used (\(error)); pulling page by page\n".utf8))
            }
        }
        let store: ReplicaStore
        do { store = try created ?? database.open(create: true) } catch {
            await transport.shutdown()
            throw error
        }
        defer { try? store.close() }
        let report: ServerSync.Report
        do {
            report = try await ServerSync(pageSize: pageSize, retryPolicy: RetryPolicy(maxAttempts: attempts)).run(store: store, transport: transport, partner: url) { progress in
                guard progress.more || progress.roundTrips > 1 else { return }
                let line = "syncing: \(progress.roundTrips) round trips, pushed \(progress.pushed), pulled \(progress.pulled)"
                FileHandle.standardError.write(Data((interactive ? "\r" + line : line + "\n").utf8))
            }
        } catch {
            await transport.shutdown()
            if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
            throw CLIError(message: error.description)
        }
        await transport.shutdown()
        if interactive && report.roundTrips > 1 { FileHandle.standardError.write(Data("\n".utf8)) }
        try store.setSetting("server.url", url)
        try store.setSetting("server.token", token)
        if report.rejoined {
            var note = "this replica was away longer than the server keeps deleted articles; it rejoined as \(store.replicaID.short)"
            if !report.dropped.isEmpty {
                let articles = Set(report.dropped.compactMap { $0.entity.articleID?.rawValue.prefix(8) }).sorted().joined(separator: ", ")
                note += "; \(report.dropped.count) edit(s) to articles deleted meanwhile were not kept (\(articles))"
            }
            FileHandle.standardError.write(Data((note + "\n").utf8))
        }
        if json {
            printJSON(.object([
                "pushed": .number(Double(report.pushed)), "pulled": .number(Double(report.pulled)),
                "conflicts": .number(Double(report.conflicts)), "roundTrips": .number(Double(report.roundTrips)),
                "collected": .number(Double(report.collected)), "rejoined": .bool(report.rejoined),
                "dropped": .number(Double(report.dropped.count)), "snapshot": .bool(fromSnapshot),
            ]))
        } else {
            let start = fromSnapshot ? "started from the server's snapshot, " : ""
            print("synced with \(url): \(start)pushed \(report.pushed), pulled \(report.pulled), \(report.conflicts) article(s) with conflicts")
        }
    }

    private func syncPeer(_ peerPath: String) throws {
        // The peer must exist; this replica is created when it is new (a device joining).
        let remote = try ReplicaStore.open(path: peerPath, create: false)
        defer { try? remote.close() }
        let report = try database.with(create: true) { local in
            try PeerSync.run(local: local, remote: remote, localName: local.path, remoteName: peerPath, pageSize: pageSize)
        }
        let summary = report.summary
        if json {
            printJSON(.object([
                "pushed": .number(Double(summary.pushedChanges)), "pulled": .number(Double(summary.pulledChanges)),
                "conflicts": .number(Double(report.conflicts)),
            ]))
        } else {
            print("synced with \(peerPath): pushed \(summary.pushedChanges), pulled \(summary.pulledChanges), \(report.conflicts) article(s) with conflicts")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replica id, pending changes, last syncs.")
    @OptionGroup var database: DatabaseOption
    @Flag var json = false

    func run() throws {
        let status = try database.with { try $0.status() }
        let partners: [JSONValue] = status.partners.map { partner in
            .object([
                "name": .string(partner.name), "replica": partner.replica.map { .string($0.rawValue) } ?? .null,
                "lastSync": .string(Timestamp.iso8601(partner.lastSync)),
            ])
        }
        if json {
            printJSON(.object([
                "replicaID": .string(status.replicaID.rawValue), "path": status.path.map(JSONValue.string) ?? .null,
                "localChanges": .number(Double(status.localChanges)), "pendingChanges": .number(Double(status.pendingChanges)),
                "knownChanges": .number(Double(status.knowledge.total)), "liveWrites": .number(Double(status.liveWrites)),
                "replacedRanges": .number(Double(status.replacedRanges)), "articles": .number(Double(status.visibleArticles)),
                "articlesWithConflicts": .number(Double(status.articlesWithConflicts)), "syncPartners": .array(partners),
            ]))
            return
        }
        print("replica       \(status.replicaID.rawValue)")
        print("database      \(status.path ?? ":memory:")")
        print("articles      \(status.visibleArticles) (\(status.articlesWithConflicts) with conflicts)")
        print("changes       \(status.localChanges) made here, \(status.knowledge.total) known, \(status.pendingChanges) not yet synced")
        print("change log    \(status.liveWrites) live writes, \(status.replacedRanges) replaced ranges")
        if status.partners.isEmpty { print("last sync     never") }
        for partner in status.partners { print("last sync     \(Timestamp.iso8601(partner.lastSync))  \(partner.name)") }
    }
}

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The change log, newest first.")
    @OptionGroup var database: DatabaseOption
    @Option(help: "How many entries (changes and replaced ranges).") var limit = 50
    @Flag var json = false

    func run() throws {
        let (lines, me) = try database.with { store in (try store.log(limit: limit), store.replicaID) }
        if json {
            // A run (the changes of one save) is shown as its changes, newest first.
            printJSON(.array(lines.flatMap { line in line.entry.expanded.reversed().map { entry in (line, entry) } }.prefix(limit).map { line, entry in
                switch entry {
                case let .change(change):
                    .object([
                        "seq": .number(Double(line.seq)), "replica": .string(change.dot.replica.rawValue),
                        "counter": .number(Double(change.dot.counter)), "entityType": .string(change.entity.type),
                        "entityID": .string(change.entity.id), "field": .string(change.field), "value": change.value,
                        "time": .string(Timestamp.iso8601(change.hlc.millis)), "local": .bool(change.dot.replica == me),
                    ])
                case let .replaced(range):
                    .object([
                        "seq": .number(Double(line.seq)), "replica": .string(range.replica.rawValue),
                        "replaced": .array([.number(Double(range.from)), .number(Double(range.to))]),
                    ])
                case .run: preconditionFailure("runs are expanded")
                }
            }))
            return
        }
        for entry in lines.flatMap({ $0.entry.expanded.reversed() }).prefix(limit) {
            switch entry {
            case let .change(change):
                let origin = change.dot.replica == me ? "here" : change.dot.replica.short
                print("\(Timestamp.iso8601(change.hlc.millis))  \(change.dot)  \(origin)  \(change.entity.type) \(change.entity.id.prefix(8))  \(change.field) = \(Format.value(change.value, field: change.field))")
            case let .replaced(range):
                print("                          \(range)  replaced by later writes")
            case .run: preconditionFailure("runs are expanded")
            }
        }
    }
}

struct ResetIdentity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-identity",
        abstract: "Give a copied replica file its own identity (its list is kept and merges on the next sync).")
    @OptionGroup var database: DatabaseOption

    func run() throws {
        let id = try ReplicaStore.resetIdentity(path: database.path)
        print("new replica id \(id.rawValue); the list was kept and will merge with the other replicas on the next sync")
    }
}

enum Format {
    static func line(_ article: Article) -> String {
        var flags = ""
        flags += article.isRead ? "r" : "-"
        flags += article.isArchived ? "a" : "-"
        flags += article.isFavorite ? "*" : "-"
        flags += article.conflicts.isEmpty ? "-" : "!"
        let progress = article.progress.position > 0 ? String(format: " %3d%%", Int((article.progress.position * 100).rounded())) : ""
        let tags = article.tags.isEmpty ? "" : "  #" + article.tags.joined(separator: " #")
        return "\(article.id.rawValue.prefix(8))  \(flags)\(progress)  \(article.title ?? article.url)\(tags)"
    }

    static func details(_ article: Article) -> String {
        var lines = [
            "id          \(article.id.rawValue)",
            "url         \(article.url)",
            "title       \(article.title ?? "-")",
        ]
        let optional: [(String, String?)] = [
            ("excerpt", article.excerpt), ("author", article.author), ("site", article.siteName),
            ("image", article.imageURL), ("language", article.language), ("note", article.note),
            ("words", article.wordCount.map(String.init)),
        ]
        for (label, value) in optional { if let value { lines.append(label.padding(toLength: 12, withPad: " ", startingAt: 0) + value) } }
        lines.append("tags        \(article.tags.isEmpty ? "-" : article.tags.joined(separator: ", "))")
        lines.append("state       \(article.isRead ? "read" : "unread")\(article.isArchived ? ", archived" : "")\(article.isFavorite ? ", favourite" : "")")
        lines.append("progress    \(Int((article.progress.position * 100).rounded()))% (read-through \(article.progress.epoch + 1))")
        lines.append("added       \(Timestamp.iso8601(article.addedAt))")
        lines.append("updated     \(Timestamp.iso8601(article.updatedAt))")
        if let content = article.content { lines.append("content     \(content.count) characters") }
        for highlight in article.highlights { lines.append("highlight   \(highlight.id)  \"\(highlight.quote)\"") }
        for conflict in article.conflicts {
            lines.append("CONFLICT    \(conflict.field): " + conflict.values.map(value).joined(separator: " | "))
        }
        return lines.joined(separator: "\n")
    }

    /// A logged value; the time fields (milliseconds since 1970) also as a date.
    static func value(_ value: JSONValue, field: String) -> String {
        guard field == Fields.addedAt || field == Fields.createdAt, let millis = value.numberValue,
              millis >= 0, millis < 1e15, millis == millis.rounded() else { return self.value(value) }
        return "\(value.canonicalText) (\(Timestamp.iso8601(Int64(millis))))"
    }

    static func value(_ value: JSONValue) -> String {
        switch value {
        case let .string(text): "\"\(text.count > 60 ? text.prefix(57) + "..." : text)\""
        case .null: "(none)"
        default: value.canonicalText
        }
    }
}
