import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import CompressNIO
import NIOCore
import ReadingListModel
import ReplicaStore
import SyncClient
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import Synchronization
import Testing

/// A server on real SQLite storage in a temporary folder, with two users.
struct ServerFixture {
    let storage: SQLiteServerStorage
    let service: SyncService
    let alice: String
    let bob: String
    let folder: String

    init(
        limits: SyncLimits = SyncLimits(), retention: Duration = .seconds(90 * 86_400),
        now: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock
    ) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-server-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        storage = try SQLiteServerStorage(path: folder + "/server.sqlite")
        service = SyncService(storage: storage, limits: limits, retention: retention, now: now)
        alice = Tokens.generate()
        bob = Tokens.generate()
        _ = try await storage.addUser(name: "alice", tokenHash: Tokens.hash(alice))
        _ = try await storage.addUser(name: "bob", tokenHash: Tokens.hash(bob))
    }

    var app: some ApplicationProtocol {
        Application(router: buildRouter(service: service, logger: Logger(label: "test")))
    }

    /// An in-process transport straight into the service, as `user`.
    func transport(token: String) -> ClosureTransport {
        let service = service
        return ClosureTransport { request throws(SyncTransportError) in
            // The body limit, as the HTTP layer enforces it.
            if WireJSON.text(request).utf8.count > service.limits.maxBodyBytes {
                throw .rejected(status: 413, code: .bodyTooLarge, message: "the body is larger than \(service.limits.maxBodyBytes) bytes")
            }
            do {
                guard let user = try await service.storage.user(tokenHash: Tokens.hash(token)) else {
                    throw SyncTransportError.rejected(status: 401, code: .unauthorized, message: "unknown token")
                }
                return try await service.handle(request, for: user)
            } catch let error as SyncTransportError {
                throw error
            } catch let ServerError.refused(code, message) {
                throw .rejected(status: code.httpStatus, code: code, message: message)
            } catch {
                throw .unreachable("\(error)")
            }
        }
    }
}

func body(_ request: SyncRequest) throws -> ByteBuffer { ByteBuffer(bytes: try JSONEncoder().encode(request)) }

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

func errorCode(_ response: TestResponse) -> String? {
    (try? JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: response.body)))?.error.code.rawValue
}

func makeReplica(_ clock: @escaping @Sendable () -> Int64 = ReplicaStore.wallClock) throws -> ReplicaStore {
    try ReplicaStore.inMemory(now: clock)
}

@Suite("Server routes")
struct RouteTests {
    @Test func healthAndMetrics() async throws {
        let fixture = try await ServerFixture()
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(
                SyncRequest(replica: try makeReplica().replicaID, knowledge: VersionVector(), heads: [], push: [])))
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"readinglist_http_requests_total{route="/v1/sync",status="200"} 1"#))
                #expect(text.contains("readinglist_changes_stored_total 0"))
                #expect(text.contains("# TYPE readinglist_http_request_duration_seconds histogram"))
            }
        }
    }

    @Test func aRoundTripPushesAndPulls() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a", title: "T", tags: ["x"]))
        try phone.save(SaveRequest(url: "https://example.com/b", title: "U"))
        let push = try phone.outgoing(for: VersionVector(), limit: 100)
        #expect(push.count == 2)  // a run per save
        try await fixture.app.test(.router) { client in
            let request = SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(), push: push)
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(request)) { response in
                #expect(response.status == .ok)
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                #expect(decoded.stored == push.flatMap(\.expanded).count)
                #expect(decoded.knowledge == (try phone.knowledge()))
                #expect(decoded.pull.isEmpty && !decoded.more)
            }
            // A retry of the same request stores nothing more.
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(request)) { response in
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                #expect(decoded.stored == 0)
            }
            // A new replica pulls it all, paged.
            let laptop = try makeReplica()
            var more = true
            var pages = 0
            while more {
                let pull = SyncRequest(replica: laptop.replicaID, knowledge: try laptop.knowledge(), heads: [], push: [], pullLimit: 1)
                try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(pull)) { response in
                    let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                    try laptop.apply(decoded.pull)
                    more = decoded.more
                    pages += 1
                }
            }
            #expect(pages > 1)
            #expect(try Set(laptop.articles().map(\.title)) == ["T", "U"])
        }
    }

    @Test func everyBadRequestGetsA4xxNamingTheProblem() async throws {
        let fixture = try await ServerFixture(limits: SyncLimits(maxBodyBytes: 64 << 10, maxPushEntries: 3, maxPullEntries: 100))
        let phone = try makeReplica()
        for index in 0..<4 { try phone.save(SaveRequest(url: "https://example.com/\(index)")) }
        let all = try phone.outgoing(for: VersionVector(), limit: 100)
        let good = SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(), push: Array(all.prefix(3)))
        let alice = fixture.alice
        try await fixture.app.test(.router) { client in
            func post(_ buffer: ByteBuffer?, token: String? = "alice", _ check: @escaping (TestResponse) throws -> Void) async throws {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let token { headers[.authorization] = "Bearer \(token == "alice" ? alice : token)" }
                try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: buffer) { try check($0) }
            }
            try await post(try body(good), token: nil) { #expect($0.status == .unauthorized && errorCode($0) == "unauthorized") }
            try await post(try body(good), token: "rl_wrong") { #expect($0.status == .unauthorized) }
            try await post(ByteBuffer(string: "{not json")) { #expect($0.status == .badRequest && errorCode($0) == "malformed_request") }
            try await post(ByteBuffer(string: #"{"protocolVersion":"one","replica":"x"}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("protocolVersion"))
            }
            var versioned = good
            versioned.protocolVersion = 99
            try await post(try body(versioned)) { #expect($0.status == .badRequest && errorCode($0) == "unsupported_protocol_version") }
            try await post(ByteBuffer(string: String(repeating: " ", count: 70 << 10))) { #expect($0.status == .contentTooLarge && errorCode($0) == "body_too_large") }
            var tooMany = good
            tooMany.push = all
            try await post(try body(tooMany)) { #expect($0.status == .contentTooLarge && errorCode($0) == "too_many_changes") }
            var gap = good
            gap.push = Array(all[1..<3])
            try await post(try body(gap)) { #expect($0.status == .conflict && errorCode($0) == "gap", "\(String(buffer: $0.body))") }
            var badLimit = good
            badLimit.pullLimit = 0
            try await post(try body(badLimit)) { #expect($0.status == .badRequest) }
            // Nothing of the refused requests was applied.
            try await post(try body(SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: [], push: []))) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                #expect(decoded.knowledge.isEmpty)
            }
            try await post(try body(good)) { #expect($0.status == .ok) }
        }
        // Revoked tokens are refused.
        #expect(try await fixture.storage.revokeUser(name: "alice"))
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(good)) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func gzipBothWaysAndBadEncodingsRefused() async throws {
        let fixture = try await ServerFixture(limits: SyncLimits(maxBodyBytes: 64 << 10, maxPushEntries: 1000, maxPullEntries: 1000))
        let phone = try makeReplica()
        try phone.save((0..<40).map { SaveRequest(url: "https://example.com/\($0)", title: "Title \($0)") })
        let push = try phone.outgoing(for: VersionVector(), limit: 1000)
        let request = SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(), push: push)
        let plain = try body(request)
        var consumed = plain
        let gzipped = try consumed.compress(with: .gzip())
        #expect(gzipped.readableBytes * 4 < plain.readableBytes, "JSON pages compress well")
        try await fixture.app.test(.router) { client in
            var headers = bearer(fixture.alice)
            headers[.contentEncoding] = "gzip"
            try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: gzipped) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                #expect(response.headers[.contentEncoding] == nil, "no Accept-Encoding: a plain response")
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: response.body))
                #expect(decoded.stored == push.flatMap(\.expanded).count)
            }
            // A new replica asks for gzip and gets the whole list, gzipped.
            let laptop = try makeReplica()
            var accepting = bearer(fixture.alice)
            accepting[.acceptEncoding] = "br;q=1.0, gzip;q=0.8"
            let pull = SyncRequest(replica: laptop.replicaID, knowledge: VersionVector(), heads: [], push: [])
            try await client.execute(uri: "/v1/sync", method: .post, headers: accepting, body: try body(pull)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentEncoding] == "gzip")
                var compressed = response.body
                let decoded = try JSONDecoder().decode(SyncResponse.self, from: Data(buffer: try compressed.decompress(with: .gzip())))
                try laptop.apply(decoded.pull)
            }
            #expect(try laptop.articles() == phone.articles())
            // gzip;q=0 refuses gzip.
            accepting[.acceptEncoding] = "gzip;q=0"
            try await client.execute(uri: "/v1/sync", method: .post, headers: accepting, body: try body(pull)) { response in
                #expect(response.headers[.contentEncoding] == nil)
            }
            // Not gzip, another encoding, and a body that inflates past the limit: refused, nothing stored.
            var bad = bearer(fixture.alice)
            bad[.contentEncoding] = "gzip"
            try await client.execute(uri: "/v1/sync", method: .post, headers: bad, body: ByteBuffer(string: "not gzip")) { response in
                #expect(response.status == .badRequest && errorCode(response) == "malformed_request")
            }
            var bomb = ByteBuffer(string: String(repeating: " ", count: 200 << 10))
            try await client.execute(uri: "/v1/sync", method: .post, headers: bad, body: try bomb.compress(with: .gzip())) { response in
                #expect(response.status == .contentTooLarge && errorCode(response) == "body_too_large")
            }
            bad[.contentEncoding] = "br"
            try await client.execute(uri: "/v1/sync", method: .post, headers: bad, body: try body(request)) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("Content-Encoding"))
            }
        }
    }

    @Test func aCopiedReplicaIsRefusedWithAHint() async throws {
        let fixture = try await ServerFixture()
        let folder = fixture.folder
        let original = try ReplicaStore.open(path: folder + "/a.sqlite")
        try original.save(SaveRequest(url: "https://example.com/a"))
        try original.close()
        try FileManager.default.copyItem(atPath: folder + "/a.sqlite", toPath: folder + "/copy.sqlite")
        let a = try ReplicaStore.open(path: folder + "/a.sqlite")
        let copy = try ReplicaStore.open(path: folder + "/copy.sqlite")
        try a.edit("https://example.com/a", [Fields.title: "original"])
        try copy.edit("https://example.com/a", [Fields.title: "copy"])
        let sync = ServerSync(retryPolicy: .none)
        _ = try await sync.run(store: a, transport: fixture.transport(token: fixture.alice), partner: "server")
        await #expect {
            _ = try await sync.run(store: copy, transport: fixture.transport(token: fixture.alice), partner: "server")
        } throws: { error in
            "\(error)".contains("reset-identity")
        }
    }

    @Test func userBCanNeitherReadNorChangeUserAsList() async throws {
        let fixture = try await ServerFixture()
        let alicePhone = try makeReplica()
        try alicePhone.save(SaveRequest(url: "https://example.com/secret", title: "Alice's secret", tags: ["private"]))
        _ = try await ServerSync().run(store: alicePhone, transport: fixture.transport(token: fixture.alice), partner: "s")
        // Bob knows Alice's article id and replica id, and writes to that article.
        let bobPhone = try makeReplica()
        let id = ArticleID(url: try NormalizedURL("https://example.com/secret"))
        try bobPhone.writeRaw([(EntityRef.article(id), Fields.title, "Bob was here"), (EntityRef.article(id), Fields.deleted, true)])
        let report = try await ServerSync().run(store: bobPhone, transport: fixture.transport(token: fixture.bob), partner: "s")
        #expect(report.pulled == 0)
        #expect(try bobPhone.liveChanges().allSatisfy { $0.dot.replica == bobPhone.replicaID })
        // Bob asking with Alice's replica id and knowledge gets nothing of hers either.
        let probe = SyncRequest(replica: alicePhone.replicaID, knowledge: VersionVector(), heads: [], push: [])
        let bobUser = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.bob)))
        let answer = try await fixture.service.handle(probe, for: bobUser)
        #expect(answer.pull.allSatisfy { $0.replica == bobPhone.replicaID })
        // Alice's list is untouched.
        let aliceLaptop = try makeReplica()
        _ = try await ServerSync().run(store: aliceLaptop, transport: fixture.transport(token: fixture.alice), partner: "s")
        let list = try aliceLaptop.articles()
        #expect(list.map(\.title) == ["Alice's secret"])
        #expect(try aliceLaptop.liveChanges().allSatisfy { $0.dot.replica == alicePhone.replicaID })
    }

    @Test func aSnapshotIsTheUsersListAsAReplicaFileAndNoOneElses() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save((0..<5).map { SaveRequest(url: "https://example.com/\($0)", title: "Alice \($0)") })
        _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "s")
        let folder = fixture.folder
        try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/v1/snapshot", method: .get) { response in
                #expect(response.status == .unauthorized && errorCode(response) == "unauthorized")
            }
            try await client.execute(uri: "/v1/snapshot", method: .post, headers: bearer(fixture.alice)) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/v1/snapshot", method: .get, headers: bearer(fixture.alice)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/vnd.sqlite3")
                #expect(response.headers[.contentLength] == String(response.body.readableBytes))
                #expect(response.headers[HTTPFields.Element.Name("Readinglist-Snapshot-Bytes")!] == String(response.body.readableBytes))
                #expect(response.headers[HTTPFields.Element.Name("Readinglist-Knowledge")!].flatMap(VersionVector.init(compactText:)) == (try phone.knowledge()))
                let file = folder + "/alice.sqlite"
                #expect(FileManager.default.createFile(atPath: file, contents: Data(buffer: response.body)))
                let laptop = try ReplicaStore.createFromSnapshot(file, at: folder + "/laptop.sqlite", partner: "s")
                #expect(try laptop.articles().compactMap(\.title).sorted() == (0..<5).map { "Alice \($0)" })
                #expect(try laptop.checkInvariants().isEmpty)
            }
            // Gzipped when asked: the same file.
            var gzipHeaders = bearer(fixture.alice)
            gzipHeaders[.acceptEncoding] = "gzip"
            try await client.execute(uri: "/v1/snapshot", method: .get, headers: gzipHeaders) { response in
                #expect(response.status == .ok && response.headers[.contentEncoding] == "gzip")
                var compressed = response.body
                let inflated = try compressed.decompress(with: .gzip())
                let file = folder + "/alice-gzip.sqlite"
                #expect(FileManager.default.createFile(atPath: file, contents: Data(buffer: inflated)))
                let tablet = try ReplicaStore.createFromSnapshot(file, at: folder + "/tablet.sqlite", partner: "s")
                #expect(try tablet.articles().count == 5)
            }
            // Bob's snapshot holds Bob's (empty) list only.
            try await client.execute(uri: "/v1/snapshot", method: .get, headers: bearer(fixture.bob)) { response in
                #expect(response.status == .ok)
                let file = folder + "/bob.sqlite"
                #expect(FileManager.default.createFile(atPath: file, contents: Data(buffer: response.body)))
                let bobLaptop = try ReplicaStore.createFromSnapshot(file, at: folder + "/bob-laptop.sqlite", partner: "s")
                #expect(try bobLaptop.articles().isEmpty && bobLaptop.knowledge().isEmpty)
            }
        }
        // Every snapshot written for a request was removed once sent.
        let left = try FileManager.default.contentsOfDirectory(atPath: folder + "/server.sqlite.spaces/snapshots")
        #expect(left.isEmpty)
    }

    @Test func threeReplicasConvergeThroughTheServerInAnyOrder() async throws {
        let fixture = try await ServerFixture()
        let replicas = try (0..<3).map { _ in try makeReplica() }
        func sync(_ index: Int) async throws {
            _ = try await ServerSync(pageSize: 3).run(store: replicas[index], transport: fixture.transport(token: fixture.alice), partner: "s")
        }
        try replicas[0].save(SaveRequest(url: "https://example.com/a", title: "Original", tags: ["t"]))
        try replicas[0].save(SaveRequest(url: "https://example.com/b"))
        for index in 0..<3 { try await sync(index) }
        try replicas[0].edit("https://example.com/a", [Fields.title: "zero"])
        try replicas[1].edit("https://example.com/a", [Fields.title: "one"])
        try replicas[2].delete("https://example.com/b")
        try replicas[1].setTags("https://example.com/b", ["kept"], present: true)
        try replicas[2].save(SaveRequest(url: "https://example.com/c?utm_source=x", title: "C"))
        try replicas[0].save(SaveRequest(url: "https://EXAMPLE.com/c#top", title: "C"))
        for index in [2, 0, 1, 2, 0] { try await sync(index) }
        let states = try replicas.map { JSONValue.array(try $0.articles(includeContent: true).map { $0.jsonValue(includeContent: true) }).canonicalText }
        #expect(Set(states).count == 1)
        let list = try replicas[0].articles()
        #expect(list.count == 3)
        #expect(list.first { $0.normalizedURL == "https://example.com/a" }?.conflicts.first?.values.count == 2)
        #expect(list.first { $0.normalizedURL == "https://example.com/b" }?.tags == ["kept"])
        for replica in replicas {
            let again = try await ServerSync().run(store: replica, transport: fixture.transport(token: fixture.alice), partner: "s")
            #expect(again.pushed == 0 && again.pulled == 0)
        }
    }

    @Test func retriesWithBackoffUntilTheServerAnswers() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a"))
        let real = fixture.transport(token: fixture.alice)
        let failures = Counter()
        let flaky = ClosureTransport { request throws(SyncTransportError) in
            // Lose the first two requests after the server applied them, as a dropped response would.
            let response = try await real.send(request)
            if failures.increment() <= 2 { throw .unreachable("connection reset") }
            return response
        }
        let waits = Recorder()
        let sync = ServerSync(retryPolicy: RetryPolicy(maxAttempts: 5), sleep: { waits.append($0) }, jitter: { 1 })
        let report = try await sync.run(store: phone, transport: flaky, partner: "s")
        #expect(report.retries == 2)
        #expect(waits.values == [.milliseconds(200), .milliseconds(400)])
        let laptop = try makeReplica()
        _ = try await ServerSync().run(store: laptop, transport: real, partner: "s")
        #expect(try laptop.articles().count == 1)
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

final class Recorder: Sendable {
    private let storage = Mutex<[Duration]>([])
    func append(_ duration: Duration) { storage.withLock { $0.append(duration) } }
    var values: [Duration] { storage.withLock { $0 } }
}

@Suite("Pipelined pulls")
struct PipelinedPullTests {
    @Test func aPipelinedSyncPullsEverythingAndAcknowledgesOnlyWhatWasApplied() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save((0..<25).map { SaveRequest(url: "https://example.com/\($0)", title: "T\($0)", tags: ["t"]) })
        try phone.delete("https://example.com/3")
        _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "s")

        // Requests seen by the server, in order.
        let seen = Mutex<[SyncRequest]>([])
        let inner = fixture.transport(token: fixture.alice)
        let watching = ClosureTransport { request throws(SyncTransportError) in
            seen.withLock { $0.append(request) }
            return try await inner.send(request)
        }
        let laptop = try makeReplica()
        let report = try await ServerSync(pageSize: 4).run(store: laptop, transport: watching, partner: "s")
        #expect(try laptop.articles(includeContent: true) == phone.articles(includeContent: true))
        #expect(report.pulled == (try phone.status().liveWrites))
        // An empty replica pulling many pages materialises its articles once, at the end
        // (24: the server had already forgotten the deleted one, which only the phone had seen).
        #expect(report.materializedAtEnd == 24)
        try #require(try laptop.checkInvariants().isEmpty)
        let requests = seen.withLock { $0 }
        // Pages after the first were asked for ahead, each from past the page before it,
        // while saying only what the laptop had applied.
        let ahead = requests.filter { $0.pullFrom != nil }
        #expect(ahead.count >= 3)
        for request in ahead { #expect(request.pullFrom!.includes(request.knowledge) && request.pullFrom != request.knowledge) }

        // The server acknowledges `knowledge`, not `pullFrom`: a replica that has applied nothing holds the horizon at nothing.
        let user = try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice)))
        let space = try await fixture.storage.space(for: user)
        let fresh = try makeReplica()
        var early = SyncRequest(replica: fresh.replicaID, knowledge: VersionVector(), heads: [], push: [])
        early.pullFrom = try phone.knowledge()
        let answer = try await fixture.service.handle(early, for: user)
        #expect(answer.pull.isEmpty && !answer.more)
        #expect(!(try await space.horizon(activeSince: 0)).covers(Dot(phone.replicaID, 1)))
    }

    @Test func aDeferredSyncThatFailsMidwayShowsWhatItPulled() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save((0..<30).map { SaveRequest(url: "https://example.com/\($0)", title: "T\($0)", tags: ["t"]) })
        _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "s")
        let inner = fixture.transport(token: fixture.alice)
        let sent = Mutex(0)
        let failing = ClosureTransport { request throws(SyncTransportError) in
            guard sent.withLock({ $0 += 1; return $0 }) <= 4 else { throw .unreachable("the network went away") }
            return try await inner.send(request)
        }
        let laptop = try makeReplica()
        await #expect(throws: ServerSync.Failure.self) {
            _ = try await ServerSync(pageSize: 4, retryPolicy: RetryPolicy(maxAttempts: 1), pipelined: false).run(store: laptop, transport: failing, partner: "s")
        }
        // The pages applied before the failure are shown, materialised.
        #expect(try !laptop.hasPendingMaterialization())
        let shown = try laptop.articles().count
        #expect(shown > 0 && shown < 30)
        try #require(try laptop.checkInvariants().isEmpty)
        // The next sync brings the rest, deferred again: the laptop holds fewer articles than there are changes to come.
        let resumed = try await ServerSync(pageSize: 4).run(store: laptop, transport: inner, partner: "s")
        #expect(resumed.materializedAtEnd > 0)
        #expect(try laptop.articles(includeContent: true) == phone.articles(includeContent: true))
        try #require(try laptop.checkInvariants().isEmpty)
    }

    @Test func aReplicaHoldingMoreArticlesThanChangesToComeMaterialisesAsItPulls() async throws {
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save((0..<20).map { SaveRequest(url: "https://example.com/\($0)", title: "T\($0)") })
        _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "s")
        // The laptop holds more articles than the changes the server has for it (20 saves, about 100 changes).
        let laptop = try makeReplica()
        try laptop.save((0..<150).map { SaveRequest(url: "https://example.org/\($0)") })
        let report = try await ServerSync(pageSize: 4).run(store: laptop, transport: fixture.transport(token: fixture.alice), partner: "s")
        #expect(report.materializedAtEnd == 0)
        #expect(try laptop.articles().count == 170)
        try #require(try laptop.checkInvariants().isEmpty)
    }
}
