import Foundation
import HTTPTypes
import Hummingbird
import NIOPosix
import Tally

extension TallyServer {
    /// `GET /v1/entities/{entity}/{key}[?lsn=N&at=T]`: one entity's vector and the snapshot token.
    func entityVector(_ request: Request, _ context: BasicRequestContext, _ query: [String: String]) async throws
        -> Response
    {
        let entity = try pathParameter("entity", context)
        let key = try pathParameter("key", context)
        let point = try ReadPoint.query(query)
        let (vector, token) = try await read(at: point) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            return (try snapshot.vector(entity: entity, key: key, at: token), token)
        }
        var json: [UInt8] = []
        vector.appendJSON(to: &json, token: token)
        return .json(json, headers: Self.recomputedHeader(vector.recomputed))
    }

    /// `Tally-Recomputed: true` when some value of the answer was recomputed from the log (a token
    /// older than an entity's newest change), else `false`. A header, not a body member: the body
    /// is a function of the token alone, and this depends on what was ingested since (VIEWS.md).
    static func recomputedHeader(_ recomputed: Bool) -> HTTPFields {
        [recomputedField: recomputed ? "true" : "false"]
    }

    static let recomputedField = HTTPField.Name("Tally-Recomputed")!

    /// `POST /v1/vectors`: several entities in one snapshot (one read transaction), in request order,
    /// and on-demand aggregates over the retained log in the same snapshot (a scan each, reported
    /// as `scanned`).
    func vectors(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let type = request.mediaType, type != "application/json", type != "application/x-www-form-urlencoded" {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(type) is not accepted: send application/json")
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        let (keys, aggregates, point) = try parseVectorsRequest(body)
        let (vectors, results, token) = try await read(at: point, scans: !aggregates.isEmpty) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            let vectors = try keys.map { try snapshot.vector(entity: $0.entity, key: $0.key, at: token) }
            let results = try aggregates.map { asked in
                let aggregate = try AdHocAggregate(name: asked.name, json: asked.definition, in: snapshot)
                return (asked, try snapshot.aggregate(aggregate, key: asked.key, at: token))
            }
            return (vectors, results, token)
        }
        var json = JSONOutput(reservingCapacity: 256 * vectors.count + 128 * results.count)
        json.object { json in
            json.member("vectors") { json in
                json.array { json in
                    for vector in vectors { json.element { $0.raw { vector.appendJSON(to: &$0) } } }
                }
            }
            if !aggregates.isEmpty {
                json.member("aggregates") { json in
                    json.array { json in
                        for (asked, result) in results {
                            json.element { json in
                                json.object { json in
                                    json.member("name") { $0.string(result.name) }
                                    json.member("key") { $0.string(asked.key) }
                                    json.member("value") { json in json.raw { result.value.appendJSON(to: &$0) } }
                                    json.member("scanned") { $0.number(result.scanned) }
                                }
                            }
                        }
                    }
                }
            }
            json.member("snapshot") { $0.raw { token.appendJSON(to: &$0) } }
        }
        return .json(json.bytes, headers: Self.recomputedHeader(vectors.contains { $0.recomputed }))
    }

    /// One on-demand aggregate asked in `POST /v1/vectors`.
    struct AskedAggregate: Sendable {
        let name: String
        let key: String
        /// The view-shaped definition, as JSON text.
        let definition: String
    }

    /// At most this many on-demand aggregates per request (each is a scan of the log).
    static let maxAggregatesPerRequest = 16

    /// `[{"name":"n","key":"c1","definition":{"entity":…,"from":…,"aggregate":…,"window":…,"where":…}}]`.
    private func askedAggregates(_ list: [StrictJSON.Value]) throws(APIError) -> [AskedAggregate] {
        guard list.count <= Self.maxAggregatesPerRequest else {
            throw APIError(
                .contentTooLarge, "too_many_aggregates",
                "\(list.count) aggregates in one request; the limit is \(Self.maxAggregatesPerRequest)")
        }
        return try list.enumerated().map { index, item throws(APIError) -> AskedAggregate in
            guard case .object(let fields) = item else {
                throw ReadPoint.invalid("aggregates[\(index)] must be an object")
            }
            var name: String?
            var key: String?
            var definition: String?
            for field in fields {
                switch (field.key, field.value) {
                case ("name", .string(let text)): name = text
                case ("key", .string(let text)): key = text
                case ("definition", .object):
                    var json = JSONOutput()
                    json.value(field.value)
                    definition = String(decoding: json.bytes, as: UTF8.self)
                case ("name", _), ("key", _):
                    throw ReadPoint.invalid("aggregates[\(index)]: '\(field.key)' must be a string")
                case ("definition", _):
                    throw ReadPoint.invalid("aggregates[\(index)]: definition must be an object, written like a view")
                default:
                    throw ReadPoint.invalid(
                        "aggregates[\(index)]: unknown member '\(field.key)'; each takes name, key and definition")
                }
            }
            guard let name, let key, let definition else {
                throw ReadPoint.invalid("aggregates[\(index)] needs name, key and definition")
            }
            return AskedAggregate(name: name, key: key, definition: definition)
        }
    }

    /// Runs a read transaction. At the current LSN it runs inline: vectors come from maintained
    /// state in microseconds. A read at an explicit `lsn` may recompute windows from the log (a
    /// scan), so it runs on NIO's blocking thread pool and never stalls the request executors; so
    /// does any read that says it `scans` (a list's members).
    func read<Value: Sendable>(
        at point: ReadPoint, scans: Bool = false, _ body: @escaping @Sendable (Snapshot) throws -> Value
    ) async throws -> Value {
        let store = store
        guard point.lsn != nil || scans else { return try store.read(body) }
        return try await NIOThreadPool.singleton.runIfActive { try store.read(body) }
    }

    /// `{"entities":[{"entity":"card","key":"c1"},…],"aggregates":[…]?,"lsn":N?,"at":T?}`; anything
    /// else is 400.
    private func parseVectorsRequest(_ body: [UInt8]) throws -> (
        [(entity: String, key: String)], [AskedAggregate], ReadPoint
    ) {
        guard case .object(let members) = try StrictJSON.parse(body) else {
            throw ReadPoint.invalid(#"the body must be an object: {"entities":[{"entity":…,"key":…}],"lsn":…,"at":…}"#)
        }
        var point = ReadPoint()
        var entities: [StrictJSON.Value]?
        var aggregates: [AskedAggregate] = []
        for member in members {
            switch member.key {
            case "entities":
                guard case .array(let list) = member.value else { throw ReadPoint.invalid("entities must be an array") }
                entities = list
            case "aggregates":
                guard case .array(let list) = member.value else {
                    throw ReadPoint.invalid("aggregates must be an array")
                }
                aggregates = try askedAggregates(list)
            case "lsn", "at": try point.set(member: member.key, member.value)
            default:
                throw ReadPoint.invalid(
                    "unknown member '\(member.key)'; the body takes entities, aggregates, lsn and at")
            }
        }
        if entities == nil, !aggregates.isEmpty { return ([], aggregates, point) }
        guard let entities else {
            throw ReadPoint.invalid("entities must list at least one {\"entity\":…,\"key\":…}")
        }
        return (try entityKeys(entities), aggregates, point)
    }

    /// `[{"entity":"card","key":"c1"},…]`: at least one, at most ``ServerLimits/maxVectorsPerRequest``
    /// (413 `too_many_entities`); anything else is 400.
    func entityKeys(_ entities: [StrictJSON.Value]) throws(APIError) -> [(entity: String, key: String)] {
        guard !entities.isEmpty else {
            throw ReadPoint.invalid("entities must list at least one {\"entity\":…,\"key\":…}")
        }
        guard entities.count <= limits.maxVectorsPerRequest else {
            throw APIError(
                .contentTooLarge, "too_many_entities",
                "\(entities.count) entities in one request; the limit is \(limits.maxVectorsPerRequest)")
        }
        return try entities.enumerated().map { index, item throws(APIError) -> (entity: String, key: String) in
            guard case .object(let fields) = item else {
                throw ReadPoint.invalid("entities[\(index)] must be an object")
            }
            var entity: String?
            var key: String?
            for field in fields {
                switch (field.key, field.value) {
                case ("entity", .string(let text)): entity = text
                case ("key", .string(let text)): key = text
                case ("entity", _), ("key", _):
                    throw ReadPoint.invalid("entities[\(index)]: '\(field.key)' must be a string")
                default:
                    throw ReadPoint.invalid(
                        "entities[\(index)]: unknown member '\(field.key)'; each entity takes entity and key")
                }
            }
            guard let entity, let key else {
                throw ReadPoint.invalid("entities[\(index)] needs both entity and key (strings)")
            }
            return (entity, key)
        }
    }

    /// A path segment, percent-decoded.
    func pathParameter(_ name: String, _ context: BasicRequestContext) throws(APIError) -> String {
        guard let raw = context.parameters.get(name), !raw.isEmpty else {
            throw ReadPoint.invalid("the \(name) in the path is empty or not valid percent-encoding")
        }
        // Most keys carry no escape: Foundation's decoding costs more than the whole vector read.
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return String(raw) }
        guard let decoded = raw.removingPercentEncoding, !decoded.isEmpty else {
            throw ReadPoint.invalid("the \(name) in the path is empty or not valid percent-encoding")
        }
        return decoded
    }
}
