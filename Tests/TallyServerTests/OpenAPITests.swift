import Foundation
import Hummingbird
import HummingbirdTesting
@_spi(Testing) import Tally
import Testing

@testable import TallyServer

@Suite("OpenAPI")
struct OpenAPITests {
    /// One recorded live answer, as Tools/check-openapi-responses.py reads it.
    struct Record: Encodable, Sendable {
        var method: String
        var path: String
        var status: Int
        var contentType: String?
        enum CodingKeys: String, CodingKey {
            case method, path, status, headers, body
            case contentType = "content_type"
        }
        var headers: [String: String]
        var body: String
    }

    /// Requests covering every path and the statuses each one answers, with the path template.
    static let requests:
        [(template: String, method: HTTPRequest.Method, uri: String, role: Role?, type: String?, body: String?)] = [
            // First, so the decision's id is known: its event takes LSN 1, the record 2.
            ("/v1/decide", .post, "/v1/decide", .decide, nil, decide(authorization("od1"))),
            ("/v1/decide", .post, "/v1/decide", .decide, nil, decide(authorization("od1", amount: "99"))),
            ("/v1/decide", .post, "/v1/decide", .admin, nil, #"{"request":{"card":"c1"},"ingest":"later"}"#),
            (
                "/v1/decide", .post, "/v1/decide", .decide, nil,
                #"{"request":{},"entities":[{"entity":"planet","key":"p"}]}"#
            ),
            (
                "/v1/decide", .post, "/v1/decide", .decide, nil,
                #"{"request":{},"entities":[\#((0..<3).map { _ in #"{"entity":"card","key":"c"}"# }.joined(separator: ","))]}"#
            ),
            ("/v1/decide", .post, "/v1/decide", .decide, "text/csv", "a,b"),
            ("/v1/decide", .post, "/v1/decide", .read, nil, decide(#"{"card":"c1"}"#)),
            ("/v1/decide", .post, "/v1/decide", nil, nil, decide(#"{"card":"c1"}"#)),
            ("/v1/decide", .get, "/v1/decide", .admin, nil, nil),
            ("/v1/decisions/{id}", .get, "/v1/decisions/2", .audit, nil, nil),
            ("/v1/decisions/{id}", .get, "/v1/decisions/999", .audit, nil, nil),
            ("/v1/decisions/{id}", .get, "/v1/decisions/x", .audit, nil, nil),
            ("/v1/decisions/{id}", .get, "/v1/decisions/2", .decide, nil, nil),
            ("/v1/decisions/{id}", .get, "/v1/decisions/2", nil, nil, nil),
            ("/v1/decisions/{id}", .post, "/v1/decisions/2", .admin, nil, nil),
            ("/v1/decisions/{id}/replay", .post, "/v1/decisions/2/replay", .audit, nil, nil),
            ("/v1/decisions/{id}/replay", .post, "/v1/decisions/999/replay", .audit, nil, nil),
            ("/v1/decisions/{id}/replay", .post, "/v1/decisions/2/replay", .audit, nil, "{}"),
            (
                "/v1/decisions/{id}/replay", .post, "/v1/decisions/2/replay", .audit, nil,
                String(repeating: " ", count: 70_000)
            ),
            ("/v1/decisions/{id}/replay", .post, "/v1/decisions/2/replay", .read, nil, nil),
            ("/v1/decisions/{id}/replay", .post, "/v1/decisions/2/replay", nil, nil, nil),
            ("/v1/decisions/{id}/replay", .get, "/v1/decisions/2/replay", .admin, nil, nil),
            ("/v1/events", .post, "/v1/events", .ingest, nil, authorization("o1")),
            ("/v1/events", .post, "/v1/events", .ingest, nil, "[\(authorization("o2")),{\"type\":\"x\"}]"),
            ("/v1/events", .post, "/v1/events", .ingest, "application/x-ndjson", authorization("o3") + "\n{bad"),
            ("/v1/events", .post, "/v1/events", .ingest, nil, #"{"type":"x"}"#),
            ("/v1/events", .post, "/v1/events", .ingest, nil, "{"),
            ("/v1/events", .post, "/v1/events", .ingest, nil, "[" + String(repeating: " ", count: 70_000) + "]"),
            ("/v1/events", .post, "/v1/events", .ingest, "text/csv", "a,b"),
            ("/v1/events", .post, "/v1/events", nil, nil, authorization("o4")),
            ("/v1/events", .post, "/v1/events", .read, nil, authorization("o4")),
            ("/v1/events", .get, "/v1/events", .admin, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/card/c1", .read, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/card/c1?lsn=1&at=\(baseTime)", .read, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/planet/p1", .read, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/card/c1?lsn=x", .read, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/card/c1", .ingest, nil, nil),
            ("/v1/entities/{entity}/{key}", .get, "/v1/entities/card/c1", nil, nil, nil),
            (
                "/v1/vectors", .post, "/v1/vectors", .read, nil,
                #"{"entities":[{"entity":"card","key":"c1"},{"entity":"merchant","key":"m1"}]}"#
            ),
            ("/v1/vectors", .post, "/v1/vectors", .read, nil, #"{"entities":[{"entity":"planet","key":"c1"}]}"#),
            ("/v1/vectors", .post, "/v1/vectors", .read, nil, #"{"entities":[]}"#),
            (
                "/v1/vectors", .post, "/v1/vectors", .read, nil,
                #"{"entities":[\#((0..<3).map { _ in #"{"entity":"card","key":"c"}"# }.joined(separator: ","))]}"#
            ),
            ("/v1/vectors", .post, "/v1/vectors", .read, "text/plain", "{}"),
            (
                "/v1/vectors", .post, "/v1/vectors", .read, nil,
                #"{"entities":[{"entity":"card","key":"c1"}],"aggregates":[{"name":"n","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"count","window":"90s","where":"merchant in ('m1', 'm2')"}}]}"#
            ),
            (
                "/v1/vectors", .post, "/v1/vectors", .read, nil,
                #"{"aggregates":[{"name":"n","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"max(amont)","window":"90s"}}]}"#
            ),
            (
                "/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", .admin, nil,
                #"{"from":\#(baseTime)}"#
            ),
            ("/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", .admin, nil, nil),
            (
                "/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", .admin, nil,
                #"{"from":1,"until":1}"#
            ),
            ("/v1/lists/{list}/members/{member}", .put, "/v1/lists/nothing/members/c1", .admin, nil, "{}"),
            ("/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", .admin, "text/csv", "a"),
            ("/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", .read, nil, "{}"),
            ("/v1/lists/{list}/members/{member}", .put, "/v1/lists/blocked_cards/members/c1", nil, nil, "{}"),
            ("/v1/lists/{list}/members/{member}", .get, "/v1/lists/blocked_cards/members/c1", .admin, nil, nil),
            (
                "/v1/lists/{list}/members/{member}", .get, "/v1/lists/blocked_cards/members/never?lsn=1&at=\(baseTime)",
                .admin, nil, nil
            ),
            ("/v1/lists/{list}/members/{member}", .get, "/v1/lists/nothing/members/c1", .admin, nil, nil),
            ("/v1/lists/{list}/members/{member}", .get, "/v1/lists/blocked_cards/members/c1?x=1", .admin, nil, nil),
            ("/v1/lists/{list}/members/{member}", .get, "/v1/lists/blocked_cards/members/c1", .read, nil, nil),
            ("/v1/lists/{list}/members/{member}", .post, "/v1/lists/blocked_cards/members/c1", .admin, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/blocked_cards?limit=1", .admin, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/blocked_cards?at=\(baseTime)&after=c0", .admin, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/blocked_cards?limit=0", .admin, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/nothing", .admin, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/blocked_cards", .ingest, nil, nil),
            ("/v1/lists/{list}", .get, "/v1/lists/blocked_cards", nil, nil, nil),
            ("/v1/lists/{list}", .delete, "/v1/lists/blocked_cards", .admin, nil, nil),
            (
                "/v1/lists/{list}/members/{member}", .delete, "/v1/lists/blocked_cards/members/c1?at=\(baseTime + 1)",
                .admin, nil, nil
            ),
            ("/v1/lists/{list}/members/{member}", .delete, "/v1/lists/blocked_cards/members/c2", .admin, nil, nil),
            ("/v1/lists/{list}/members/{member}", .delete, "/v1/lists/blocked_cards/members/c1?at=x", .admin, nil, nil),
            ("/v1/lists/{list}/members/{member}", .delete, "/v1/lists/nothing/members/c1", .admin, nil, nil),
            ("/v1/lists/{list}/members/{member}", .delete, "/v1/lists/blocked_cards/members/c1", .decide, nil, nil),
            ("/v1/lists/{list}/members/{member}", .delete, "/v1/lists/blocked_cards/members/c1", nil, nil, nil),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/velocity_hold/c1", .admin, nil, #"{"from":\#(baseTime)}"#),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/velocity_hold/c1", .admin, nil, #"{"until":"x"}"#),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/nothing/c1", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/velocity_hold/c1", .admin, "text/csv", "a"),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/velocity_hold/c1", .audit, nil, nil),
            ("/v1/flags/{flag}/{key}", .put, "/v1/flags/velocity_hold/c1", nil, nil, nil),
            ("/v1/flags/{flag}/{key}", .get, "/v1/flags/velocity_hold/c1?at=\(baseTime)", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .get, "/v1/flags/velocity_hold/c1?lsn=x", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .get, "/v1/flags/nothing/c1", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .get, "/v1/flags/velocity_hold/c1", .read, nil, nil),
            ("/v1/flags/{flag}/{key}", .get, "/v1/flags/velocity_hold/c1", nil, nil, nil),
            ("/v1/flags/{flag}/{key}", .post, "/v1/flags/velocity_hold/c1", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .delete, "/v1/flags/velocity_hold/c1?at=\(baseTime + 1)", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .delete, "/v1/flags/velocity_hold/c1?at=1&at=2", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .delete, "/v1/flags/nothing/c1", .admin, nil, nil),
            ("/v1/flags/{flag}/{key}", .delete, "/v1/flags/velocity_hold/c1", .read, nil, nil),
            ("/v1/flags/{flag}/{key}", .delete, "/v1/flags/velocity_hold/c1", nil, nil, nil),
            // Ready before the definitions change below (its backfill may still run at the later /readyz).
            ("/readyz", .get, "/readyz", nil, nil, nil),
            ("/v1/definitions", .get, "/v1/definitions", .read, nil, nil),
            ("/v1/definitions", .put, "/v1/definitions", .admin, nil, "{}"),
            (
                "/v1/definitions", .put, "/v1/definitions", .admin, "application/yaml",
                DefinitionsEndpointTests.cardsText
            ),
            (
                "/v1/definitions", .put, "/v1/definitions", .admin, "application/yaml",
                DefinitionsEndpointTests.cardsText.replacingOccurrences(of: "amount: decimal", with: "amount: int")
            ),
            (
                "/v1/definitions", .put, "/v1/definitions?wait=false", .admin, "application/yaml",
                DefinitionsEndpointTests.withAddedView
            ),
            ("/v1/definitions", .put, "/v1/definitions", .read, nil, "{}"),
            ("/v1/definitions", .delete, "/v1/definitions", .admin, nil, nil),
            ("/v2/unknown", .get, "/v2/unknown", .admin, nil, nil),
            ("/healthz", .get, "/healthz", nil, nil, nil),
            ("/readyz", .get, "/readyz", nil, nil, nil),
            ("/metrics", .get, "/metrics", .admin, nil, nil),
            ("/metrics", .get, "/metrics", .read, nil, nil),
            ("/metrics", .get, "/metrics", nil, nil, nil),
        ]

    /// A `POST /v1/decide` body deciding on `payload` at the test's fixed time.
    static func decide(_ payload: String) -> String { #"{"request":\#(payload),"at":\#(baseTime)}"# }

    @Test("live responses of every path and status validate against Schemas/openapi.yaml")
    func liveResponsesMatchTheSpec() async throws {
        var limits = ServerLimits()
        limits.maxBodyBytes = 64 << 10
        limits.maxVectorsPerRequest = 2
        let fixture = try ServerFixture(limits: limits)
        defer { fixture.remove() }
        var records = try await fixture.test(.live) { client in
            var records: [Record] = []
            for request in Self.requests {
                let response = try await client.send(
                    request.uri, request.method, headers: fixture.headers(request.role, contentType: request.type),
                    body: request.body)
                records.append(Self.record(request.template, request.method, response))
            }
            return records
        }
        // 503 from a store turned read-only (readyz and events), on a second live server.
        fixture.store.injectCommitFailure(errno: 5)
        records += try await fixture.test(.live) { client in
            var records: [Record] = []
            for (template, method, body) in [
                ("/v1/events", HTTPRequest.Method.post, authorization("f1")),
                ("/v1/events", .post, authorization("f2")),
                ("/v1/decide", .post, Self.decide(authorization("f3"))),
                ("/readyz", .get, nil),
            ] {
                let response = try await client.send(
                    template, method, headers: fixture.headers(.admin), body: body)
                records.append(Self.record(template, method, response))
            }
            return records
        }
        #expect(
            Set(records.map(\.status)).isSuperset(of: [200, 202, 400, 401, 403, 404, 405, 409, 413, 415, 422, 503]))
        // Every endpoint the router serves has a success checked against its schema.
        let succeeded = Set(records.filter { (200..<300).contains($0.status) }.map { "\($0.method) \($0.path)" })
        for route in Route.all {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            #expect(succeeded.contains("\(route.method.rawValue) \(template)"), "no 2xx recorded for \(template)")
        }
        let file = NSTemporaryDirectory() + "tally-openapi-records-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try JSONEncoder().encode(records).write(to: URL(fileURLWithPath: file))
        let (status, output) = try await Self.python(["Tools/check-openapi-responses.py", "Schemas/openapi.yaml", file])
        #expect(status == 0, "\(output)")
    }

    @Test("the checker fails on a body off its schema, an undocumented status and a missing header")
    func checkerCatchesMismatches() async throws {
        let records = [
            Record(
                method: "POST", path: "/v1/events", status: 200, contentType: "application/json", headers: [:],
                body: #"{"accepted":"3","duplicates":0,"rejected":[],"lsn":1}"#),
            Record(
                method: "GET", path: "/healthz", status: 418, contentType: "application/json", headers: [:],
                body: "{}"),
            Record(
                method: "GET", path: "/v1/definitions", status: 401, contentType: "application/json", headers: [:],
                body: #"{"error":{"code":"unauthorized","message":"no"}}"#),
        ]
        let file = NSTemporaryDirectory() + "tally-openapi-bad-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try JSONEncoder().encode(records).write(to: URL(fileURLWithPath: file))
        let (status, output) = try await Self.python(["Tools/check-openapi-responses.py", "Schemas/openapi.yaml", file])
        #expect(status == 1)
        #expect(output.contains("#0 POST /v1/events -> 200: accepted"), "\(output)")
        #expect(output.contains("#1 GET /healthz -> 418: status not documented"), "\(output)")
        #expect(output.contains("#2 GET /v1/definitions -> 401: required header WWW-Authenticate missing"), "\(output)")
    }

    static func record(_ template: String, _ method: HTTPRequest.Method, _ response: TestResponse) -> Record {
        var headers: [String: String] = [:]
        for field in response.headers { headers[field.name.canonicalName] = field.value }
        return Record(
            method: method.rawValue, path: template, status: response.status.code,
            contentType: response.headers[.contentType], headers: headers, body: response.text)
    }

    static func python(_ arguments: [String]) async throws -> (Int32, String) {
        try await offPool { try pythonBlocking(arguments) }
    }

    private static func pythonBlocking(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
