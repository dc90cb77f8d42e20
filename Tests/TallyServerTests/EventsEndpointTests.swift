import Foundation
import Hummingbird
import HummingbirdTesting
@_spi(Testing) import Tally
import Testing

@testable import TallyServer

@Suite("POST /v1/events")
struct EventsEndpointTests {
    @Test("a single accepted event answers 200 with the batch shape and the commit LSN")
    func singleAccepted() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1"))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let json = response.json
            #expect(json["accepted"] as? Int == 1)
            #expect(json["duplicates"] as? Int == 0)
            #expect((json["rejected"] as? [Any])?.isEmpty == true)
            #expect(json["lsn"] as? Int == 1)
            // The same event again is a duplicate: still 200, LSN unchanged.
            let again = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1"))
            #expect(again.status == .ok)
            #expect(again.json["duplicates"] as? Int == 1)
            #expect(again.json["lsn"] as? Int == 1)
        }
        #expect(fixture.lsn == 1)
    }

    @Test(
        "a single rejected event answers 422 with its rejection code",
        arguments: [
            (#"{"type":"nope","txn_id":"x","ts":1}"#, "unknown_type", "type"),
            (#"{"type":"authorization","txn_id":"x"}"#, "missing_field", "ts"),
            (#"{"txn_id":"x"}"#, "missing_type", "type"),
        ])
    func singleRejected(body: String, code: String, field: String?) async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: body)
            #expect(response.status == .unprocessableContent)
            #expect(response.isEnvelope)
            #expect(response.errorCode == code)
            // The field the rejection is about, as the same rejection inside a batch names it.
            #expect((response.json["error"] as? [String: Any])?["field"] as? String == field)
        }
        #expect(fixture.lsn == 0)
    }

    @Test("a body whose framing the HTTP parser rejects is 400 malformed_request, not a server fault")
    func brokenFramingIsTheClientsError() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        let token = try #require(fixture.headers(.ingest)[.authorization])
        try await fixture.test(.live) { client in
            let port = try #require(client.port)
            for request in [
                "Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",  // a chunk size that is not hex
                "Transfer-Encoding: gzip\r\n\r\n{}",  // a transfer coding the server does not speak
                // ... also before chunked: the body must not be read as if it were plain chunked
                "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            ] {
                let response = try await offPool {
                    try BlockingHTTPClient(port: port).exchange(
                        raw: "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(token)\r\n"
                            + "Content-Type: application/json\r\n" + request)
                }
                #expect(response.status == 400, "\(response.body)")
                #expect(response.body.contains("malformed_request"), "\(response.body)")
            }
        }
        #expect(fixture.lsn == 0)
    }

    @Test("late and conflicting single events answer 422 late / conflict")
    func lateAndConflict() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let headers = fixture.headers(.ingest)
            _ = try await client.send("/v1/events", .post, headers: headers, body: authorization("t1"))
            _ = try await client.send(
                "/v1/events", .post, headers: headers, body: authorization("t2", time: baseTime + 10_000_000))
            let late = try await client.send("/v1/events", .post, headers: headers, body: authorization("t3"))
            #expect(late.status == .unprocessableContent)
            #expect(late.errorCode == "late")
            let conflict = try await client.send(
                "/v1/events", .post, headers: headers, body: authorization("t1", amount: "99"))
            #expect(conflict.status == .unprocessableContent)
            #expect(conflict.errorCode == "conflict")
        }
        #expect(fixture.lsn == 2)
    }

    @Test("a JSON array answers 200 with per-event rejections even if all are rejected")
    func arrayBatch() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let body = "[\(authorization("a1")),\(authorization("a2")),\(authorization("a1")),{\"type\":\"x\"}]"
            let response = try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: body)
            #expect(response.status == .ok)
            #expect(response.json["accepted"] as? Int == 2)
            #expect(response.json["duplicates"] as? Int == 1)
            let rejected = response.json["rejected"] as? [[String: Any]] ?? []
            #expect(rejected.count == 1)
            #expect(rejected.first?["index"] as? Int == 3)
            #expect(rejected.first?["code"] as? String == "unknown_type")
            #expect(response.json["lsn"] as? Int == 2)
            let allBad = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: #"[{"type":"x"},7]"#)
            #expect(allBad.status == .ok)
            #expect(allBad.json["accepted"] as? Int == 0)
            #expect((allBad.json["rejected"] as? [Any])?.count == 2)
            // An empty batch is well formed too: nothing applied, the store's LSN.
            for (contentType, body) in [("application/json", "[]"), ("application/x-ndjson", "\n\n")] {
                var headers = fixture.headers(.ingest)
                headers[.contentType] = contentType
                let empty = try await client.send("/v1/events", .post, headers: headers, body: body)
                #expect(empty.status == .ok, "\(contentType)")
                #expect(empty.json["accepted"] as? Int == 0)
                #expect(empty.json["duplicates"] as? Int == 0)
                #expect((empty.json["rejected"] as? [Any])?.isEmpty == true)
                #expect(empty.json["lsn"] as? Int == 2)
            }
        }
        #expect(fixture.lsn == 2)
    }

    @Test("NDJSON: each line stands alone; a bad line rejects only its event")
    func ndjson() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let body = [authorization("n1"), "{not json", "", authorization("n2", time: baseTime + 1)].joined(
                separator: "\n")
            let response = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest, contentType: "application/x-ndjson"),
                body: body + "\n")
            #expect(response.status == .ok)
            #expect(response.json["accepted"] as? Int == 2)
            let rejected = response.json["rejected"] as? [[String: Any]] ?? []
            #expect(rejected.map { $0["index"] as? Int } == [1])
            #expect(rejected.map { $0["code"] as? String } == ["malformed_json"])
        }
        #expect(fixture.lsn == 2)
    }

    @Test("limits: body bytes, events per request and NDJSON line length answer 413 and change nothing")
    func limits() async throws {
        var limits = ServerLimits()
        limits.maxBodyBytes = 4096
        limits.maxNDJSONLineBytes = 512
        let fixture = try ServerFixture(limits: limits, maxEventsPerRequest: 3)
        defer { fixture.remove() }
        try await fixture.test { client in
            let headers = fixture.headers(.ingest)
            let big = try await client.send(
                "/v1/events", .post, headers: headers, body: "[" + String(repeating: " ", count: 5000) + "]")
            #expect(big.status == .contentTooLarge)
            #expect(big.errorCode == "body_too_large")
            let many = (0..<4).map { authorization("m\($0)") }.joined(separator: ",")
            let tooMany = try await client.send("/v1/events", .post, headers: headers, body: "[\(many)]")
            #expect(tooMany.status == .contentTooLarge)
            #expect(tooMany.errorCode == "too_many_events")
            let longLine = authorization("l1", merchant: String(repeating: "m", count: 600))
            let line = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest, contentType: "application/x-ndjson"),
                body: longLine)
            #expect(line.status == .contentTooLarge)
            #expect(line.errorCode == "line_too_long")
        }
        #expect(fixture.lsn == 0)
    }

    @Test("a full write queue answers 503 overloaded with Retry-After")
    func overloaded() async throws {
        let fixture = try ServerFixture(maxPendingWrites: 1)
        defer { fixture.remove() }
        let release = fixture.store.pauseWriter()
        var released = false
        func resume() {
            if !released { release() }
            released = true
        }
        // A failed expectation below must not leave the writer paused: the queued write would
        // never finish, and the test would hang instead of failing.
        defer { resume() }
        // One write waits in the queue (the writer is paused); the next finds the queue full.
        let waiting = Task { try await fixture.store.ingest(json: Array(authorization("q1").utf8)) }
        var pending = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while pending == 0 && ContinuousClock.now < deadline {
            pending = fixture.store.pendingWrites
            if pending == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        try #require(pending == 1)
        try await fixture.test { client in
            let response = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("q2"))
            #expect(response.status == .serviceUnavailable)
            #expect(response.errorCode == "overloaded")
            #expect(response.headers[.retryAfter] == "1")
        }
        resume()
        _ = try await waiting.value
        #expect(fixture.lsn == 1)
    }

    @Test("an unsupported Content-Type answers 415")
    func mediaType() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest, contentType: "text/plain"),
                body: authorization("t1"))
            #expect(response.status == .unsupportedMediaType)
            #expect(response.errorCode == "unsupported_media_type")
        }
        #expect(fixture.lsn == 0)
    }

    @Test("curl's default form Content-Type still carries a JSON event")
    func formContentTypeIsJSON() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.send(
                "/v1/events", .post,
                headers: fixture.headers(.ingest, contentType: "application/x-www-form-urlencoded"),
                body: authorization("t1"))
            #expect(response.status == .ok)
        }
        #expect(fixture.lsn == 1)
    }
}
