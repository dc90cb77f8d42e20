import Foundation
import HTTPTypes
import Hummingbird
import NIOPosix
import Tally

extension TallyServer {
    /// `GET /v1/entities/{entity}/{key}[?lsn=N&at=T]`: one entity's vector and the snapshot token.
    func entityVector(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let entity = try pathParameter("entity", context)
        let key = try pathParameter("key", context)
        let point = try ReadPoint.query(request.uri.queryParameters)
        let (vector, token) = try await read(at: point) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            return (try snapshot.vector(entity: entity, key: key, at: token), token)
        }
        var json: [UInt8] = []
        vector.appendJSON(to: &json, token: token)
        return .json(json)
    }

    /// `POST /v1/vectors`: several entities in one snapshot (one read transaction), in request order.
    func vectors(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let type = request.mediaType, type != "application/json", type != "application/x-www-form-urlencoded" {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(type) is not accepted: send application/json")
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        let (keys, point) = try parseVectorsRequest(body)
        let (vectors, token) = try await read(at: point) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            return (try keys.map { try snapshot.vector(entity: $0.entity, key: $0.key, at: token) }, token)
        }
        var json = JSONOutput(reservingCapacity: 256 * vectors.count)
        json.object { json in
            json.member("vectors") { json in
                json.array { json in
                    for vector in vectors { json.element { $0.raw { vector.appendJSON(to: &$0) } } }
                }
            }
            json.member("snapshot") { $0.raw { token.appendJSON(to: &$0) } }
        }
        return .json(json.bytes)
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

    /// `{"entities":[{"entity":"card","key":"c1"},…],"lsn":N?,"at":T?}`; anything else is 400.
    private func parseVectorsRequest(_ body: [UInt8]) throws -> ([(entity: String, key: String)], ReadPoint) {
        guard case .object(let members) = try StrictJSON.parse(body) else {
            throw ReadPoint.invalid(#"the body must be an object: {"entities":[{"entity":…,"key":…}],"lsn":…,"at":…}"#)
        }
        var point = ReadPoint()
        var entities: [StrictJSON.Value]?
        for member in members {
            switch member.key {
            case "entities":
                guard case .array(let list) = member.value else { throw ReadPoint.invalid("entities must be an array") }
                entities = list
            case "lsn", "at": try point.set(member: member.key, member.value)
            default: throw ReadPoint.invalid("unknown member '\(member.key)'; the body takes entities, lsn and at")
            }
        }
        guard let entities else {
            throw ReadPoint.invalid("entities must list at least one {\"entity\":…,\"key\":…}")
        }
        return (try entityKeys(entities), point)
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
