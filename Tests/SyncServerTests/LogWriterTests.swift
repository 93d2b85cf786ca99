import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ReplicaStore
@testable import SyncServer
@testable import SyncServerCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pipe: the log writer gets its write end; the test reads the other, or never does.
private struct TestPipe {
    let read: Int32
    let write: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw POSIXError(.EMFILE) }
        (read, write) = (ends[0], ends[1])
    }

    /// Reads the pipe on a thread of its own (not the cooperative pool) until its end; closes the read end.
    func readAll() async -> [UInt8] {
        let descriptor = read
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = buffer.withUnsafeMutableBytes { readBytes(descriptor, $0.baseAddress, $0.count) }
                    if count > 0 {
                        received.append(contentsOf: buffer[0..<count])
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                close(descriptor)
                continuation.resume(returning: received)
            }
            thread.start()
        }
    }
}

/// `read(2)` (inside ``TestPipe`` the name is its read end).
private func readBytes(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

@Suite("Log writer")
struct LogWriterTests {
    /// The issue: started with its log a pipe nobody read, the server stopped
    /// answering. Thousands of lines from more tasks than the pool has threads
    /// must all return (a hang fails the time limit), dropping and counting.
    @Test(.timeLimit(.minutes(1)))
    func aLogNobodyReadsHoldsUpNoCaller() async throws {
        let pipe = try TestPipe()
        let writer = LogWriter(fileDescriptor: pipe.write, capacity: 200)
        let logger = Logger(label: "test") { JSONLogHandler(label: $0, writer: writer) }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for index in 0..<1_000 {
                        logger.info("request", metadata: ["task": "\(task)", "n": .stringConvertible(index), "status": .stringConvertible(200)])
                    }
                }
            }
        }
        // 16,000 lines (about 2 MB) against a pipe of 64 KiB and a queue of 200: most were dropped.
        let dropped = writer.droppedLines
        #expect(dropped > 0)
        #expect(!writer.flush(timeout: .milliseconds(200)), "a flush gives up on a reader that never reads")
        let text = ServerMetrics(logWriter: writer).render()
        #expect(text.contains("# TYPE readinglist_log_lines_dropped_total counter"))
        #expect(text.contains("\nreadinglist_log_lines_dropped_total \(dropped)\n"))

        // Now read it: the writer finishes what it held and ends.
        async let received = pipe.readAll()
        #expect(writer.stop(timeout: .seconds(30)))
        close(pipe.write)
        let lines = await received.split(separator: UInt8(ascii: "\n"))
        #expect(UInt64(lines.count) + dropped == 16_000, "every line was either written or counted as dropped")
    }

    /// The same through the routes: with the log's pipe full, `/health`
    /// answers and `/metrics` counts what the log lost.
    @Test(.timeLimit(.minutes(1)))
    func theServerAnswersWhileItsLogIsStuck() async throws {
        let pipe = try TestPipe()
        let writer = LogWriter(fileDescriptor: pipe.write, capacity: 100)
        let logger = Logger(label: "readinglist-server") { JSONLogHandler(label: $0, writer: writer) }
        let fixture = try await ServerFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let service = SyncService(storage: fixture.storage, metrics: ServerMetrics(logWriter: writer), now: ReplicaStore.wallClock)
        for index in 0..<20_000 { logger.info("filler", metadata: ["n": .stringConvertible(index)]) }
        #expect(writer.droppedLines > 0, "the pipe and the queue are full")
        let app = Application(router: buildRouter(service: service, logger: logger))
        try await app.test(.router) { client in
            for _ in 0..<50 {
                try await client.execute(uri: "/health", method: .get) { response in
                    #expect(response.status == .ok)
                }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("# HELP readinglist_log_lines_dropped_total "))
                let line = text.split(separator: "\n").first { $0.hasPrefix("readinglist_log_lines_dropped_total ") }
                let count = line.flatMap { UInt64($0.split(separator: " ").last!) }
                #expect((count ?? 0) > 0, "\(text)")
            }
        }
        async let received = pipe.readAll()
        #expect(writer.stop(timeout: .seconds(30)))
        close(pipe.write)
        _ = await received
        await fixture.storage.close()
    }

    /// With a reader, every line arrives, in order, each a JSON object with
    /// numbers as numbers; a flush waits for them.
    @Test(.timeLimit(.minutes(1)))
    func everyLineArrivesInOrderAsJSON() async throws {
        let pipe = try TestPipe()
        let writer = LogWriter(fileDescriptor: pipe.write)
        let logger = Logger(label: "readinglist-server") { JSONLogHandler(label: $0, writer: writer) }
        async let received = pipe.readAll()
        let awkward = "a \"quote\", a \\ backslash, a\nnewline, a\ttab, \u{1}, é, ✓, </script>"
        let count = 3_000
        for index in 0..<count {
            logger.info("request \(index)", metadata: [
                "n": .stringConvertible(index), "status": .stringConvertible(200), "ms": .stringConvertible(12.5),
                "path": "/v1/sync", "text": .string(awkward),
            ])
        }
        #expect(writer.flush(timeout: .seconds(30)))
        #expect(writer.droppedLines == 0)
        #expect(writer.stop(timeout: .seconds(30)))
        close(pipe.write)
        let bytes = await received
        #expect(bytes.last == UInt8(ascii: "\n"))
        let lines = bytes.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == count)
        for (index, line) in lines.enumerated() {
            let raw = String(decoding: line, as: UTF8.self)
            #expect(raw.contains(#""status":200"#) && raw.contains(#""ms":12.5"#), "\(raw)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], "\(raw)")
            #expect(object["n"] as? Int == index)
            #expect(object["msg"] as? String == "request \(index)")
            #expect(object["level"] as? String == "info")
            #expect(object["label"] as? String == "readinglist-server")
            #expect(object["path"] as? String == "/v1/sync")
            #expect(object["text"] as? String == awkward)
            #expect(!(object["status"] is String) && object["status"] as? Int == 200)
            #expect(!(object["ms"] is String) && object["ms"] as? Double == 12.5)
            let timestamp = try #require(object["ts"] as? String)
            #expect(timestamp.count == 24 && timestamp.hasSuffix("Z"), "\(timestamp)")
        }
    }

    /// The request log the middleware writes: `status` and `ms` as numbers.
    @Test func theRequestLogHasNumbers() async throws {
        let pipe = try TestPipe()
        let writer = LogWriter(fileDescriptor: pipe.write)
        let logger = Logger(label: "readinglist-server") { JSONLogHandler(label: $0, writer: writer) }
        async let received = pipe.readAll()
        let fixture = try await ServerFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let app = Application(router: buildRouter(service: fixture.service, logger: logger))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
        }
        #expect(writer.stop(timeout: .seconds(30)))
        close(pipe.write)
        let lines = await received.split(separator: UInt8(ascii: "\n"))
        let request = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
            .first { $0["msg"] as? String == "request" }
        let object = try #require(request)
        #expect(object["status"] as? Int == 200 && !(object["status"] is String))
        #expect(object["ms"] is NSNumber && !(object["ms"] is String))
        #expect(object["path"] as? String == "/health" && object["method"] as? String == "GET")
        await fixture.storage.close()
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        func text(_ millis: Int64) -> String {
            var json = JSONLine()
            json.timestamp(millis: millis)
            return String(decoding: json.bytes, as: UTF8.self)
        }
        #expect(text(0) == "1970-01-01T00:00:00.000Z")
        #expect(text(1_709_251_199_123) == "2024-02-29T23:59:59.123Z")
        #expect(text(1_709_251_200_000) == "2024-03-01T00:00:00.000Z")
        #expect(text(951_782_400_007) == "2000-02-29T00:00:00.007Z")
        #expect(text(253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(text(-1) == "1969-12-31T23:59:59.999Z")
        // Against Foundation, for a spread of instants.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for step in 0..<500 {
            let millis = Int64(step) * 7_919_000_017 % 4_102_444_800_000
            #expect(text(millis) == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)))
        }
    }

    @Test func metadataKeepsItsJSONTypes() throws {
        let line = JSONLogHandler.line(
            millis: 0, level: .warning, label: "l", message: "m",
            metadata: [
                "int": .stringConvertible(-42), "uint": .stringConvertible(UInt64.max), "double": .stringConvertible(0.25),
                "float": .stringConvertible(Float(1.5)), "flag": .stringConvertible(true), "infinite": .stringConvertible(Double.infinity),
                "string": "7", "list": [.stringConvertible(1), "two"], "object": ["a": .stringConvertible(1), "b": ["c": "d"]],
                "url": .stringConvertible(URL(string: "https://example.com/a")!), "msg": "not the message",
            ])
        let raw = String(decoding: line, as: UTF8.self)
        #expect(raw.hasSuffix("}\n"))
        #expect(raw == """
            {"ts":"1970-01-01T00:00:00.000Z","level":"warning","label":"l","msg":"m","double":0.25,"flag":true,"float":1.5,\
            "infinite":"inf","int":-42,"list":[1,"two"],"object":{"a":1,"b":{"c":"d"}},"string":"7","uint":18446744073709551615,\
            "url":"https://example.com/a"}

            """)
        #expect(try JSONSerialization.jsonObject(with: Data(line)) is [String: Any])
    }

    @Test func linesOverTheBudgetAreDroppedAndCounted() {
        let writer = LogWriter(fileDescriptor: -1, capacity: 10, byteBudget: 64)
        #expect(!writer.enqueue(Array(repeating: UInt8(ascii: "x"), count: 65)))
        #expect(writer.droppedLines == 1)
        // A descriptor that fails: the line is given up and counted, and a flush does not wait for it.
        #expect(writer.enqueue(Array("{}\n".utf8)))
        #expect(writer.flush(timeout: .seconds(30)))
        #expect(writer.droppedLines == 2)
        #expect(writer.stop(timeout: .seconds(30)))
        #expect(!writer.enqueue(Array("{}\n".utf8)), "a stopped writer takes no more lines")
        #expect(writer.droppedLines == 3)
    }
}
