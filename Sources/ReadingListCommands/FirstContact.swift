import SyncClient
import SyncClientHTTP
import SyncProtocol
import Synchronization

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
