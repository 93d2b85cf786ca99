import ArgumentParser
import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
import Synchronization

/// `readinglist sync`: with the server, or file to file with another replica (`--peer`).
package struct Sync: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Sync with the server, or with another replica file (--peer).",
        discussion: """
            With --server/--token (or $READINGLIST_SERVER/$READINGLIST_TOKEN), both are remembered in the \
            replica after the first successful use, so a bare `readinglist sync` works. A first sync with a \
            server gives up at once when the server cannot be reached, and leaves nothing behind.
            """)
    @OptionGroup package var database: DatabaseOption
    @Option(help: "Another replica database file (file-to-file sync, no server).") package var peer: String?
    @Option(help: "The sync server's URL, e.g. http://127.0.0.1:8080.") package var server: String?
    @Option(help: "The bearer token `readinglist-server user add` printed.") package var token: String?
    @Option(name: .customLong("page-size"), parsing: .unconditional, help: "Entries per atomically applied page.") package var pageSize = 1000
    @Option(parsing: .unconditional, help: "Attempts per round trip on network errors, with exponential backoff (default: 6; a first sync gives up at once while nothing answers).")
    var attempts: Int?
    @Flag(name: .customLong("no-snapshot"), help: "Into a new or empty replica, pull page by page instead of starting from the server's snapshot.")
    var noSnapshot = false
    @Flag(help: "Print what the sync did as a JSON object (pushed, pulled, conflicts...).") var json = false
    @Flag(help: "Keep syncing until interrupted: at start, after every local change, and whenever the server announces changes (one line per sync; --json: one object per sync).")
    var watch = false

    package init() {}

    /// Checks the flags together (a one-line error, not a usage message).
    package func check() throws {
        guard pageSize >= 1 else { throw CLIError(message: "--page-size must be at least 1, not \(pageSize)") }
        if let attempts, attempts < 1 { throw CLIError(message: "--attempts must be at least 1, not \(attempts)") }
        if peer != nil && (server != nil || token != nil) { throw CLIError(message: "use either --peer or --server, not both") }
        if let token, token.allSatisfy(\.isWhitespace) { throw CLIError(message: "--token is empty: give the token 'readinglist-server user add' printed") }
        if peer != nil && noSnapshot { throw CLIError(message: "--no-snapshot is for a sync with a server; a sync with --peer never uses a snapshot") }
    }

    /// The server's address, checked completely (scheme, host, port, no query), or one line saying what is wrong.
    package static func address(_ url: String) throws -> ServerAddress {
        do { return try ServerAddress(validating: url) } catch { throw CLIError(message: error.description) }
    }

    package func run() async throws {
        try check()
        if watch { return try await runWatch() }
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
        let remote: ReplicaStore
        do {
            remote = try ReplicaStore.open(path: peerPath, create: false)
        } catch {
            guard case .missingFile = error else { throw error }
            throw CLIError(message: "no replica database at '\(peerPath)' to sync with: --peer takes another replica's existing file")
        }
        defer { try? remote.close() }
        let report = try database.with(create: true) { local in
            try Self.syncPeers(local: local, remote: remote, localName: local.path, remoteName: peerPath, pageSize: pageSize)
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
    /// Syncs two replicas file to file (`sync --peer`), both ways; two files of one replica
    /// (a copied file) are refused with one line saying how to give the copy its own identity.
    package static func syncPeers(local: ReplicaStore, remote: ReplicaStore, localName: String?, remoteName: String, pageSize: Int = 1000) throws -> PeerSync.Report {
        do {
            return try PeerSync.run(local: local, remote: remote, localName: localName, remoteName: remoteName, pageSize: pageSize)
        } catch {
            // Two files, one replica id: one of them was copied from the other.
            guard case let .sync(.sameReplica(replica)) = error else { throw error }
            throw CLIError(message: "'\(remoteName)' is a copy of this replica's file (both are replica \(replica.short)), not another replica: nothing was synced. Give the copy its own identity first: readinglist --db COPY reset-identity (its list is kept and merges on the next sync)")
        }
    }

    /// The device and inode of the file at `path` (after symbolic links), nil when there is none.
    static func fileIdentity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}
