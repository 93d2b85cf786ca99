import Metrics
import Prometheus
import Synchronization

/// The server's metrics, served in the Prometheus text format at `GET /metrics`.
///
/// Each server has a registry of its own (swift-prometheus), never swift-metrics'
/// process-wide `MetricsSystem`: several servers in one process (the tests) count
/// apart, and nothing needs `MetricsSystem.bootstrap`, which a process may call
/// only once. What records through swift-metrics while a request is handled
/// (Hummingbird's `MetricsMiddleware` among them) reaches this registry through
/// ``factory``, which the HTTP layer's `MetricsFactoryMiddleware` (SyncServer) sets as
/// the request's task-local factory.
///
/// The server's own `readinglist_*` metrics are made on the registry directly, not
/// through swift-metrics' `Counter(label:)`, because only the registry writes their
/// `# HELP` lines (and it refuses one name with two help texts).
public final class ServerMetrics: Sendable {
    /// Latency buckets: 1 ms to 5 s.
    static let buckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    /// What `GET /metrics` serves: the server's metrics and whatever records through ``factory``.
    package let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory onto ``registry``: pass it to code that takes one
    /// (`Counter(label:dimensions:factory:)`, `withMetricsFactory`).
    package let factory: PrometheusMetricsFactory

    private let syncs: Prometheus.Counter
    private let changesStored: Prometheus.Counter
    private let entriesPulled: Prometheus.Counter
    private let collections: Prometheus.Counter
    private let droppedLogLines: Prometheus.Counter
    /// How many of the log writer's dropped lines `droppedLogLines` already counts.
    private let droppedLogLinesCounted = Mutex<UInt64>(0)
    /// The log's writer, whose dropped lines are counted here.
    private let logWriter: LogWriter

    /// `logWriter`: the writer the server's log handler uses (`JSONLogHandler`'s default, in SyncServer).
    /// `registry`: where the metrics are kept (a new one unless given).
    public init(logWriter: LogWriter = .standardError, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.logWriter = logWriter
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.buckets
        self.factory = factory
        // The unlabelled counters exist from the start, so that `/metrics` shows them at 0.
        syncs = registry.makeCounter(descriptor: Self.syncsName)
        changesStored = registry.makeCounter(descriptor: Self.changesStoredName)
        entriesPulled = registry.makeCounter(descriptor: Self.entriesPulledName)
        collections = registry.makeCounter(descriptor: Self.collectionsName)
        droppedLogLines = registry.makeCounter(descriptor: Self.droppedLogLinesName)
    }

    package func recordRequest(route: String, status: Int, seconds: Double) {
        registry.makeCounter(descriptor: Self.requestsName, labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.latencyName, labels: [("route", route)], buckets: Self.buckets)
            .record(.nanoseconds(Int64((seconds * 1e9).rounded())))
    }

    package func recordSync(stored: Int, pulled: Int) {
        syncs.increment()
        changesStored.increment(by: Int64(stored))
        entriesPulled.increment(by: Int64(pulled))
    }

    package func recordCollection() {
        collections.increment()
    }

    package func recordError(code: String) {
        registry.makeCounter(descriptor: Self.errorsName, labels: [("code", code)]).increment()
    }

    /// The Prometheus exposition text (format 0.0.4).
    package func render() -> String {
        // The writer keeps its own count; the counter catches up with it here.
        droppedLogLinesCounted.withLock { counted in
            let dropped = logWriter.droppedLines
            if dropped > counted {
                droppedLogLines.increment(by: Int64(dropped - counted))
                counted = dropped
            }
        }
        return registry.emitToString()
    }

    // The names and help texts: dashboards and alerts depend on these names and labels.
    private static var requestsName: MetricNameDescriptor {
        name("http_requests", "total", "HTTP requests by route and status.")
    }
    private static var latencyName: MetricNameDescriptor {
        name("http_request_duration", "seconds", "HTTP request latency by route.")
    }
    private static var syncsName: MetricNameDescriptor {
        name("sync_round_trips", "total", "Sync round trips served.")
    }
    private static var changesStoredName: MetricNameDescriptor {
        name("changes_stored", "total", "Changes stored from pushes (new to the server).")
    }
    private static var entriesPulledName: MetricNameDescriptor {
        name("entries_pulled", "total", "Log entries sent to clients.")
    }
    private static var collectionsName: MetricNameDescriptor {
        name("garbage_collections", "total", "Sync round trips that forgot deleted articles.")
    }
    private static var errorsName: MetricNameDescriptor {
        name("sync_errors", "total", "Refused or failed sync requests by error code.")
    }
    private static var droppedLogLinesName: MetricNameDescriptor {
        name("log_lines_dropped", "total", "Log lines dropped: the log's reader fell behind (a full queue) or went away.")
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "readinglist", metricName: metric, unitName: unit, helpText: help)
    }
}
