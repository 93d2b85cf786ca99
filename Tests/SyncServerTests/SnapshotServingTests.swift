import CompressNIO
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReadingListModel
@testable import ReplicaStore
import SyncClient
@testable import SyncClientHTTP
import SyncCore
import SyncProtocol
@testable import SyncServer
@testable import SyncServerCore
import Testing

/// How the server hands out snapshots: never keeping a client waiting in
/// silence for a long catch-up, never holding more copies than it admits,
/// and a client that refuses a download cut short.
@Suite("Serving snapshots")
struct SnapshotServingTests {
    func aliceWithArticles(_ fixture: ServerFixture, count: Int = 5) async throws -> (ServerUser, ReplicaStore) {
        let phone = try makeReplica()
        try phone.save((0..<count).map { SaveRequest(url: "https://example.com/\($0)", title: "Article \($0)") })
        _ = try await ServerSync().run(store: phone, transport: fixture.transport(token: fixture.alice), partner: "s")
        return (try #require(try await fixture.storage.user(tokenHash: Tokens.hash(fixture.alice))), phone)
    }

    @Test func whileTheListIsBeingPreparedTheClientIsToldToComeBack() async throws {
        let fixture = try await ServerFixture()
        let (alice, phone) = try await aliceWithArticles(fixture)
        let space = try #require(try await fixture.storage.space(for: alice) as? SQLiteSpace)
        // As after a bulk push (or a pass a crash interrupted): every article waits.
        try await space.store.writer.write { db in try Meta.set(PendingMaterialization.key, "", db) }
        #expect(try space.store.needsLongCatchUp())
        await #expect {
            _ = try await fixture.storage.snapshot(for: alice)
        } throws: { error in
            guard case let ServerError.refused(code, message) = error else { return false }
            return code == .unavailable && message.contains("being prepared")
        }
        // The background catch-up started at once; the client's retry then gets the list.
        var snapshot: ServerSnapshot?
        for _ in 0..<200 where snapshot == nil {
            snapshot = try? await fixture.storage.snapshot(for: alice)
            if snapshot == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let ready = try #require(snapshot)
        #expect(ready.knowledge == (try phone.knowledge()))
        #expect(try !space.store.needsLongCatchUp())
    }

    /// Closing the storage while its background catch-up runs waits for it
    /// (no chunk meets a closed file), and the next start goes on from the mark.
    @Test func closingTheServerStopsItsCatchUpAndTheNextStartFinishesIt() async throws {
        let fixture = try await ServerFixture()
        let (alice, phone) = try await aliceWithArticles(fixture, count: 40)
        let space = try #require(try await fixture.storage.space(for: alice) as? SQLiteSpace)
        try await space.store.writer.write { db in try Meta.set(PendingMaterialization.key, "", db) }
        space.upkeep.catchUpNow()
        await fixture.storage.close()
        // Closed: the upkeep starts nothing more.
        space.upkeep.catchUpNow()
        let reopened = try SQLiteServerStorage(path: fixture.folder + "/server.sqlite")
        // (While the pass is left to finish, the server says to come back; its catch-up then runs.)
        var ready: ServerSnapshot?
        for _ in 0..<200 where ready == nil {
            ready = try? await reopened.snapshot(for: alice)
            if ready == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let snapshot = try #require(ready)
        #expect(snapshot.knowledge == (try phone.knowledge()))
        #expect(try !(try #require(try await reopened.space(for: alice) as? SQLiteSpace)).store.needsLongCatchUp())
        let copy = fixture.folder + "/copy.sqlite"
        try snapshot.copy(to: copy)
        let made = try ReplicaStore.createFromSnapshot(copy, at: fixture.folder + "/made.sqlite", partner: "https://server")
        #expect(try made.articles().map(\.id) == phone.articles().map(\.id))
        await reopened.close()
    }

    @Test func aSnapshotHoldsItsSlotUntilItIsSentOrDropped() async throws {
        let fixture = try await ServerFixture()
        let (alice, _) = try await aliceWithArticles(fixture)
        var first: ServerSnapshot? = try await fixture.storage.snapshot(for: alice)
        let second = try await fixture.storage.snapshot(for: alice)
        #expect(first != nil && second != nil)
        await #expect(throws: ServerError.self) { _ = try await fixture.storage.snapshot(for: alice) }
        // No copy is left in the folder, even while two are being sent.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.folder + "/server.sqlite.spaces/snapshots").isEmpty)
        first = nil
        #expect(try await fixture.storage.snapshot(for: alice) != nil)
        _ = first
    }

    @Test func downloadsOfKilledProcessesAreRemovedAndOthersKept() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-abandoned-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var dead: Int32 = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let names = ["replica.sqlite.snapshot-\(dead)", "replica.sqlite.snapshot-\(dead)-wal", "replica.sqlite.snapshot-1", "replica.sqlite", "other.sqlite.snapshot-\(dead)"]
        for name in names { #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: Data("x".utf8))) }
        InitialSnapshot.removeAbandonedDownloads(beside: folder + "/replica.sqlite")
        // A dead process's download goes with its log; a live process's (pid 1), the replica and another replica's stay.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder)) == ["replica.sqlite.snapshot-1", "replica.sqlite", "other.sqlite.snapshot-\(dead)"])
    }

    @Test func aDownloadCutShortIsRefusedAndLeavesNoFile() async throws {
        // A server that announces a whole file and sends half of it, gzipped (a stream cut
        // between two flushed blocks inflates without an error) or plain with a short length.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("readinglist-cut-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let router = Router()
        router.get("/v1/snapshot") { request, _ -> Response in
            let gzip = request.headers[.acceptEncoding] == "gzip"
            var half = ByteBuffer(bytes: file.prefix(file.count / 2))
            let compressor = StreamCompressor(try Compression.streamCompressor())
            let body = gzip ? try compressor.deflate(&half, finish: false) : half
            var headers: HTTPFields = [.readinglistKnowledge: "", .readinglistSnapshotBytes: String(file.count)]
            if gzip { headers[.contentEncoding] = "gzip" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        try await Application(router: router).test(.live) { client in
            let transport = HTTPSyncTransport(server: "http://127.0.0.1:\(try #require(client.port))", token: "t")
            for compressed in [true, false] {
                let path = folder + "/download-\(compressed)"
                await #expect(throws: SyncTransportError.self) { _ = try await transport.downloadSnapshot(to: path, compressed: compressed) }
                #expect(!FileManager.default.fileExists(atPath: path))
            }
            await transport.shutdown()
        }
    }
}
