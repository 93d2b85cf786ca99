import Foundation
import Synchronization

/// Counters and latency histograms, rendered in the Prometheus text format at `GET /metrics`.
public final class ServerMetrics: Sendable {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: ServerMetrics.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }

    private struct State {
        var requests: [String: UInt64] = [:]  // "route|status"
        var latency: [String: Histogram] = [:]  // route
        var changesStored: UInt64 = 0
        var entriesPulled: UInt64 = 0
        var syncs: UInt64 = 0
        var collections: UInt64 = 0
        var errors: [String: UInt64] = [:]  // code
    }

    private let state = Mutex(State())
    /// The log's writer, whose dropped lines are counted here.
    private let logWriter: LogWriter

    /// `logWriter`: the writer the server's log handler uses (``JSONLogHandler``'s default).
    public init(logWriter: LogWriter = .standardError) {
        self.logWriter = logWriter
    }

    func recordRequest(route: String, status: Int, seconds: Double) {
        state.withLock { state in
            state.requests["\(route)|\(status)", default: 0] += 1
            var histogram = state.latency[route] ?? Histogram()
            for (index, bound) in Self.buckets.enumerated() where seconds <= bound { histogram.counts[index] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            state.latency[route] = histogram
        }
    }

    func recordSync(stored: Int, pulled: Int) {
        state.withLock { state in
            state.syncs += 1
            state.changesStored += UInt64(stored)
            state.entriesPulled += UInt64(pulled)
        }
    }

    func recordCollection() {
        state.withLock { $0.collections += 1 }
    }

    func recordError(code: String) {
        state.withLock { $0.errors[code, default: 0] += 1 }
    }

    /// The Prometheus exposition text.
    public func render() -> String {
        let droppedLogLines = logWriter.droppedLines
        return state.withLock { state in
            var lines: [String] = []
            lines.append("# HELP readinglist_http_requests_total HTTP requests by route and status.")
            lines.append("# TYPE readinglist_http_requests_total counter")
            for key in state.requests.keys.sorted() {
                let parts = key.split(separator: "|", maxSplits: 1)
                lines.append("readinglist_http_requests_total{route=\"\(parts[0])\",status=\"\(parts[1])\"} \(state.requests[key]!)")
            }
            lines.append("# HELP readinglist_http_request_duration_seconds HTTP request latency by route.")
            lines.append("# TYPE readinglist_http_request_duration_seconds histogram")
            for route in state.latency.keys.sorted() {
                let histogram = state.latency[route]!
                for (index, bound) in Self.buckets.enumerated() {
                    lines.append("readinglist_http_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(histogram.counts[index])")
                }
                lines.append("readinglist_http_request_duration_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(histogram.count)")
                lines.append("readinglist_http_request_duration_seconds_sum{route=\"\(route)\"} \(histogram.sum)")
                lines.append("readinglist_http_request_duration_seconds_count{route=\"\(route)\"} \(histogram.count)")
            }
            lines.append("# HELP readinglist_sync_round_trips_total Sync round trips served.")
            lines.append("# TYPE readinglist_sync_round_trips_total counter")
            lines.append("readinglist_sync_round_trips_total \(state.syncs)")
            lines.append("# HELP readinglist_changes_stored_total Changes stored from pushes (new to the server).")
            lines.append("# TYPE readinglist_changes_stored_total counter")
            lines.append("readinglist_changes_stored_total \(state.changesStored)")
            lines.append("# HELP readinglist_entries_pulled_total Log entries sent to clients.")
            lines.append("# TYPE readinglist_entries_pulled_total counter")
            lines.append("readinglist_entries_pulled_total \(state.entriesPulled)")
            lines.append("# HELP readinglist_garbage_collections_total Sync round trips that forgot deleted articles.")
            lines.append("# TYPE readinglist_garbage_collections_total counter")
            lines.append("readinglist_garbage_collections_total \(state.collections)")
            lines.append("# HELP readinglist_sync_errors_total Refused or failed sync requests by error code.")
            lines.append("# TYPE readinglist_sync_errors_total counter")
            for code in state.errors.keys.sorted() { lines.append("readinglist_sync_errors_total{code=\"\(code)\"} \(state.errors[code]!)") }
            lines.append("# HELP readinglist_log_lines_dropped_total Log lines dropped: the log's reader fell behind (a full queue) or went away.")
            lines.append("# TYPE readinglist_log_lines_dropped_total counter")
            lines.append("readinglist_log_lines_dropped_total \(droppedLogLines)")
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
