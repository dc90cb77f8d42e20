import Foundation
import Hummingbird
import HummingbirdTesting
@_spi(Testing) import Tally
import Testing

@testable import TallyServer

@Suite("entities, vectors, definitions, health, metrics")
struct ReadEndpointTests {
    @Test("GET /v1/entities answers the vector with its snapshot token; an unknown key is empty windows")
    func entity() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1"))
            let response = try await client.send(
                "/v1/entities/card/c1?lsn=1&at=\(baseTime + 1000)", .get, headers: fixture.headers(.read))
            #expect(response.status == .ok)
            let json = response.json
            #expect(json["entity"] as? String == "card")
            #expect(json["key"] as? String == "c1")
            #expect(json["views"] is [String: Any])
            #expect(json["recomputed"] == nil, "how it was answered is a header, not part of the answer")
            #expect(response.headers[TallyServer.recomputedField] == "false")
            let snapshot = json["snapshot"] as? [String: Any] ?? [:]
            #expect(snapshot["lsn"] as? Int == 1)
            #expect(snapshot["at"] as? Int == Int(baseTime + 1000))
            #expect(snapshot["definitions_version"] as? Int == 1)
            let unknown = try await client.send("/v1/entities/card/never-seen", .get, headers: fixture.headers(.read))
            #expect(unknown.status == .ok)
            #expect((unknown.json["snapshot"] as? [String: Any])?["lsn"] as? Int == 1)
            let rfc = try await client.send(
                "/v1/entities/card/c1?at=2026-05-28T20:26:40.000Z", .get, headers: fixture.headers(.read))
            #expect(rfc.status == .ok)
            #expect((rfc.json["snapshot"] as? [String: Any])?["at"] as? Int == 1_780_000_000_000)
            // A percent-encoded parameter name is the same parameter (`%61t` is `at`).
            let encodedName = try await client.send(
                "/v1/entities/card/c1?%61t=2026-05-28T20%3A26%3A40.000Z", .get, headers: fixture.headers(.read))
            #expect(encodedName.status == .ok)
            #expect((encodedName.json["snapshot"] as? [String: Any])?["at"] as? Int == 1_780_000_000_000)
            let encoded = try await client.send("/v1/entities/card/c%2F1%20x", .get, headers: fixture.headers(.read))
            #expect(encoded.json["key"] as? String == "c/1 x")
        }
    }

    @Test("POST /v1/vectors answers on-demand aggregates over the log in the vectors' snapshot, with their scan")
    func onDemandAggregates() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let events = (1...3).map { authorization("a\($0)", time: baseTime + Int64($0) * 1000, merchant: "m\($0)") }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(events.joined(separator: ","))]")
            let at = baseTime + 3000
            let body = #"""
                {"entities":[{"entity":"card","key":"c1"}],"at":\#(at),"aggregates":[
                 {"name":"at_two_merchants","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"count","window":"90s","where":"merchant in ('m1', 'm2')"}},
                 {"name":"largest","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"max(amount)","window":"1h"}}]}
                """#
            let answer = try await client.send("/v1/vectors", .post, headers: fixture.headers(.read), body: body)
            #expect(answer.status == .ok, "\(answer.text)")
            let aggregates = answer.json["aggregates"] as? [[String: Any]] ?? []
            #expect(aggregates.map { $0["name"] as? String } == ["at_two_merchants", "largest"])
            #expect(aggregates.first?["value"] as? Int == 2)
            #expect((aggregates.last?["value"] as? NSNumber)?.doubleValue == 12.5)
            #expect(aggregates.allSatisfy { ($0["scanned"] as? Int ?? 0) == 3 }, "every logged event read")
            let vector = (answer.json["vectors"] as? [[String: Any]])?.first?["views"] as? [String: Any]
            #expect(vector?["card_txn_count_60s"] as? Int == 3, "the same snapshot")

            let bad = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read),
                body:
                    #"{"aggregates":[{"name":"x","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"sum(amont)","window":"1h"}}]}"#
            )
            #expect(bad.status == .badRequest && bad.text.contains("definition.aggregate"), "\(bad.text)")
            let many = (0..<17).map { _ in
                #"{"name":"x","key":"c1","definition":{"entity":"card","from":"authorization","aggregate":"count","window":"1h"}}"#
            }
            let tooMany = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read),
                body: #"{"aggregates":[\#(many.joined(separator: ","))]}"#)
            #expect(tooMany.status == .contentTooLarge, "\(tooMany.text)")
        }
    }

    @Test("a read older than retention answers 410 not_retained naming the oldest answerable point")
    func notRetained() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        let month: Int64 = 31 * 86_400_000
        try await fixture.test { client in
            for (id, time) in [("r1", baseTime), ("r2", baseTime + 1000), ("r3", baseTime + month)] {
                let response = try await client.send(
                    "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization(id, time: time))
                #expect(response.status == .ok)
            }
            while try await fixture.store.reclaimRetained().didWork {}
            let floor = try fixture.store.retentionFloor
            #expect(floor.lsn == LSN(2))
            let old = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime - 2 * 3_600_000)", .get, headers: fixture.headers(.read))
            #expect(old.status == .gone)
            #expect(old.json["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "not_retained")
            #expect(old.text.contains("oldest answerable point is lsn 2 at \(floor.time)"), "\(old.text)")
            let oldToken = try await client.send(
                "/v1/entities/card/c1?lsn=1&at=\(baseTime + month)", .get, headers: fixture.headers(.read))
            #expect(oldToken.status == .gone)
            // Still answered at and after the floor, dropped events included.
            let now = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 1000)", .get, headers: fixture.headers(.read))
            #expect(now.status == .ok)
            #expect(now.text.contains(#""card_txn_count_1h":2"#), "\(now.text)")
            let vectors = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read, contentType: "application/json"),
                body: #"{"entities":[{"entity":"card","key":"c1"}],"at":\#(baseTime - 2 * 3_600_000)}"#)
            #expect(vectors.status == .gone, "\(vectors.text)")
        }
    }

    @Test("vectors carry the maintained values: counts, exact decimals as JSON numbers, nulls; old tokens are exact")
    func values() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let events = [
                authorization("v1", amount: "12.50", time: baseTime),
                authorization("v2", amount: "0.10", time: baseTime + 1000, merchant: "m2"),
                authorization("v3", amount: "0.20", time: baseTime + 2000),
            ]
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(events.joined(separator: ","))]")
            let now = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 2000)", .get, headers: fixture.headers(.read))
            #expect(now.text.contains(#""card_txn_count_60s":3"#), "\(now.text)")
            #expect(now.text.contains(#""card_amount_sum_24h":12.8"#), "\(now.text)")
            #expect(now.text.contains(#""card_amount_max_24h":12.5"#), "\(now.text)")
            #expect(now.text.contains(#""card_distinct_merchants_5m":2"#), "\(now.text)")
            #expect(now.text.contains(#""card_last_country":"FR""#), "\(now.text)")
            #expect(now.headers[TallyServer.recomputedField] == "false")
            // At LSN 1 only the first event counts: answered exactly, by recomputation.
            let old = try await client.send(
                "/v1/entities/card/c1?lsn=1&at=\(baseTime + 2000)", .get, headers: fixture.headers(.read))
            #expect(old.text.contains(#""card_txn_count_60s":1"#), "\(old.text)")
            #expect(old.text.contains(#""card_amount_sum_24h":12.5"#), "\(old.text)")
            #expect(old.headers[TallyServer.recomputedField] == "true")
            // The token `now` was answered from state; after a late event for c1 inside its
            // windows the same token is recomputed, and the body is the same, byte for byte.
            let token = now.json["snapshot"] as? [String: Any] ?? [:]
            let again = "/v1/entities/card/c1?lsn=\(token["lsn"] as? Int ?? -1)&at=\(token["at"] as? Int ?? -1)"
            let before = try await client.send(again, .get, headers: fixture.headers(.read))
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest),
                body: authorization("v-late", amount: "7", time: baseTime + 500))
            let after = try await client.send(again, .get, headers: fixture.headers(.read))
            #expect(before.headers[TallyServer.recomputedField] == "false")
            #expect(after.headers[TallyServer.recomputedField] == "true")
            #expect(after.text == before.text)
            #expect(after.text == now.text)
            let vectorsBody =
                #"{"entities":[{"entity":"card","key":"c1"}],"lsn":\#(token["lsn"] as? Int ?? -1),"at":\#(token["at"] as? Int ?? -1)}"#
            let vectors = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read, contentType: "application/json"),
                body: vectorsBody)
            #expect(vectors.headers[TallyServer.recomputedField] == "true")
            #expect(vectors.json["snapshot"] as? [String: Int] == token as? [String: Int])
            // 60 s after the last event the 60 s window is empty again; an unknown card is empty windows.
            let later = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 62_000)", .get, headers: fixture.headers(.read))
            #expect(later.text.contains(#""card_txn_count_60s":0"#), "\(later.text)")
            let empty = try await client.send("/v1/entities/card/nobody", .get, headers: fixture.headers(.read))
            #expect(empty.text.contains(#""card_txn_count_60s":0"#), "\(empty.text)")
            #expect(empty.text.contains(#""card_amount_max_24h":null"#), "\(empty.text)")
        }
    }

    @Test("GET /v1/entities: 404 unknown_entity for an unknown entity type; 400 for an lsn beyond the store")
    func entityErrors() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let unknown = try await client.send("/v1/entities/planet/p1", .get, headers: fixture.headers(.read))
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "unknown_entity")
            let beyond = try await client.send("/v1/entities/card/c1?lsn=5", .get, headers: fixture.headers(.read))
            #expect(beyond.status == .badRequest)
            #expect(beyond.errorCode == "invalid_argument")
        }
    }

    @Test("HEAD answers wherever GET does: the same status, no body")
    func headIsGetWithoutTheBody() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let vector = try await client.send("/v1/entities/card/c1", .head, headers: fixture.headers(.read))
            #expect(vector.status == .ok)
            #expect(vector.body.readableBytes == 0)
            #expect(try await client.send("/healthz", .head).status == .ok)
            let unknown = try await client.send("/v1/entities/planet/p1", .head, headers: fixture.headers(.read))
            #expect(unknown.status == .notFound)
            let anonymous = try await client.send("/v1/entities/card/c1", .head)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test("POST /v1/vectors answers every entity in request order from one snapshot")
    func vectors() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1"))
            let body =
                #"{"entities":[{"entity":"merchant","key":"m1"},{"entity":"card","key":"c1"}],"at":"\#(baseTime)"}"#
            let response = try await client.send("/v1/vectors", .post, headers: fixture.headers(.read), body: body)
            #expect(response.status == .ok)
            let vectors = response.json["vectors"] as? [[String: Any]] ?? []
            #expect(vectors.map { $0["entity"] as? String } == ["merchant", "card"])
            #expect(vectors.map { $0["key"] as? String } == ["m1", "c1"])
            #expect(vectors.allSatisfy { $0["snapshot"] == nil })
            let snapshot = response.json["snapshot"] as? [String: Any] ?? [:]
            #expect(snapshot["lsn"] as? Int == 1)
            #expect(snapshot["at"] as? Int == Int(baseTime))
            let unknown = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read),
                body: #"{"entities":[{"entity":"card","key":"c1"},{"entity":"planet","key":"p"}]}"#)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "unknown_entity")
        }
    }

    @Test("POST /v1/vectors: more than the maximum count answers 413 too_many_entities")
    func vectorsLimit() async throws {
        var limits = ServerLimits()
        limits.maxVectorsPerRequest = 2
        let fixture = try ServerFixture(limits: limits)
        defer { fixture.remove() }
        try await fixture.test { client in
            let entities = (0..<3).map { #"{"entity":"card","key":"c\#($0)"}"# }.joined(separator: ",")
            let response = try await client.send(
                "/v1/vectors", .post, headers: fixture.headers(.read), body: #"{"entities":[\#(entities)]}"#)
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "too_many_entities")
        }
    }

    @Test("GET /v1/definitions lists the catalog with its version")
    func definitions() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.send("/v1/definitions", .get, headers: fixture.headers(.read))
            #expect(response.status == .ok)
            #expect(response.json["version"] as? Int == 1)
            let views = response.json["views"] as? [[String: Any]] ?? []
            #expect(
                views.contains { $0["name"] as? String == "card_exposure" && $0["owner"] as? String == "credit-risk" })
            let entities = response.json["entities"] as? [[String: Any]] ?? []
            #expect(entities.map { $0["name"] as? String } == ["card", "merchant"])
            #expect(response.json["change_in_progress"] is NSNull)
        }
    }

    @Test("healthz and readyz are open; readyz fails once a commit failed (store read-only)")
    func health() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let health = try await client.send("/healthz", .get)
            #expect(health.status == .ok)
            #expect(health.json["status"] as? String == "ok")
            let ready = try await client.send("/readyz", .get)
            #expect(ready.status == .ok)
            #expect(ready.json["status"] as? String == "ready")
            fixture.store.injectCommitFailure(errno: 5)  // EIO
            let failed = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1"))
            #expect(failed.status.code >= 500)
            #expect(failed.isEnvelope)
            let notReady = try await client.send("/readyz", .get)
            #expect(notReady.status == .serviceUnavailable)
            #expect(notReady.errorCode == "store_read_only")
            let refused = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t2"))
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.errorCode == "store_read_only")
            #expect(try await client.send("/healthz", .get).status == .ok)
        }
        #expect(fixture.lsn == 0)
    }

    @Test("router-level 404 and 405 answer the envelope")
    func routerErrors() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let missing = try await client.send("/v2/nothing", .get, headers: fixture.headers(.admin))
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == "not_found")
            #expect(missing.isEnvelope)
            let wrong = try await client.send("/v1/events", .get, headers: fixture.headers(.admin))
            #expect(wrong.status == .methodNotAllowed)
            #expect(wrong.errorCode == "method_not_allowed")
            #expect(wrong.headers[.allow] == "POST")
            let definitions = try await client.send("/v1/definitions", .delete, headers: fixture.headers(.admin))
            #expect(definitions.headers[.allow] == "GET, PUT, HEAD")
        }
    }
}
