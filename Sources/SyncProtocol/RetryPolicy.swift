/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `0 ... min(maxDelay, baseDelay * 2^n)`. Pure: the random fraction is passed in.
///
/// Declared here, beside `ServerSyncMachine` (which decides when a round
/// trip is retried and how long to wait); `SyncClient` names it too.
public struct RetryPolicy: Sendable, Hashable {
    /// How many round trips are tried in all (1: no retry).
    public var maxAttempts: Int
    /// The delay before the first retry; each next one doubles it.
    public var baseDelay: Duration
    /// The longest delay between two attempts.
    public var maxDelay: Duration

    /// A policy of `maxAttempts` attempts with exponential backoff from `baseDelay` up to `maxDelay`.
    public init(maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(10)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before retry number `attempt` (1-based), given `fraction` in 0...1.
    public func delay(beforeRetry attempt: Int, fraction: Double) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt - 1, 20)))
        return ceiling * max(0, min(1, fraction))
    }

    /// No retries (tests of failure paths).
    public static let none = RetryPolicy(maxAttempts: 1)
}
