import Foundation
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import Synchronization
import Testing

/// A replica belongs to one user of one server from its first sync: another
/// user's token, or another server, is refused before anything is sent or
/// applied; moving a list is deliberate.
@Suite("Accounts: one replica, one list")
struct AccountTests {
    func sync(_ replica: ReplicaStore, _ fixture: ServerFixture, token: String, moving: Bool = false) async throws(ServerSync.Failure) -> ServerSync.Report {
        var sync = ServerSync(retryPolicy: .none)
        sync.moving = moving
        return try await sync.run(store: replica, transport: fixture.transport(token: token), partner: "server")
    }

    func urls(_ replica: ReplicaStore) throws -> Set<String> { Set(try replica.articles().map(\.url)) }

    /// How a sync failed, or nil when it did not.
    func failure(_ replica: ReplicaStore, _ fixture: ServerFixture, token: String) async -> ServerSync.Failure? {
        do {
            _ = try await sync(replica, fixture, token: token)
            return nil
        } catch {
            return error
        }
    }

    @Test func theFirstSyncBindsTheReplicaToTheTokensList() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        #expect(try phone.account() == nil)
        try phone.save(SaveRequest(url: "https://example.com/a"))
        _ = try await sync(phone, fixture, token: fixture.alice)
        let account = try #require(try phone.account())
        #expect(account.server == fixture.storage.serverID)
        #expect(account.name == "alice")
        // The server still names the same list on the next sync; nothing changes.
        _ = try await sync(phone, fixture, token: fixture.alice)
        #expect(try phone.account() == account)
    }

    @Test func anotherUsersTokenIsRefusedAndNothingCrossesEitherWay() async throws {
        let fixture = try await ServerFixture()
        let carol = try makeReplica(), bobsPhone = try makeReplica()
        try carol.save(SaveRequest(url: "https://example.com/carols", note: "private"))
        _ = try await sync(carol, fixture, token: fixture.alice)
        try bobsPhone.save(SaveRequest(url: "https://example.com/bobs"))
        _ = try await sync(bobsPhone, fixture, token: fixture.bob)
        try carol.save(SaveRequest(url: "https://example.com/carols-later", note: "also private"))

        // Twice: the second sync must not push what the first would have.
        for _ in 0..<2 {
            guard case let .wrongAccount(belongsTo, _, _)? = await failure(carol, fixture, token: fixture.bob) else {
                Issue.record("another user's token must be refused")
                return
            }
            #expect(belongsTo.name == "alice")
        }
        _ = try await sync(bobsPhone, fixture, token: fixture.bob)
        #expect(try urls(bobsPhone) == ["https://example.com/bobs"])
        #expect(try urls(carol) == ["https://example.com/carols", "https://example.com/carols-later"])
    }

    @Test func withAnUnconfirmedTokenNothingOfTheListIsSentBeforeTheServerAnswers() async throws {
        let fixture = try await ServerFixture()
        let carol = try makeReplica()
        try carol.save(SaveRequest(url: "https://example.com/a"))
        _ = try await sync(carol, fixture, token: fixture.alice)
        try carol.save(SaveRequest(url: "https://example.com/private", note: "private"))
        let pushed = Mutex(0)
        let real = fixture.transport(token: fixture.bob)
        let recording = ClosureTransport { request throws(SyncTransportError) in
            pushed.withLock { $0 += request.push.count }
            return try await real.send(request)
        }
        var sync = ServerSync(retryPolicy: .none)
        sync.confirmsAccountFirst = true
        do {
            _ = try await sync.run(store: carol, transport: recording, partner: "server")
            Issue.record("another user's token must be refused")
        } catch {
            guard case let .wrongAccount(_, _, reason) = error else { Issue.record("\(error)"); return }
            #expect(reason?.contains("the token is bob's") == true)
        }
        #expect(pushed.withLock { $0 } == 0)
    }

    @Test func theServerRefusesARequestNamingAnotherListBeforeApplyingIt() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a"))
        let alice = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice)))
        let bob = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.bob)))
        var request = SyncRequest(
            replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(),
            push: try phone.outgoing(for: VersionVector(), limit: 100))
        for (claimed, code) in [
            (SyncAccount(server: fixture.storage.serverID, user: alice.id), SyncErrorCode.wrongAccount),
            (SyncAccount(server: String(repeating: "0", count: 32), user: bob.id), .wrongServer),
        ] {
            request.account = claimed
            let outcome: Result<SyncResponse, ServerError> = await { () async -> Result<SyncResponse, ServerError> in
                do { return .success(try await fixture.service.handle(request, for: bob)) } catch { return .failure((error as? ServerError) ?? .storage("\(error)")) }
            }()
            guard case let .failure(.refused(thrown, message)) = outcome else {
                Issue.record("a request naming another list must be refused, not \(outcome)")
                continue
            }
            #expect(thrown == code)
            #expect(message.contains("nothing was applied"))
        }
        #expect(try await fixture.storage.space(for: bob).knowledge() == VersionVector())
        request.account = SyncAccount(server: fixture.storage.serverID, user: bob.id)
        let response = try await fixture.service.handle(request, for: bob)
        #expect(response.stored > 0)
        #expect(response.account == SyncAccount(server: fixture.storage.serverID, user: bob.id, name: "bob"))
        #expect(response.limits == fixture.service.limits)
    }

    @Test func aReplicaSyncedBeforeAccountsExistedPushesNothingUntilTheServerSaysWhoseListItIs() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a"))
        _ = try await sync(phone, fixture, token: fixture.alice)
        try phone.setSetting("account", nil)  // as an older version left it
        try phone.save(SaveRequest(url: "https://example.com/b"))
        let pushes = Mutex<[Int]>([])
        let real = fixture.transport(token: fixture.alice)
        let recording = ClosureTransport { request throws(SyncTransportError) in
            pushes.withLock { $0.append(request.push.count) }
            return try await real.send(request)
        }
        let report = try await ServerSync(retryPolicy: .none).run(store: phone, transport: recording, partner: "server")
        #expect(pushes.withLock { $0 }.first == 0)
        #expect(report.pushed == 3)  // the save of b: deleted, url, addedAt
        #expect(try phone.account()?.name == "alice")
    }

    @Test func anotherServerIsRefusedUntilTheListIsMovedThereDeliberately() async throws {
        let old = try await ServerFixture(), new = try await ServerFixture()
        #expect(old.storage.serverID != new.storage.serverID)
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a", tags: ["kept"]))
        _ = try await sync(phone, old, token: old.alice)
        await #expect(throws: ServerSync.Failure.self) { _ = try await sync(phone, new, token: new.alice) }
        #expect(try await new.storage.space(for: #require(try await new.storage.user(tokenHash: Tokens.hash(new.alice)))).knowledge() == VersionVector())

        let report = try await sync(phone, new, token: new.alice, moving: true)
        #expect(report.pushed > 0)
        #expect(try phone.account()?.server == new.storage.serverID)
        let laptop = try makeReplica()
        _ = try await sync(laptop, new, token: new.alice)
        #expect(try laptop.articles().map(\.tags) == [["kept"]])
        // And now the old server is the other one.
        await #expect(throws: ServerSync.Failure.self) { _ = try await sync(phone, old, token: old.alice) }
    }

    @Test func replicasOfTwoListsDoNotMergeFileToFileAndAnUnboundOneJoins() async throws {
        let fixture = try await ServerFixture()
        let alices = try makeReplica(), bobs = try makeReplica(), fresh = try makeReplica()
        try alices.save(SaveRequest(url: "https://example.com/a"))
        try bobs.save(SaveRequest(url: "https://example.com/b"))
        _ = try await sync(alices, fixture, token: fixture.alice)
        _ = try await sync(bobs, fixture, token: fixture.bob)
        #expect(throws: StoreError.self) { try PeerSync.run(local: alices, remote: bobs) }
        #expect(try urls(alices) == ["https://example.com/a"])
        #expect(try urls(bobs) == ["https://example.com/b"])
        try fresh.save(SaveRequest(url: "https://example.com/c"))
        try PeerSync.run(local: fresh, remote: alices)
        #expect(try fresh.account() == alices.account())
        await #expect(throws: ServerSync.Failure.self) { _ = try await sync(fresh, fixture, token: fixture.bob) }
    }
}

/// No single change can stop a replica from syncing: sizes are bounded where
/// data enters, and pages are cut by bytes to what the server takes.
@Suite("Limits: sizes and pages by bytes")
struct LimitTests {
    @Test func aSaveOrEditBeyondAFieldsLimitIsRefusedAndChangesNothing() throws {
        let phone = try makeReplica()
        let huge = String(repeating: "x", count: FieldLimits.content + 1)
        #expect(throws: StoreError.self) { try phone.save(SaveRequest(url: "https://example.com/a", content: huge)) }
        #expect(try phone.articles().isEmpty)
        try phone.save(SaveRequest(url: "https://example.com/a", content: String(repeating: "x", count: FieldLimits.content)))
        let before = try phone.status().localChanges
        #expect(throws: StoreError.self) { try phone.edit("https://example.com/a", [Fields.title: .string(String(repeating: "t", count: FieldLimits.title + 1))]) }
        #expect(throws: StoreError.self) { try phone.edit("https://example.com/a", [Fields.note: .string(String(repeating: "n", count: FieldLimits.note + 1))]) }
        #expect(throws: StoreError.self) { try phone.addHighlight("https://example.com/a", quote: String(repeating: "q", count: FieldLimits.note + 1)) }
        #expect(try phone.status().localChanges == before)
        do {
            try phone.edit("https://example.com/a", [Fields.title: .string(String(repeating: "t", count: FieldLimits.title + 1))])
        } catch {
            #expect(error.description.contains("article \(try phone.articles()[0].id.rawValue.prefix(8))"))
            #expect(error.description.contains("title"))
        }
    }

    @Test func blankTextIsRefusedEverywhereAndNullClears() throws {
        let phone = try makeReplica()
        for blank in ["", "   ", "\n\t"] {
            #expect(throws: StoreError.self) { try phone.save(SaveRequest(url: "https://example.com/a", title: blank)) }
            #expect(throws: StoreError.self) { try phone.save(SaveRequest(url: "https://example.com/a", content: blank)) }
        }
        #expect(try phone.articles().isEmpty)
        try phone.save(SaveRequest(url: "https://example.com/a", title: "T"))
        #expect(throws: StoreError.self) { try phone.edit("https://example.com/a", [Fields.title: ""]) }
        #expect(try phone.article("https://example.com/a").title == "T")
        try phone.edit("https://example.com/a", [Fields.title: .null])
        #expect(try phone.article("https://example.com/a").title == nil)
    }

    @Test func pagesAreCutByBytesToTheServersLimit() async throws {
        let fixture = try await ServerFixture(limits: SyncLimits(maxBodyBytes: 64 << 10))
        let phone = try makeReplica()
        try phone.save((0..<40).map { SaveRequest(url: "https://example.com/\($0)", content: String(repeating: "w", count: 10_000)) })
        let report = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
        #expect(report.roundTrips > 6)
        let laptop = try makeReplica()
        _ = try await ServerSync(pageSize: 5, retryPolicy: .none).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
        #expect(try laptop.articles().count == 40)
    }

    @Test func anEntryTooLargeForTheServerIsNamedAndNothingBehindItIsLost() async throws {
        let fixture = try await ServerFixture(limits: SyncLimits(maxBodyBytes: 64 << 10))
        let phone = try makeReplica(), laptop = try makeReplica()
        try laptop.save(SaveRequest(url: "https://example.com/from-laptop"))
        _ = try await ServerSync(retryPolicy: .none).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
        // Learn the server's limits first (a replica that has never synced would find them out by a 413).
        _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
        try phone.save(SaveRequest(url: "https://example.com/before", title: "before"))
        let big = try phone.save(SaveRequest(url: "https://example.com/big", content: String(repeating: "b", count: 100_000))).article
        try phone.save(SaveRequest(url: "https://example.com/after", title: "after"))
        let outcome: ServerSync.Failure?
        do {
            _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
            outcome = nil
        } catch {
            outcome = error
        }
        guard case let .entryTooLarge(entry)? = outcome else {
            Issue.record("the sync should report the entry too large, not \(String(describing: outcome))")
            return
        }
        #expect(entry.entity == .article(big.id))
        #expect(entry.fields.first == Fields.content)
        #expect(entry.bytes > 100_000 && entry.limit < 64 << 10)
        #expect(entry.description.contains("article \(big.id.rawValue.prefix(8))"))
        _ = try await ServerSync(retryPolicy: .none).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
        #expect(try Set(laptop.articles().map(\.url)) == ["https://example.com/from-laptop", "https://example.com/before"])
        // Replacing the content lets everything through.
        try phone.edit(big.id.rawValue, [Fields.content: "a shorter text"])
        _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
        _ = try await ServerSync(retryPolicy: .none).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
        #expect(try laptop.articles().count == 4)
        #expect(try laptop.article(big.id.rawValue).content == "a shorter text")
    }

    @Test func aServerWithALowerLimitThanAssumedIsLearntFromItsRefusal() async throws {
        let fixture = try await ServerFixture(limits: SyncLimits(maxBodyBytes: 32 << 10))
        let phone = try makeReplica()
        // Bound, knowing the server's knowledge, but not its limits (as a replica of an older version).
        _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
        try phone.setSetting("limits:server", nil)
        try phone.save((0..<20).map { SaveRequest(url: "https://example.com/\($0)", content: String(repeating: "w", count: 5_000)) })
        _ = try await ServerSync(retryPolicy: .none).run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
        let laptop = try makeReplica()
        _ = try await ServerSync(retryPolicy: .none).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
        #expect(try laptop.articles().count == 20)
    }
}
