import HTTPTypes

/// One endpoint of the API: method, path pattern (`:name` matches one segment) and the role it
/// needs (nil: open). The table drives registration, authorization and the 405 answers.
struct Route: Sendable {
    let method: HTTPRequest.Method
    let path: String
    let role: Role?

    static let events = Route(method: .post, path: "/v1/events", role: .ingest)
    static let entity = Route(method: .get, path: "/v1/entities/:entity/:key", role: .read)
    static let vectors = Route(method: .post, path: "/v1/vectors", role: .read)
    static let getDefinitions = Route(method: .get, path: "/v1/definitions", role: .read)
    static let putDefinitions = Route(method: .put, path: "/v1/definitions", role: .admin)
    static let health = Route(method: .get, path: "/healthz", role: nil)
    static let ready = Route(method: .get, path: "/readyz", role: nil)
    static let metrics = Route(method: .get, path: "/metrics", role: .admin)
    static let putListMember = Route(method: .put, path: "/v1/lists/:list/members/:member", role: .admin)
    static let deleteListMember = Route(method: .delete, path: "/v1/lists/:list/members/:member", role: .admin)
    static let getListMember = Route(method: .get, path: "/v1/lists/:list/members/:member", role: .admin)
    static let listMembers = Route(method: .get, path: "/v1/lists/:list", role: .admin)
    static let putFlag = Route(method: .put, path: "/v1/flags/:flag/:key", role: .admin)
    static let deleteFlag = Route(method: .delete, path: "/v1/flags/:flag/:key", role: .admin)
    static let getFlag = Route(method: .get, path: "/v1/flags/:flag/:key", role: .admin)
    static let decide = Route(method: .post, path: "/v1/decide", role: .decide)
    static let decision = Route(method: .get, path: "/v1/decisions/:id", role: .audit)
    static let replay = Route(method: .post, path: "/v1/decisions/:id/replay", role: .audit)

    static let all: [Route] = [
        events, entity, vectors, getDefinitions, putDefinitions, health, ready, metrics, getListMember,
        putListMember, deleteListMember, listMembers, getFlag, putFlag, deleteFlag, decide, decision, replay,
    ]

    /// Methods the API serves at `path`, in table order (empty: no such path).
    static func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return all.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { want, have in
                    want.hasPrefix(":") ? !have.isEmpty : want == have
                }
        }.map(\.method)
    }
}
