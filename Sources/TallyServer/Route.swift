import HTTPTypes

/// One endpoint of the API: method, path pattern (`:name` matches one segment), the role it
/// needs (nil: open) and the query parameters it takes. The table drives registration,
/// authorization, the refusal of unknown query parameters and the 405 answers.
struct Route: Sendable {
    let method: HTTPRequest.Method
    let path: String
    let role: Role?
    /// The query parameters the endpoint takes; any other, or one given twice, is 400.
    var query: [String] = []
    /// Said with an unknown query parameter, when the endpoint takes its options elsewhere.
    var queryHint: String? = nil

    static let events = Route(method: .post, path: "/v1/events", role: .ingest)
    static let entity = Route(method: .get, path: "/v1/entities/:entity/:key", role: .read, query: ["lsn", "at"])
    static let vectors = Route(
        method: .post, path: "/v1/vectors", role: .read, queryHint: "give lsn and at in the JSON body")
    static let getDefinitions = Route(method: .get, path: "/v1/definitions", role: .read, query: ["lsn", "at"])
    static let putDefinitions = Route(method: .put, path: "/v1/definitions", role: .admin, query: ["wait"])
    static let health = Route(method: .get, path: "/healthz", role: nil)
    static let ready = Route(method: .get, path: "/readyz", role: nil)
    static let metrics = Route(method: .get, path: "/metrics", role: .admin)
    static let putListMember = Route(method: .put, path: "/v1/lists/:list/members/:member", role: .admin)
    static let deleteListMember = Route(
        method: .delete, path: "/v1/lists/:list/members/:member", role: .admin, query: ["at"])
    static let getListMember = Route(
        method: .get, path: "/v1/lists/:list/members/:member", role: .admin, query: ["lsn", "at"])
    static let listMembers = Route(
        method: .get, path: "/v1/lists/:list", role: .admin, query: ["lsn", "at", "after", "limit"])
    static let putFlag = Route(method: .put, path: "/v1/flags/:flag/:key", role: .admin)
    static let deleteFlag = Route(method: .delete, path: "/v1/flags/:flag/:key", role: .admin, query: ["at"])
    static let getFlag = Route(method: .get, path: "/v1/flags/:flag/:key", role: .admin, query: ["lsn", "at"])
    static let decide = Route(
        method: .post, path: "/v1/decide", role: .decide, queryHint: "give the decision's options in the JSON body")
    static let decision = Route(method: .get, path: "/v1/decisions/:id", role: .audit)
    static let replay = Route(method: .post, path: "/v1/decisions/:id/replay", role: .audit)

    static let all: [Route] = [
        events, entity, vectors, getDefinitions, putDefinitions, health, ready, metrics, getListMember,
        putListMember, deleteListMember, listMembers, getFlag, putFlag, deleteFlag, decide, decision, replay,
    ]

    /// Methods the API serves at `path`, in table order (empty: no such path).
    static func methods(at path: String) -> [HTTPRequest.Method] { routes(at: path).map(\.method) }

    /// The routes whose pattern `path` matches, in table order.
    static func routes(at path: String) -> [Route] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return all.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { want, have in
                    want.hasPrefix(":") ? !have.isEmpty : want == have
                }
        }
    }

    /// The path pattern as the router names it in metrics: `/v1/entities/{entity}/{key}`.
    var endpointPattern: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }.joined(separator: "/")
    }
}
