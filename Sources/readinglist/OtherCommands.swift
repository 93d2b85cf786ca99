import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
import Synchronization

struct HighlightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "highlight", abstract: "Add, list or delete highlights.",
        subcommands: [AddHighlight.self, ListHighlights.self, DeleteHighlight.self])

    struct AddHighlight: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Highlight a passage of an article.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: ArticleRef.help) var article: String
        @Option(help: "The quoted passage.") var quote: String
        @Option(parsing: .unconditional, help: "Where it starts, a fraction from 0 to 1.") var position: Double?
        @Option(help: "A note about the passage.") var note: String?
        @Option(help: "A colour name for the highlight (free text, e.g. yellow).") var color: String?

        func run() throws {
            let id = try database.with { try $0.addHighlight(article, quote: quote, position: position, note: note, color: color) }
            print(id)
        }
    }

    struct ListHighlights: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List an article's highlights.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: ArticleRef.help) var article: String
        @Flag(help: "Print a JSON array of the highlights.") var json = false

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
        @Argument(help: "The highlight's id, as `highlight add` printed it and `highlight list` shows it (ARTICLEID/HEX).") var highlight: String

        func run() throws {
            try database.with { try $0.deleteHighlight(highlight) }
            print("deleted highlight \(highlight)")
        }
    }
}

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List articles whose fields have concurrent, disagreeing values.")
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print a JSON array: id, url, title and conflicts (field, values) of each article.") var json = false

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
    @Argument(help: ArticleRef.help) var article: String
    @Argument(help: "The field in conflict, as `conflicts` names it (title, note, isArchived, highlight:ID.note...).") var field: String
    @Option(help: "The value to keep (text; 'true'/'false' for flags).") var value: String?
    @Option(parsing: .unconditional, help: "Keep the N-th value `conflicts` lists (1 = the one shown).") var keep: Int?

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        if (value == nil) == (keep == nil) { throw CLIError(message: "give exactly one of --value and --keep") }
        if let keep, keep < 1 { throw CLIError(message: "--keep must be at least 1 (the value `conflicts` shows first), not \(keep)") }
    }

    func run() throws {
        try check()
        let resolved = try database.with { store in
            if let keep { return try store.resolveConflict(article, field: field, keep: keep) }
            var text = value!
            // (As `edit --image-url` checks and stores it: an http(s) URL, trimmed, without user:password@.)
            if field == Fields.imageURL { text = try ReplicaStore.checkedImageURL(text) }
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
            replica after the first successful use, so a bare `readinglist sync` works. A first sync with a \
            server gives up at once when the server cannot be reached, and leaves nothing behind.
            """)
    @OptionGroup var database: DatabaseOption
    @Option(help: "Another replica database file (file-to-file sync, no server).") var peer: String?
    @Option(help: "The sync server's URL, e.g. http://127.0.0.1:8080.") var server: String?
    @Option(help: "The bearer token `readinglist-server user add` printed.") var token: String?
    @Option(name: .customLong("page-size"), parsing: .unconditional, help: "Entries per atomically applied page.") var pageSize = 1000
    @Option(parsing: .unconditional, help: "Attempts per round trip on network errors, with exponential backoff (default: 6; a first sync gives up at once while nothing answers).")
    var attempts: Int?
    @Flag(name: .customLong("no-snapshot"), help: "Into a new or empty replica, pull page by page instead of starting from the server's snapshot.")
    var noSnapshot = false
    @Flag(help: "Print what the sync did as a JSON object (pushed, pulled, conflicts...).") var json = false

    /// Checks the flags together (a one-line error, not a usage message).
    func check() throws {
        guard pageSize >= 1 else { throw CLIError(message: "--page-size must be at least 1, not \(pageSize)") }
        if let attempts, attempts < 1 { throw CLIError(message: "--attempts must be at least 1, not \(attempts)") }
        if peer != nil && (server != nil || token != nil) { throw CLIError(message: "use either --peer or --server, not both") }
    }

    /// The server's address, checked completely (scheme, host, port, no query), or one line saying what is wrong.
    static func address(_ url: String) throws -> ServerAddress {
        do { return try ServerAddress(validating: url) } catch { throw CLIError(message: error.description) }
    }

    func run() async throws {
        try check()
        if let peer { return try syncPeer(peer) }
        let environment = ProcessInfo.processInfo.environment
        // An address given now is checked before anything else is looked at or written.
        let given = server ?? environment["READINGLIST_SERVER"].flatMap({ $0.isEmpty ? nil : $0 })
        if let given { _ = try Self.address(given) }
        let path = database.path
        try DatabaseOption.refuseEmptyFile(path)
        let existed = FileManager.default.fileExists(atPath: path)
        var remembered: (url: String?, token: String?) = (nil, nil)
        var account: SyncAccount?
        if existed {
            let store = try database.open()
            defer { try? store.close() }
            remembered = (try store.setting("server.url"), try store.setting("server.token"))
            account = try store.account()
        }
        guard let url = given ?? remembered.url else {
            throw CLIError(message: "no server to sync with: give --server URL --token TOKEN (or --peer FILE) once; they are remembered")
        }
        let address = try Self.address(url)
        let rememberedAddress = remembered.url.flatMap { try? ServerAddress(validating: $0) }
        let givenToken = token ?? environment["READINGLIST_TOKEN"].flatMap({ $0.isEmpty ? nil : $0 })
        // The remembered token is for the remembered server: never sent anywhere else.
        if givenToken == nil, remembered.token != nil, let rememberedAddress, rememberedAddress != address {
            throw CLIError(message: "the token this replica remembers is for \(rememberedAddress.url); give --token TOKEN for \(address.url)")
        }
        guard let token = givenToken ?? remembered.token else {
            throw CLIError(message: "no token for \(address.url): give --token TOKEN (from 'readinglist-server user add')")
        }
        // A replica that synced before replicas recorded their account cannot tell
        // whether another token is another user's: moving its list is deliberate.
        if account == nil, let before = remembered.token, before != token, let where_ = remembered.url {
            throw CLIError(message: "this replica synced with \(where_) under another token, before replicas recorded which account they belong to; nothing was sent. To put its list into this token's account (or if the token is a new one of the same account): readinglist move --server \(address.url) --token TOKEN; for another account's list, use another --db")
        }
        // The replica's records name the server by its canonical URL (the one remembered before, when it is the same address).
        let partner = remembered.url.flatMap { try? ServerAddress(validating: $0) } == address ? remembered.url ?? address.url : address.url
        // A first sync with a server (a new replica, or one that never synced with
        // one) gives up at once when nothing answers: most likely the URL is wrong,
        // and a replica that never synced has nothing to wait for. Later syncs retry.
        let first = remembered.url == nil
        let made = existed ? [] : try database.makeFolder()
        let transport = HTTPSyncTransport(address: address, token: token, retriesConnections: !first)
        do {
            // A server address or token this replica has not synced with: nothing is pushed before the server answers for its account.
            let unconfirmed = rememberedAddress != address || remembered.token != token
            try await sync(path: path, existed: existed, first: first, partner: partner, token: token, transport: transport, account: account, unconfirmed: unconfirmed)
        } catch {
            await transport.shutdown()
            // A replica this command created, with its folders, goes again: a failed command leaves nothing behind.
            if !existed {
                ReplicaStore.removeFiles(at: path)
                DatabaseOption.removeFolders(made)
            }
            throw error
        }
        await transport.shutdown()
    }

    private func sync(path: String, existed: Bool, first: Bool, partner: String, token: String, transport: HTTPSyncTransport, account: SyncAccount?, unconfirmed: Bool) async throws {
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
                    created = try await InitialSnapshot.create(at: path, transport: transport, partner: partner, waiting: waiting, progress: progress)
                    fromSnapshot = created != nil
                } else {
                    let store = try database.open()
                    defer { try? store.close() }
                    // (A replica that belongs to an account pulls page by page: the sync checks whose list it is first.)
                    if account == nil, try store.isEmpty() {
                        fromSnapshot = try await InitialSnapshot.adopt(into: store, transport: transport, partner: partner, waiting: waiting, progress: progress)
                    }
                }
                if shown.withLock({ $0 }) > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
            } catch {
                if shown.withLock({ $0 }) > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
                switch error as? SyncTransportError {
                case let .some(.rejected(_, code, message)) where code == .unauthorized:
                    // A refused token would be refused page by page too: say so once.
                    throw CLIError(message: "the server refused the token: \(message)")
                case let .some(failure) where !failure.isRetryable:
                    // A URL that does not lead to a readinglist server: page by page would only say it again.
                    if case .wrongAddress = failure { throw CLIError(message: failure.description) }
                    FileHandle.standardError.write(Data("the server's snapshot could not be used (\(error)); pulling page by page\n".utf8))
                case let .some(failure) where first:
                    // Nothing answers a replica that never synced: give up now, in one line.
                    throw CLIError(message: failure.description)
                case .some:
                    // Page by page retries with backoff, and says why if it still fails.
                    break
                case nil:
                    FileHandle.standardError.write(Data("the server's snapshot could not be used (\(error)); pulling page by page\n".utf8))
                }
            }
        }
        let store = try created ?? database.open(create: true)
        defer { try? store.close() }
        let report: ServerSync.Report
        do {
            // A first sync (without --attempts) gives up at once while the server has never answered; once it has, the usual retries.
            let firstContact = FirstContact(transport, final: first && attempts == nil && !fromSnapshot)
            var serverSync = ServerSync(pageSize: pageSize, retryPolicy: RetryPolicy(maxAttempts: attempts ?? 6))
            serverSync.confirmsAccountFirst = unconfirmed
            serverSync.retrying = { attempt, most, error in
                FileHandle.standardError.write(Data("\(error.description); retrying (attempt \(attempt) of \(most))\n".utf8))
            }
            report = try await serverSync.run(store: store, transport: firstContact, partner: partner) { progress in
                guard progress.more || progress.roundTrips > 1 else { return }
                let line = "syncing: \(progress.roundTrips) round trips, pushed \(progress.pushed), pulled \(progress.pulled)"
                FileHandle.standardError.write(Data((interactive ? "\r" + line : line + "\n").utf8))
            }
        } catch {
            if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
            switch error {
            case let .wrongAccount(belongsTo, server, reason):
                let opened = server.map { "this token opens \($0) there" } ?? "the server refused it: \(reason ?? "another account's list")"
                let sent = unconfirmed ? "nothing was sent" : "nothing was applied"
                throw CLIError(message: "this replica belongs to \(belongsTo), but at \(partner) \(opened); \(sent). For that account's list use another --db; to move this replica's list into it: readinglist move --server \(partner) --token TOKEN")
            case let .entryTooLarge(entry):
                // The server was reached and everything pulled: remember it, so that a plain `sync` works after the fix.
                try store.setSetting("server.url", partner)
                try store.setSetting("server.token", token)
                let ref = entry.entity.articleID.map { String($0.rawValue.prefix(8)) } ?? entry.entity.id
                let fix = entry.fields.first == Fields.content ? "readinglist edit \(ref) --content-file SMALLER (or --clear content)" : "readinglist edit \(ref) with a shorter value"
                throw CLIError(message: "\(entry.description). What was made here before it was pushed and everything was pulled; what was made here after it waits for it. Fix it with: \(fix), then sync")
            default:
                throw CLIError(message: error.description)
            }
        }
        if interactive && report.roundTrips > 1 { FileHandle.standardError.write(Data("\n".utf8)) }
        try store.setSetting("server.url", partner)
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
            print("synced with \(partner): \(start)pushed \(report.pushed), pulled \(report.pulled), \(report.conflicts) article(s) with conflicts")
        }
    }

    private func syncPeer(_ peerPath: String) throws {
        // The peer must exist (and be a replica, not an empty file); this replica is created when it is new (a device joining).
        try DatabaseOption.refuseEmptyFile(peerPath)
        // This replica's own file under another name (./x, a symbolic or a hard link) is
        // not a copy: nothing to reset, the command names the same file twice.
        if let here = Self.fileIdentity(database.path), here == Self.fileIdentity(peerPath) {
            throw CLIError(message: "'\(peerPath)' is this replica's own file (--db \(database.path)): a replica cannot sync with itself; give --peer another replica's file")
        }
        let remote = try ReplicaStore.open(path: peerPath, create: false)
        defer { try? remote.close() }
        let report: PeerSync.Report
        do {
            report = try database.with(create: true) { local in
                try PeerSync.run(local: local, remote: remote, localName: local.path, remoteName: peerPath, pageSize: pageSize)
            }
        } catch let StoreError.sync(.sameReplica(replica)) {
            // Two files, one replica id: one of them was copied from the other.
            throw CLIError(message: "'\(peerPath)' is a copy of this replica's file (both are replica \(replica.short)), not another replica: nothing was synced. Give the copy its own identity first: readinglist --db COPY reset-identity (its list is kept and merges on the next sync)")
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

extension Sync {
    /// The device and inode of the file at `path` (after symbolic links), nil when there is none.
    static func fileIdentity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}

/// The transport of a first sync: until the server has answered once, a round
/// trip that cannot reach it is final (a replica that never synced has nothing
/// to wait for, and the URL is most likely wrong), so `ServerSync` stops at
/// once with its one line; after the first answer, failures are retried as usual.
final class FirstContact: SyncTransport {
    let transport: HTTPSyncTransport
    private let answered: Mutex<Bool>

    init(_ transport: HTTPSyncTransport, final: Bool) {
        self.transport = transport
        answered = Mutex(!final)
    }

    func send(_ request: SyncRequest) async throws(SyncTransportError) -> SyncResponse {
        do {
            let response = try await transport.send(request)
            answered.withLock { $0 = true }
            return response
        } catch {
            // (A server that answered with an error was reached: only a connection failure is made final.)
            if case .unreachable = error, !answered.withLock({ $0 }) { throw .wrongAddress(error.description) }
            if case .rejected = error { answered.withLock { $0 = true } }
            throw error
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replica id, pending changes, last syncs.")
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print a JSON object (replicaID, pendingChanges, syncPartners...).") var json = false

    func run() throws {
        let (status, account, serverURL) = try database.with { store in (try store.status(), try store.account(), try store.setting("server.url")) }
        /// A server partner is recorded under its account ("account:SERVER:USER"): show whose list, and where.
        func label(_ name: String) -> String {
            guard name.hasPrefix("account:") else { return name }
            if let account, name == ServerSync.recordName(account) { return "\(account)\(serverURL.map { " at \($0)" } ?? "")" }
            let parts = name.split(separator: ":")
            return parts.count == 3 ? "user \(parts[2]) on server \(parts[1].prefix(8))" : name
        }
        let partners: [JSONValue] = status.partners.map { partner in
            .object([
                "name": .string(label(partner.name)), "replica": partner.replica.map { .string($0.rawValue) } ?? .null,
                "lastSync": .string(Timestamp.iso8601(partner.lastSync)),
            ])
        }
        let accountJSON: JSONValue = account.map { account in
            .object(["server": .string(account.server), "user": .number(Double(account.user)), "name": account.name.map(JSONValue.string) ?? .null])
        } ?? .null
        if json {
            printJSON(.object([
                "replicaID": .string(status.replicaID.rawValue), "path": status.path.map(JSONValue.string) ?? .null,
                "localChanges": .number(Double(status.localChanges)), "pendingChanges": .number(Double(status.pendingChanges)),
                "knownChanges": .number(Double(status.knowledge.total)), "liveWrites": .number(Double(status.liveWrites)),
                "replacedRanges": .number(Double(status.replacedRanges)), "articles": .number(Double(status.visibleArticles)),
                "articlesWithConflicts": .number(Double(status.articlesWithConflicts)), "syncPartners": .array(partners),
                "account": accountJSON,
            ]))
            return
        }
        print("replica       \(status.replicaID.rawValue)")
        print("database      \(status.path ?? ":memory:")")
        print("articles      \(status.visibleArticles) (\(status.articlesWithConflicts) with conflicts)")
        print("changes       \(status.localChanges) made here, \(status.knowledge.total) known, \(status.pendingChanges) not yet synced")
        print("change log    \(status.liveWrites) live writes, \(status.replacedRanges) replaced ranges")
        print("account       \(account.map(\.description) ?? "none yet (the first server sync sets it)")")
        if status.partners.isEmpty { print("last sync     never") }
        for partner in status.partners { print("last sync     \(Timestamp.iso8601(partner.lastSync))  \(label(partner.name))") }
    }
}

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The change log, newest first.")
    @OptionGroup var database: DatabaseOption
    @Option(parsing: .unconditional, help: "How many entries (changes and replaced ranges).") var limit = 50
    @Flag(help: "Print a JSON array, one object per change or replaced range.") var json = false

    func run() throws {
        guard limit >= 1 else { throw CLIError(message: "--limit must be at least 1, not \(limit)") }
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
        let tags = article.tags.isEmpty ? "" : "  " + article.tags.map(Tag.displayed).joined(separator: " ")
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
        lines.append("tags        \(article.tags.isEmpty ? "-" : article.tags.map(Tag.displayed).joined(separator: " "))")
        lines.append("state       \(article.isRead ? "read" : "unread")\(article.isArchived ? ", archived" : "")\(article.isFavorite ? ", favourite" : "")")
        // (Read-throughs are numbered from 0, as `readEpoch` in `show --json` and `epoch` in the log.)
        lines.append("progress    \(Int((article.progress.position * 100).rounded()))% (readEpoch \(article.progress.epoch))")
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

    /// Text from the user or another device, with control and invisible characters as `\u{..}`, for a message.
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            let category = scalar.properties.generalCategory
            if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func value(_ value: JSONValue) -> String {
        switch value {
        case let .string(text): "\"\(text.count > 60 ? text.prefix(57) + "..." : text)\""
        case .null: "(none)"
        default: value.canonicalText
        }
    }
}
