import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncClientHTTP
import SyncCore
import SyncProtocol
@testable import SyncServer
@testable import SyncServerCore
import Testing

/// The push hub and route in process, on real SQLite storage (the real
/// server process is exercised in EndToEndTests/PushChannelEndToEndTests).
@Suite("Push channel, in process")
struct PushChannelTests {
    static let phone = ReplicaID(String(repeating: "a", count: 32))!
    static let laptop = ReplicaID(String(repeating: "b", count: 32))!

    /// Everything a connection was told, once it is unregistered (its stream then ends).
    static func drain(_ signals: AsyncStream<PushSignal>) async -> [String] {
        var seen: [String] = []
        for await signal in signals {
            switch signal {
            case let .changed(count): seen.append("changed \(count)")
            case let .close(code, _): seen.append("close \(code)")
            }
        }
        return seen
    }

    @Test func eventsTravelAsNotifyPayloads() {
        let events: [PushEvent] = [.changed(user: 7, by: Self.phone, changes: 3), .tokensChanged(user: 12)]
        for event in events { #expect(PushHub.event(PushHub.payload(event)) == event) }
        for garbage in ["", "c", "c 1 nothex 3", "t x", "x 1", "c 1 \(Self.phone.rawValue)"] { #expect(PushHub.event(garbage) == nil) }
    }

    @Test func wakesOnlyTheUsersOtherReplicasWithinTheBounds() async throws {
        let fixture = try await ServerFixture()
        let alice = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice)))
        let bob = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.bob)))
        let hub = PushHub(storage: fixture.storage, limits: PushLimits(maxConnectionsPerUser: 2, maxConnections: 3))
        let phone = try await hub.open(user: alice.id, replica: Self.phone, tokenHash: Tokens.hash(fixture.alice))
        let laptop = try await hub.open(user: alice.id, replica: Self.laptop, tokenHash: Tokens.hash(fixture.alice))
        do {
            _ = try await hub.open(user: alice.id, replica: Self.phone, tokenHash: "")
            Issue.record("a third connection of one user passed the bound of 2")
        } catch {
            guard case .refused(.tooManyConnections, _) = error else { throw error }
        }
        let bobs = try await hub.open(user: bob.id, replica: Self.phone, tokenHash: Tokens.hash(fixture.bob))
        do {
            try await hub.admit(user: bob.id)
            Issue.record("a fourth connection passed the total bound of 3")
        } catch {
            guard case .refused(.tooManyConnections, _) = error else { throw error }
        }
        #expect(await hub.connectionCount == 3)
        // The phone's sync: the laptop hears of it; the phone and Bob do not.
        await hub.publish(.changed(user: alice.id, by: Self.phone, changes: 2))
        // Bob's token replaced: his connection is closed, Alice's stay.
        #expect(try await fixture.storage.replaceToken(name: "bob", tokenHash: Tokens.hash(Tokens.generate())))
        await hub.deliver(.tokensChanged(user: bob.id))
        await hub.deliver(.tokensChanged(user: alice.id))
        for (registration, user) in [(phone, alice.id), (laptop, alice.id), (bobs, bob.id)] { await hub.close(registration.id, user: user) }
        #expect(await Self.drain(phone.signals) == [])
        #expect(await Self.drain(laptop.signals) == ["changed 2"])
        #expect(await Self.drain(bobs.signals) == ["close 1008"])  // 1008: policy violation.
        #expect(await hub.connectionCount == 0)
    }

    @Test func shutdownClosesEveryConnectionAndRefusesNewOnes() async throws {
        let fixture = try await ServerFixture()
        let alice = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice)))
        let hub = PushHub(storage: fixture.storage)
        let phone = try await hub.open(user: alice.id, replica: Self.phone, tokenHash: Tokens.hash(fixture.alice))
        // The connection's task ends when told to close (as the route's does).
        let task = Task { () -> [String] in
            let seen = await Self.drainUntilClose(phone.signals)
            await hub.close(phone.id, user: alice.id)
            return seen
        }
        await hub.closeAll(timeout: .seconds(5))
        #expect(await task.value == ["close 1001"])  // 1001: going away.
        do {
            try await hub.admit(user: alice.id)
            Issue.record("a connection was admitted during shutdown")
        } catch {
            guard case .refused(.unavailable, _) = error else { throw error }
        }
    }

    static func drainUntilClose(_ signals: AsyncStream<PushSignal>) async -> [String] {
        var seen: [String] = []
        for await signal in signals {
            if case let .close(code, _) = signal {
                seen.append("close \(code)")
                break
            }
            seen.append("signal")
        }
        return seen
    }

    /// The whole route over a live socket: hello, a notice after another
    /// replica's sync, none after the device's own, and the refusals.
    @Test func theRouteOverALiveServer() async throws {
        let fixture = try await ServerFixture()
        let app = buildApplication(service: fixture.service, configuration: ServerConfiguration(port: 0), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            let address = try ServerAddress(validating: "http://127.0.0.1:\(try #require(client.port))")
            let phone = try makeReplica(), laptop = try makeReplica()
            let hello = AsyncStream<PushHello>.makeStream()
            let notices = PushChannelClient(server: address, token: fixture.alice, replica: laptop.replicaID)
                .notices(connected: { hello.continuation.yield($0) })
            var iterator = notices.makeAsyncIterator()
            var hellos = hello.stream.makeAsyncIterator()
            let greeting = try #require(await hellos.next())
            #expect(greeting.account.name == "alice" && greeting.account.server == fixture.storage.serverID)
            #expect(greeting.replica == laptop.replicaID)
            #expect(greeting.behind == nil, "no knowledge stated, so nothing said about it")
            // The laptop's own sync wakes nothing; the phone's does.
            try laptop.save(SaveRequest(url: "https://example.com/own", title: "Own"))
            _ = try await ServerSync().run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "server")
            try phone.save(SaveRequest(url: "https://example.com/other", title: "Other"))
            _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "server")
            let notice = try #require(try await iterator.next())
            #expect(notice.type == "changed")
            #expect(notice.changes >= 1)
            // Refusals, with their codes.
            for (token, code) in [("", SyncErrorCode.unauthorized), ("wrong", .unauthorized)] {
                do {
                    for try await _ in PushChannelClient(server: address, token: token, replica: phone.replicaID).notices() {}
                    Issue.record("the channel opened with token '\(token)'")
                } catch {
                    guard case let .rejected(status, got, _) = error as? SyncTransportError else { throw error }
                    #expect(got == code)
                    #expect(status == 401)
                }
            }
            // A plain GET says why, in the sync route's error shape.
            try await client.execute(uri: "/v1/events?replica=\(phone.replicaID.rawValue)", method: .get, headers: bearer(fixture.alice)) { response in
                #expect(response.status == .upgradeRequired)
            }
            try await client.execute(uri: "/v1/events", method: .get, headers: bearer(fixture.alice)) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "malformed_request")
            }
            try await client.execute(uri: "/v1/events?replica=\(phone.replicaID.rawValue)", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(errorCode(response) == "unauthorized")
            }
            try await client.execute(uri: "/v1/events", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
        }
    }
}
