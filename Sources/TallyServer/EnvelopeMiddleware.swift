import HTTPTypes
import Hummingbird

/// Turns every error into the JSON envelope (router-level 404 and 405 included) and counts every
/// request by endpoint pattern, method and status.
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        var endpoint = context.endpointPath ?? "unmatched"
        do {
            response = try await next(request, context)
        } catch {
            var answer = APIError.from(error)
            if let routerError = error as? HTTPError, routerError.status == .notFound {
                answer = notFound(request)
                // A 405 is counted under the path's pattern; a path the API does not have, unmatched.
                endpoint = Route.routes(at: request.uri.path).first?.endpointPattern ?? "unmatched"
            }
            response = try answer.response(from: request, context: context)
        }
        if endpoint == "NotFound" { endpoint = "unmatched" }
        metrics.requestFinished(
            endpoint: endpoint, method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - started)
        return response
    }

    /// The router found no route: 405 with `Allow` when the path exists with other methods, else 404.
    private func notFound(_ request: Request) -> APIError {
        let methods = Route.methods(at: request.uri.path)
        guard !methods.isEmpty else {
            return APIError(.notFound, "not_found", "no such endpoint: \(request.uri.path)")
        }
        // HEAD answers wherever GET does (SERVER.md).
        var names: [String] = methods.map { $0.rawValue }
        if methods.contains(HTTPRequest.Method.get) { names.append(HTTPRequest.Method.head.rawValue) }
        let allowed = names.joined(separator: ", ")
        return APIError(
            .methodNotAllowed, "method_not_allowed",
            "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(allowed)",
            headers: [.allow: allowed])
    }
}
