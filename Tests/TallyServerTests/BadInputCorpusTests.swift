import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TallyServer

/// One bad request and what it must answer.
struct BadRequest: Sendable, CustomStringConvertible {
    var name: String
    var method: HTTPRequest.Method
    var uri: String
    var role: Role? = .admin
    var contentType: String? = nil
    var contentEncoding: String? = nil
    var body: [UInt8]? = nil
    var status: Int
    var code: String

    var description: String { name }

    init(
        _ name: String, _ method: HTTPRequest.Method, _ uri: String, role: Role? = .admin, contentType: String? = nil,
        contentEncoding: String? = nil, body: String? = nil, bytes: [UInt8]? = nil, _ status: Int, _ code: String
    ) {
        self.name = name
        self.method = method
        self.uri = uri
        self.role = role
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.body = bytes ?? body.map { Array($0.utf8) }
        self.status = status
        self.code = code
    }
}

@Suite("bad-input corpus")
struct BadInputCorpusTests {
    static let nested = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
    static let key600 = String(repeating: "k", count: 600)

    /// Single events that the engine rejects (422 with the rejection code).
    static func event(_ replacing: String, with value: String) -> String {
        authorization("bad").replacingOccurrences(of: replacing, with: value)
    }

    static let corpus: [BadRequest] = [
        // Malformed bodies (400 malformed_json): nothing is parsed, nothing changes.
        BadRequest("empty body", .post, "/v1/events", body: "", 400, "malformed_json"),
        BadRequest("truncated object", .post, "/v1/events", body: #"{"type":"authorization""#, 400, "malformed_json"),
        BadRequest("trailing garbage", .post, "/v1/events", body: authorization("x") + "}", 400, "malformed_json"),
        BadRequest("NaN amount", .post, "/v1/events", body: event("12.50", with: "NaN"), 400, "malformed_json"),
        BadRequest(
            "Infinity amount", .post, "/v1/events", body: event("12.50", with: "Infinity"), 400, "malformed_json"),
        BadRequest("single quotes", .post, "/v1/events", body: "{'type':'authorization'}", 400, "malformed_json"),
        BadRequest(
            "duplicate keys", .post, "/v1/events", body: #"{"type":"authorization","type":"decline"}"#, 400,
            "malformed_json"),
        BadRequest(
            "invalid UTF-8", .post, "/v1/events", bytes: Array(#"{"type":"a"#.utf8) + [0xC3, 0x28, 0x22, 0x7D], 400,
            "malformed_json"),
        BadRequest("lone surrogate", .post, "/v1/events", body: #"{"type":"\ud800"}"#, 400, "malformed_json"),
        BadRequest("nesting deeper than 32", .post, "/v1/events", body: nested, 400, "malformed_json"),
        BadRequest("a bare number", .post, "/v1/events", body: "42", 400, "malformed_json"),
        BadRequest("a bare string", .post, "/v1/events", body: #""event""#, 400, "malformed_json"),
        // Single events the engine rejects: 422 with the rejection code.
        BadRequest(
            "unknown type", .post, "/v1/events", body: event("authorization", with: "payment"), 422, "unknown_type"),
        BadRequest(
            "unknown field", .post, "/v1/events", body: event(#""country":"FR""#, with: #""country":"FR","x":1"#),
            422, "unknown_field"),
        BadRequest(
            "missing field", .post, "/v1/events", body: event(#","country":"FR""#, with: ""), 422, "missing_field"),
        BadRequest("amount as bool", .post, "/v1/events", body: event("12.50", with: "true"), 422, "wrong_type"),
        BadRequest("card as number", .post, "/v1/events", body: event(#""c1""#, with: "17"), 422, "wrong_type"),
        BadRequest("null card", .post, "/v1/events", body: event(#""c1""#, with: "null"), 422, "wrong_type"),
        BadRequest("1e400 amount", .post, "/v1/events", body: event("12.50", with: "1e400"), 422, "out_of_range"),
        BadRequest(
            "7 decimal places", .post, "/v1/events", body: event("12.50", with: "0.0000001"), 422, "out_of_range"),
        BadRequest("negative time", .post, "/v1/events", body: event("\(baseTime)", with: "-5"), 422, "invalid_value"),
        BadRequest(
            "bad RFC 3339 time", .post, "/v1/events", body: event("\(baseTime)", with: #""yesterday""#), 422,
            "invalid_value"),
        BadRequest(
            "600-byte key", .post, "/v1/events", body: event(#""c1""#, with: "\"\(key600)\""), 422, "key_too_long"),
        BadRequest(
            "600-byte id", .post, "/v1/events", body: event(#""bad""#, with: "\"\(key600)\""), 422, "key_too_long"),
        BadRequest(
            "future time", .post, "/v1/events", body: event("\(baseTime)", with: "253402300799000"), 422, "future"),
        BadRequest(
            "missing type", .post, "/v1/events", body: event(#""type":"authorization","#, with: ""), 422,
            "missing_type"),
        // Limits, media types, methods and routes.
        BadRequest(
            "huge body", .post, "/v1/events", body: "[" + String(repeating: " ", count: 70_000) + "]", 413,
            "body_too_large"),
        BadRequest(
            "long NDJSON line", .post, "/v1/events", contentType: "application/x-ndjson",
            body: event("m1", with: String(repeating: "m", count: 9000)), 413, "line_too_long"),
        BadRequest(
            "text/plain body", .post, "/v1/events", contentType: "text/plain", body: authorization("x"), 415,
            "unsupported_media_type"),
        BadRequest("GET on events", .get, "/v1/events", 405, "method_not_allowed"),
        BadRequest("DELETE on an entity", .delete, "/v1/entities/card/c1", 405, "method_not_allowed"),
        BadRequest("PATCH on vectors", .patch, "/v1/vectors", body: "{}", 405, "method_not_allowed"),
        BadRequest("POST on healthz", .post, "/healthz", body: "{}", 405, "method_not_allowed"),
        BadRequest("unknown route", .get, "/v1/nothing", 404, "not_found"),
        BadRequest("root", .get, "/", 404, "not_found"),
        BadRequest("entity without key", .get, "/v1/entities/card", 404, "not_found"),
        BadRequest("entity with extra segment", .get, "/v1/entities/card/c1/x", 404, "not_found"),
        // Auth.
        BadRequest("no token", .post, "/v1/events", role: nil, body: authorization("x"), 401, "unauthorized"),
        BadRequest(
            "read token ingesting", .post, "/v1/events", role: .read, body: authorization("x"), 403, "forbidden"),
        BadRequest("ingest token reading", .get, "/v1/entities/card/c1", role: .ingest, 403, "forbidden"),
        BadRequest("decide token on metrics", .get, "/metrics", role: .decide, 403, "forbidden"),
        BadRequest(
            "audit token on PUT definitions", .put, "/v1/definitions", role: .audit, body: "{}", 403, "forbidden"),
        // Reads with bad lsn / at.
        BadRequest("unknown entity type", .get, "/v1/entities/planet/p1", 404, "unknown_entity"),
        BadRequest("negative lsn", .get, "/v1/entities/card/c1?lsn=-1", 400, "invalid_argument"),
        BadRequest("text lsn", .get, "/v1/entities/card/c1?lsn=abc", 400, "invalid_argument"),
        BadRequest("lsn beyond the store", .get, "/v1/entities/card/c1?lsn=999999", 400, "invalid_argument"),
        BadRequest(
            "lsn past UInt64", .get, "/v1/entities/card/c1?lsn=99999999999999999999999", 400, "invalid_argument"),
        BadRequest("negative at", .get, "/v1/entities/card/c1?at=-5", 400, "invalid_argument"),
        BadRequest("garbage at", .get, "/v1/entities/card/c1?at=noon", 400, "invalid_argument"),
        BadRequest("sub-ms at", .get, "/v1/entities/card/c1?at=2026-05-28T20:26:40.1234Z", 400, "invalid_argument"),
        BadRequest("unknown query parameter", .get, "/v1/entities/card/c1?as_of=1", 400, "invalid_argument"),
        BadRequest("lsn twice", .get, "/v1/entities/card/c1?lsn=1&lsn=2", 400, "invalid_argument"),
        BadRequest("vectors: not an object", .post, "/v1/vectors", body: "[]", 400, "invalid_argument"),
        BadRequest("vectors: malformed", .post, "/v1/vectors", body: "{", 400, "malformed_json"),
        BadRequest("vectors: no entities", .post, "/v1/vectors", body: #"{"entities":[]}"#, 400, "invalid_argument"),
        BadRequest(
            "vectors: unknown member", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"card","key":"c1"}],"when":1}"#, 400, "invalid_argument"),
        BadRequest(
            "vectors: key as number", .post, "/v1/vectors", body: #"{"entities":[{"entity":"card","key":1}]}"#,
            400, "invalid_argument"),
        BadRequest(
            "vectors: lsn as text", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"card","key":"c1"}],"lsn":"1"}"#, 400, "invalid_argument"),
        BadRequest(
            "vectors: fractional lsn", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"card","key":"c1"}],"lsn":1.5}"#, 400, "invalid_argument"),
        BadRequest(
            "vectors: NaN at", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"card","key":"c1"}],"at":NaN}"#, 400, "malformed_json"),
        BadRequest(
            "vectors: unknown entity", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"planet","key":"p"}]}"#, 404, "unknown_entity"),
        BadRequest(
            "vectors: 600-byte key", .post, "/v1/vectors",
            body: #"{"entities":[{"entity":"card","key":"\#(key600)"}]}"#, 400, "invalid_argument"),
        BadRequest(
            "vectors: text/plain", .post, "/v1/vectors", contentType: "text/plain", body: "{}", 415,
            "unsupported_media_type"),
        BadRequest(
            "decide: a late scored event", .post, "/v1/decide",
            body: #"{"request":\#(authorization("late", time: baseTime - 7_200_000)),"at":\#(baseTime)}"#, 422,
            "event_rejected"),
        BadRequest(
            "decide: a scored event in conflict with a stored one", .post, "/v1/decide",
            body: #"{"request":\#(authorization("seed0", card: "c0", amount: "1.00", time: baseTime))}"#, 422,
            "event_rejected"),
        BadRequest(
            "decide: unknown entity", .post, "/v1/decide",
            body: #"{"request":{},"entities":[{"entity":"planet","key":"p"}]}"#, 404, "unknown_entity"),
        BadRequest(
            "decide: request not an object", .post, "/v1/decide", body: #"{"request":"x"}"#, 400, "invalid_argument"),
        BadRequest("decision id 0", .get, "/v1/decisions/0", 404, "unknown_decision"),
        BadRequest("decision id not a number", .get, "/v1/decisions/abc", 404, "unknown_decision"),
        BadRequest("unknown decision", .post, "/v1/decisions/7/replay", 404, "unknown_decision"),
        BadRequest(
            "PUT definitions: no entities or events", .put, "/v1/definitions", body: "{}", 422, "invalid_definitions"),
        BadRequest(
            "PUT definitions: not YAML", .put, "/v1/definitions", body: "entities: [unclosed", 422,
            "invalid_definitions"),
        BadRequest(
            "PUT definitions: amount becomes an int", .put, "/v1/definitions",
            body: DefinitionsEndpointTests.cardsText.replacingOccurrences(of: "amount: decimal", with: "amount: int"),
            409, "incompatible_definitions"),
        BadRequest(
            "PUT definitions: wait=maybe", .put, "/v1/definitions?wait=maybe", body: DefinitionsEndpointTests.cardsText,
            400, "invalid_argument"),
        BadRequest(
            "PUT definitions: an encoded wait name is wait", .put, "/v1/definitions?w%61it=maybe",
            body: DefinitionsEndpointTests.cardsText, 400, "invalid_argument"),
        // Every endpoint refuses query parameters it does not take (a read's lsn or at silently
        // dropped would answer another snapshot).
        BadRequest(
            "vectors: lsn in the query", .post, "/v1/vectors?lsn=1",
            body: #"{"entities":[{"entity":"card","key":"c1"}]}"#, 400, "invalid_argument"),
        BadRequest(
            "events: unknown query parameter", .post, "/v1/events?dry_run=1", body: authorization("q1"), 400,
            "invalid_argument"),
        BadRequest(
            "PUT definitions: wait twice", .put, "/v1/definitions?wait=false&wait=false",
            body: DefinitionsEndpointTests.cardsText, 400, "invalid_argument"),
        BadRequest(
            "GET definitions: unknown query parameter", .get, "/v1/definitions?format=yaml", 400,
            "invalid_argument"),
        BadRequest("metrics: unknown query parameter", .get, "/metrics?name=x", 400, "invalid_argument"),
        BadRequest(
            "decide: lsn in the query", .post, "/v1/decide?lsn=1", body: #"{"request":{}}"#, 400,
            "invalid_argument"),
        BadRequest(
            "gzip-encoded events", .post, "/v1/events", contentEncoding: "gzip", body: authorization("gz"), 415,
            "unsupported_media_type"),
    ]

    static var limits: ServerLimits {
        var limits = ServerLimits()
        limits.maxBodyBytes = 64 << 10
        limits.maxNDJSONLineBytes = 8 << 10
        return limits
    }

    @Test("every bad request answers its documented status with the envelope and changes nothing")
    func corpusAnswersAndChangesNothing() async throws {
        #expect(Self.corpus.count >= 40)
        let fixture = try ServerFixture(limits: Self.limits)
        defer { fixture.remove() }
        try await fixture.test { client in
            // Some state first, so "unchanged" means something.
            let seed = (0..<5).map { authorization("seed\($0)", card: "c\($0 % 2)", time: baseTime + Int64($0)) }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(seed.joined(separator: ","))]")
            let lsn = fixture.lsn
            let checksum = try await Self.vectorChecksum(client, fixture)
            for bad in Self.corpus {
                var headers = fixture.headers(bad.role, contentType: bad.contentType)
                if let coding = bad.contentEncoding { headers[.contentEncoding] = coding }
                let response = try await client.send(bad.uri, bad.method, headers: headers, bytes: bad.body ?? [])
                #expect(response.status.code == bad.status, "\(bad.name): \(response.text)")
                #expect(response.errorCode == bad.code, "\(bad.name): \(response.text)")
                #expect(response.isEnvelope, "\(bad.name): \(response.text)")
                #expect(response.headers[.contentType] == "application/json", "\(bad.name)")
                #expect(fixture.lsn == lsn, "\(bad.name) changed the LSN")
                #expect(try await Self.vectorChecksum(client, fixture) == checksum, "\(bad.name) changed a vector")
            }
            // A line of exactly the limit is not too long with a CRLF ending (its event is then
            // judged, and rejected: the merchant is longer than a key may be).
            let line = Self.event("m1", with: String(repeating: "m", count: 8192 - authorization("bad").utf8.count + 2))
            #expect(line.utf8.count == 8192)
            let crlf = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.admin, contentType: "application/x-ndjson"),
                body: line + "\r\n")
            #expect(crlf.status == .ok, "\(crlf.text)")
            #expect(crlf.text.contains("key_too_long"), "\(crlf.text)")
            #expect(fixture.lsn == lsn)
        }
    }

    /// The vectors of the seeded entities at a fixed `at`, as text (equal text, equal vectors).
    static func vectorChecksum(_ client: any TestClientProtocol, _ fixture: ServerFixture) async throws -> String {
        let body =
            #"{"entities":[{"entity":"card","key":"c0"},{"entity":"card","key":"c1"},{"entity":"merchant","key":"m1"}],"at":\#(baseTime + 10)}"#
        let response = try await client.send("/v1/vectors", .post, headers: fixture.headers(.read), body: body)
        #expect(response.status == .ok)
        return response.text
    }
}
