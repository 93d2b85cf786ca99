import Hummingbird
import Metrics
import Prometheus

/// Runs the rest of a request, the writing of its response body included, with
/// `factory` as swift-metrics' task-local factory: what records through
/// swift-metrics meanwhile (Hummingbird's `MetricsMiddleware`, placed after this
/// one) lands in that server's registry rather than in the process-wide `MetricsSystem`.
struct MetricsFactoryMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: PrometheusMetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let factory = factory
        var response = try await withMetricsFactory(factory) { try await next(request, context) }
        // The body is written after this returns; `MetricsMiddleware` records when it has been.
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            // The writer never leaves this task: `withMetricsFactory` runs the closure in it, at once, and
            // returns when it has. (The checker cannot see that: Hummingbird's `write` is `@concurrent`.)
            nonisolated(unsafe) let writer = writer
            try await withMetricsFactory(factory) { try await body.write(writer) }
        }
        return response
    }
}
