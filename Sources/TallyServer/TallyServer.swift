import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Tally
import UnixSignals

/// The HTTP/JSON server of a store (SPEC §3), on Hummingbird 2.
///
/// ```swift
/// let store = try Tally.open(directory: "tally-data", definitions: definitions)
/// let server = TallyServer(store: store, authenticator: Authenticator(tokens: tokens))
/// try await server.run(host: "127.0.0.1", port: 8080)   // until SIGTERM/SIGINT; then closes the store
/// ```
///
/// Every answer is JSON; every 4xx and 5xx is the ``APIError`` envelope. Endpoints and statuses:
/// `Schemas/openapi.yaml`; operations: `docs/SERVER.md`.
public struct TallyServer: Sendable {
    public let store: Tally
    public let authenticator: Authenticator
    public let limits: ServerLimits
    public let metrics: ServerMetrics
    let logger: Logger
    /// The wall clock (epoch ms) for freshness gauges.
    let clock: @Sendable () -> Int64

    public init(
        store: Tally, authenticator: Authenticator, limits: ServerLimits = ServerLimits(),
        metrics: ServerMetrics = ServerMetrics(), logger: Logger = Logger(label: "tally.server")
    ) {
        self.store = store
        self.authenticator = authenticator
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
        self.clock = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
        store.observeCommits { [metrics] report in metrics.committed(report) }
    }

    /// The router with every endpoint of the API and the error/metrics middleware.
    public func router() -> Router<BasicRequestContext> {
        // HEAD answers wherever GET does (the same status and headers, no body).
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: EnvelopeMiddleware(metrics: metrics))
        on(.events, router) { request, context, _ in try await ingest(request, context) }
        on(.entity, router) { request, context, query in try await entityVector(request, context, query) }
        on(.vectors, router) { request, context, _ in try await vectors(request, context) }
        on(.getDefinitions, router) { _, _, query in try await definitionsResponse(query) }
        on(.putDefinitions, router) { request, _, query in try await applyDefinitions(request, query) }
        on(.putListMember, router) { request, context, query in
            try await changeMark(.list, add: true, request, context, query)
        }
        on(.deleteListMember, router) { request, context, query in
            try await changeMark(.list, add: false, request, context, query)
        }
        on(.getListMember, router) { request, context, query in try await readMark(.list, request, context, query) }
        on(.listMembers, router) { request, context, query in try await listMembers(request, context, query) }
        on(.putFlag, router) { request, context, query in
            try await changeMark(.flag, add: true, request, context, query)
        }
        on(.deleteFlag, router) { request, context, query in
            try await changeMark(.flag, add: false, request, context, query)
        }
        on(.getFlag, router) { request, context, query in try await readMark(.flag, request, context, query) }
        on(.decide, router) { request, context, _ in try await decide(request, context) }
        on(.decision, router) { request, context, _ in try await recordedDecision(request, context) }
        on(.replay, router) { request, context, _ in try await replayDecision(request, context) }
        on(.health, router) { _, _, _ in
            var json = JSONOutput()
            json.object { $0.member("status") { $0.string("ok") } }
            return .json(json.bytes)
        }
        on(.ready, router) { _, _, _ in try readiness() }
        on(.metrics, router) { _, _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(store: store, now: clock()))))
        }
        return router
    }

    /// Registers `route`: authorization by its role first, then its query parameters checked
    /// against the route's (``query(_:allowed:hint:)``), then `handler` with them by name.
    private func on(
        _ route: Route, _ router: Router<BasicRequestContext>,
        _ handler: @escaping @Sendable (Request, BasicRequestContext, [String: String]) async throws -> Response
    ) {
        let authenticator = authenticator
        router.on(RouterPath(route.path), method: route.method) { request, context in
            if let role = route.role { try authenticator.authorize(request, for: role) }
            let query = try Self.query(request, allowed: route.query, hint: route.queryHint)
            return try await handler(request, context, query)
        }
    }

    /// The application serving ``router()`` on `host:port` (port 0: any free port, reported to
    /// `onServerRunning`).
    public func application(
        host: String, port: Int, onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            server: .http1(configuration: HTTP1Channel.Configuration(idleTimeout: .seconds(limits.idleTimeoutSeconds))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "tally"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: stops accepting connections,
    /// finishes the requests in flight, and closes the store (which commits queued writes).
    ///
    /// `companions` run beside the server (e.g. the demo's event feed); when one returns, the
    /// server shuts down gracefully too. They are asked to stop before the server is.
    public func run(
        host: String, port: Int, companions: [any Service] = [],
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) async throws {
        let server = ServiceGroupConfiguration.ServiceConfiguration(
            service: application(host: host, port: port, onServerRunning: onServerRunning))
        let others = companions.map { service in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: service, successTerminationBehavior: .gracefullyShutdownGroup)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [server] + others, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            store.close()
            throw error
        }
        store.close()
        logger.info("tally serve stopped; store closed", metadata: ["directory": "\(store.directory)"])
    }

    private func readiness() throws -> Response {
        if let refusal = store.writeRefusal { throw APIError(refusal) }
        if store.isResizingMap {
            throw APIError(
                .serviceUnavailable, "not_ready",
                "the store's memory map is being resized; reads wait until it is done")
        }
        if let progress = store.definitionsChangeInProgress {
            throw APIError(
                .serviceUnavailable, "not_ready",
                "definitions version \(progress.version) is being backfilled: \(progress.replayedEvents) events "
                    + "replayed, up to LSN \(progress.target); reads are served with version "
                    + "\(store.servedDefinitionsVersion) meanwhile")
        }
        let lsn = try store.read { snapshot in try snapshot.lsn }
        var json = JSONOutput()
        json.object { json in
            json.member("status") { $0.string("ready") }
            json.member("lsn") { $0.number(lsn.rawValue) }
            json.member("definitions_version") { $0.number(store.servedDefinitionsVersion) }
        }
        return .json(json.bytes)
    }
}
