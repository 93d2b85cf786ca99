import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command that lasts until it is interrupted (`sync --watch`, `watch`):
/// SIGINT (Ctrl-C) and SIGTERM cancel its task, which ends cleanly (closing
/// its replica and connections) and the command exits with status 0.
package enum Interruption {
    /// Runs `body` until it returns, throws, or a SIGINT or SIGTERM cancels it (then returns normally).
    package static func runUntilInterrupted(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let task = Task { try await body() }
        // The signals are taken from their default action (ending the process at
        // once) and delivered to a dispatch source, which cancels the task.
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
        defer {
            for source in sources { source.cancel() }
        }
        do {
            try await task.value
        } catch is CancellationError {
            return
        } catch where task.isCancelled {
            return
        }
    }

    /// Writes a line to standard output at once (a watching command's output is read as it comes, often through a pipe).
    package static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes a line to standard error.
    package static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
