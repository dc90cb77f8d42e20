import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@_spi(Testing) @testable import Tally
@testable import TallyServer

/// `POST /v1/decide` (role decide), `GET /v1/decisions/{id}` and `POST /v1/decisions/{id}/replay`
/// (role audit) on the example definitions. Every time that decides an outcome is explicit (event
/// times, `at`, list `from`), never the wall clock.
@Suite("decision endpoints")
struct DecisionEndpointTests {
    /// A `POST /v1/decide` body: the payload, `at`, and the optional members as given.
    static func decideBody(_ payload: String, at: Int64?, ingest: String? = nil, entities: String? = nil) -> String {
        var members = [#""request":\#(payload)"#]
        if let entities { members.append(#""entities":\#(entities)"#) }
        if let ingest { members.append(#""ingest":"\#(ingest)""#) }
        if let at { members.append(#""at":\#(at)"#) }
        return "{" + members.joined(separator: ",") + "}"
    }

    static func card(_ answer: TestResponse, _ index: Int = 0) -> [String: Any] {
        ((answer.json["vectors"] as? [[String: Any]]) ?? [])[safe: index] ?? [:]
    }

    static func views(_ answer: TestResponse, _ index: Int = 0) -> [String: Any] {
        card(answer, index)["views"] as? [String: Any] ?? [:]
    }

    @Test("a blocked card's event is decided block (reason blocked); the id is the LSN after it; GET and replay agree")
    func decideRecordReplay() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let put = try await client.send(
                "/v1/lists/blocked_cards/members/c1", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime)}"#)
            #expect(put.json["lsn"] as? Int == 1)
            let earlier = (1...2).map { authorization("d\($0)", time: baseTime + Int64($0) * 1000) }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(earlier.joined(separator: ","))]")
            #expect(fixture.lsn == 3)

            let at = baseTime + 3000
            let decide = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("d3", time: at), at: at, ingest: "including"))
            #expect(decide.status == .ok, "\(decide.text)")
            #expect(decide.headers[.contentType] == "application/json")
            #expect(decide.json["outcome"] as? String == "block")
            #expect(decide.json["reasons"] as? [String] == ["blocked"])
            let rules = decide.json["rules"] as? [[String: Any]] ?? []
            #expect(rules.map { $0["name"] as? String } == ["blocked", "hold", "big_exposure", "burst_abroad"])
            #expect(rules.map { $0["matched"] as? Bool } == [true, false, false, false])
            #expect(decide.json["id"] as? Int == 5, "the event takes LSN 4, the record 5")
            #expect(fixture.lsn == 5, "the decision's id is the store's LSN after it")
            #expect(decide.json["ingest"] as? String == "including")
            let event = decide.json["event"] as? [String: Any] ?? [:]
            #expect(event["outcome"] as? String == "accepted" && event["lsn"] as? Int == 4)
            let snapshot = decide.json["snapshot"] as? [String: Any] ?? [:]
            #expect(snapshot["lsn"] as? Int == 4 && snapshot["at"] as? Int == Int(at))
            #expect(snapshot["definitions_version"] as? Int == 1)
            // Vectors of every entity named in the payload, in definitions order: card, merchant.
            #expect(Self.card(decide, 0)["key"] as? String == "c1")
            #expect(Self.card(decide, 1)["entity"] as? String == "merchant")
            #expect(Self.views(decide)["card_txn_count_60s"] as? Int == 3, "including: the event is counted")
            #expect((Self.card(decide)["lists"] as? [String: Any])?["blocked_cards"] as? Bool == true)
            let request = decide.json["request"] as? [String: Any] ?? [:]
            #expect(request["txn_id"] as? String == "d3" && request["type"] as? String == "authorization")
            #expect(decide.json["decided_at"] is Int)

            let recorded = try await client.send("/v1/decisions/5", .get, headers: fixture.headers(.audit))
            #expect(recorded.status == .ok)
            #expect(recorded.text == decide.text, "the record is the answer, byte for byte")
            let replay = try await client.send("/v1/decisions/5/replay", .post, headers: fixture.headers(.audit))
            #expect(replay.status == .ok, "\(replay.text)")
            #expect(replay.json["id"] as? Int == 5)
            #expect(replay.json["matches"] as? Bool == true, "\(replay.text)")
            #expect(replay.json["outcome"] as? String == "block")
            #expect((replay.json["differences"] as? [Any])?.isEmpty == true)
            let replayed = replay.json["snapshot"] as? [String: Any] ?? [:]
            #expect(NSDictionary(dictionary: replayed) == NSDictionary(dictionary: snapshot))
            #expect(fixture.lsn == 5, "reading and replaying write nothing")

            let metrics = try await client.send("/metrics", .get, headers: fixture.headers(.admin))
            #expect(MetricsTests.samples(metrics.text, "tally_decisions_total")[#"{outcome="block"}"#] == 1)
        }
    }

    @Test("including counts the scored event, before does not (and ingests it after), none does not ingest it")
    func ingestModes() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let earlier = ["c2", "c3", "c4"].flatMap { card in
                (1...2).map { authorization("\(card)-\($0)", card: card, time: baseTime + Int64($0) * 1000) }
            }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(earlier.joined(separator: ","))]")
            #expect(fixture.lsn == 6)
            let at = baseTime + 3000

            let including = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("c2-3", card: "c2", time: at), at: at, ingest: "including"))
            #expect(Self.views(including)["card_txn_count_60s"] as? Int == 3, "\(including.text)")
            #expect((including.json["snapshot"] as? [String: Any])?["lsn"] as? Int == 7)
            #expect(including.json["id"] as? Int == 8)

            let before = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("c3-3", card: "c3", time: at), at: at, ingest: "before"))
            #expect(before.status == .ok, "\(before.text)")
            #expect(Self.views(before)["card_txn_count_60s"] as? Int == 2, "before: the event is not counted")
            #expect(before.json["ingest"] as? String == "before")
            #expect((before.json["snapshot"] as? [String: Any])?["lsn"] as? Int == 8, "the state before the event")
            #expect((before.json["event"] as? [String: Any])?["lsn"] as? Int == 9, "…which is ingested after it")
            #expect(before.json["id"] as? Int == 10)
            let after = try await client.send(
                "/v1/entities/card/c3?at=\(at)", .get, headers: fixture.headers(.read))
            #expect(after.text.contains(#""card_txn_count_60s":3"#), "\(after.text)")

            let none = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("c4-3", card: "c4", time: at), at: at, ingest: "none"))
            #expect(Self.views(none)["card_txn_count_60s"] as? Int == 2)
            #expect(none.json["event"] is NSNull)
            #expect(none.json["id"] as? Int == 11, "only the record takes an LSN")
            let posted = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest),
                body: authorization("c4-3", card: "c4", time: at))
            #expect(posted.json["accepted"] as? Int == 1, "the event was not stored by the decision")

            // The same event again (a redelivery): decided on the state that holds it.
            let duplicate = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("c2-3", card: "c2", time: at), at: at))
            #expect(duplicate.status == .ok)
            let event = duplicate.json["event"] as? [String: Any] ?? [:]
            #expect(event["outcome"] as? String == "duplicate" && event["lsn"] as? Int == 7)
            #expect(Self.views(duplicate)["card_txn_count_60s"] as? Int == 3)
            #expect(duplicate.json["id"] as? Int == 13)
        }
    }

    @Test("a payload without type: request fields exactly as sent (decimals by their digits), explicit entities")
    func plainPayload() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            // big_exposure: card_exposure (0 for a fresh card) + request.amount > 5000.
            for (amount, outcome) in [("5000.000000", "allow"), ("5000.000001", "review")] {
                let payload = #"{"card":"c7","amount":\#(amount),"note":"caf\u00e9 \"x\"","tags":[1,{"a":null}]}"#
                let answer = try await client.send(
                    "/v1/decide", .post, headers: fixture.headers(.decide),
                    body: Self.decideBody(payload, at: baseTime))
                #expect(answer.status == .ok, "\(answer.text)")
                #expect(answer.json["outcome"] as? String == outcome, "amount \(amount)")
                #expect(answer.json["ingest"] as? String == "none" && answer.json["event"] is NSNull)
                #expect(answer.text.contains(#""amount":\#(amount)"#), "the digits as sent: \(answer.text)")
                let request = NSDictionary(dictionary: answer.json["request"] as? [String: Any] ?? [:])
                let sent = try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] ?? [:]
                #expect(request == NSDictionary(dictionary: sent), "\(answer.text)")
                #expect((answer.json["vectors"] as? [Any])?.count == 1, "only card is a field of the payload")
            }
            let named = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(
                    #"{"amount":1}"#, at: baseTime,
                    entities: #"[{"entity":"merchant","key":"m9"},{"entity":"card","key":"c9"}]"#))
            #expect(named.status == .ok, "\(named.text)")
            #expect(Self.card(named, 0)["key"] as? String == "m9" && Self.card(named, 1)["key"] as? String == "c9")
            // at as RFC 3339 text, ingest null = the default.
            let text = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: #"{"request":{"card":"c1"},"at":"2026-05-28T20:26:40Z","ingest":null,"entities":null}"#)
            #expect((text.json["snapshot"] as? [String: Any])?["at"] as? Int == Int(baseTime), "\(text.text)")
            #expect(fixture.lsn == 4)
        }
    }

    @Test("replay still matches after late events changed the windows the decision read")
    func replayAfterLateEvents() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let earlier = [10_000, 20_000].map { authorization("r\($0)", time: baseTime + Int64($0)) }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(earlier.joined(separator: ","))]")
            let at = baseTime + 30_000
            let decide = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("r30000", amount: "4000", time: at), at: at, ingest: "including"))
            #expect(Self.views(decide)["card_txn_count_60s"] as? Int == 3)
            #expect((Self.views(decide)["card_exposure"] as? NSNumber)?.doubleValue == 4025, "\(decide.text)")
            let id = try #require(decide.json["id"] as? Int)

            // Late events (inside the 1 h lateness) before `at`: the count at `at` is now 5, and a
            // lifetime exposure over 5000.
            let late = [25_000, 26_000].map { authorization("late\($0)", amount: "1000", time: baseTime + Int64($0)) }
            let posted = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(late.joined(separator: ","))]")
            #expect(posted.json["accepted"] as? Int == 2)
            let now = try await client.send("/v1/entities/card/c1?at=\(at)", .get, headers: fixture.headers(.read))
            #expect(now.text.contains(#""card_txn_count_60s":5"#), "\(now.text)")

            let replay = try await client.send("/v1/decisions/\(id)/replay", .post, headers: fixture.headers(.audit))
            #expect(replay.status == .ok)
            #expect(replay.json["matches"] as? Bool == true, "\(replay.text)")
            #expect(replay.json["outcome"] as? String == decide.json["outcome"] as? String)
            let recorded = try await client.send("/v1/decisions/\(id)", .get, headers: fixture.headers(.audit))
            #expect(recorded.text == decide.text)
        }
    }

    @Test("a rejected scored event answers 422 event_rejected with its rejection code, and records nothing")
    func rejectedEvent() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let watermark = baseTime + 2 * 3_600_000
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest),
                body: "[\(authorization("w1", time: watermark)),\(authorization("w0", time: watermark - 1000))]")
            let lsn = fixture.lsn
            let cases: [(payload: String, rejection: String, field: String?)] = [
                (authorization("old", time: baseTime), "late", nil),
                (authorization("w1", amount: "99", time: watermark), "conflict", nil),
                (#"{"type":"authorization","txn_id":"x","ts":\#(watermark),"card":"c1"}"#, "missing_field", "merchant"),
                (#"{"type":"refund","card":"c1"}"#, "unknown_type", nil),
            ]
            for (ingest, rejected) in [("including", cases), ("before", cases)] {
                for item in rejected {
                    let answer = try await client.send(
                        "/v1/decide", .post, headers: fixture.headers(.decide),
                        body: Self.decideBody(item.payload, at: watermark, ingest: ingest))
                    #expect(answer.status == .unprocessableContent, "\(item.rejection): \(answer.text)")
                    #expect(answer.errorCode == "event_rejected")
                    let error = answer.json["error"] as? [String: Any] ?? [:]
                    #expect(error["rejection"] as? String == item.rejection, "\(answer.text)")
                    if let field = item.field { #expect(error["field"] as? String == field, "\(answer.text)") }
                    #expect(fixture.lsn == lsn, "nothing recorded for \(item.rejection) (\(ingest))")
                }
            }
            let none = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(authorization("old", time: baseTime), at: watermark, ingest: "none"))
            #expect(none.status == .ok, "ingest none does not check the event against the log: \(none.text)")
        }
    }

    @Test("roles: decide needs decide (or admin), decisions and replay need audit (or admin)")
    func roles() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let body = Self.decideBody(#"{"card":"c1","amount":1}"#, at: baseTime)
            for role in Role.allCases {
                let answer = try await client.send("/v1/decide", .post, headers: fixture.headers(role), body: body)
                #expect(answer.status == ([.decide, .admin].contains(role) ? .ok : .forbidden), "\(role)")
            }
            #expect(fixture.lsn == 2)
            for uri in ["/v1/decisions/1", "/v1/decisions/1/replay"] {
                let method: HTTPRequest.Method = uri.hasSuffix("replay") ? .post : .get
                for role in Role.allCases {
                    let answer = try await client.send(uri, method, headers: fixture.headers(role))
                    #expect(answer.status == ([.audit, .admin].contains(role) ? .ok : .forbidden), "\(role) \(uri)")
                    if answer.status == .forbidden { #expect(answer.errorCode == "forbidden") }
                }
                let anonymous = try await client.send(uri, method)
                #expect(anonymous.status == .unauthorized && anonymous.headers[.wwwAuthenticate] != nil)
            }
            let anonymous = try await client.send("/v1/decide", .post, body: body)
            #expect(anonymous.status == .unauthorized)
            #expect(fixture.lsn == 2)
        }
    }

    @Test("unknown decisions are 404; bad ids, query parameters and replay bodies are 400; other methods 405")
    func decisionPaths() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let audit = fixture.headers(.audit)
            for (uri, method) in [("/v1/decisions/99", HTTPRequest.Method.get), ("/v1/decisions/99/replay", .post)] {
                let answer = try await client.send(uri, method, headers: audit)
                #expect(answer.status == .notFound && answer.errorCode == "unknown_decision", "\(uri): \(answer.text)")
                #expect(answer.isEnvelope)
            }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("e1"))
            let notADecision = try await client.send("/v1/decisions/1", .get, headers: audit)
            #expect(notADecision.errorCode == "unknown_decision", "LSN 1 is an event, not a decision")
            // Text that is not a decision's id names no decision, as an unknown number does.
            for id in ["0", "abc", "-1", "1.5", "18446744073709551616", "%20"] {
                for (uri, method) in [
                    ("/v1/decisions/\(id)", HTTPRequest.Method.get), ("/v1/decisions/\(id)/replay", .post),
                ] {
                    let answer = try await client.send(uri, method, headers: audit)
                    #expect(answer.status == .notFound && answer.errorCode == "unknown_decision", "\(uri)")
                    #expect(answer.isEnvelope)
                }
            }
            let decided = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: Self.decideBody(#"{"card":"c1"}"#, at: baseTime))
            let id = try #require(decided.json["id"] as? Int)
            for (uri, method, body) in [
                ("/v1/decisions/\(id)?pretty=1", HTTPRequest.Method.get, nil),
                ("/v1/decisions/\(id)/replay?at=1", .post, nil),
                ("/v1/decisions/\(id)/replay", .post, #"{"lsn":1}"#),
                ("/v1/decide?dry_run=1", .post, Self.decideBody(#"{"card":"c1"}"#, at: baseTime)),
            ] {
                let answer = try await client.send(
                    uri, method, headers: uri.hasPrefix("/v1/decide") ? fixture.headers(.decide) : audit, body: body)
                #expect(
                    answer.status == .badRequest && answer.errorCode == "invalid_argument", "\(uri): \(answer.text)")
            }
            let blank = try await client.send("/v1/decisions/\(id)/replay", .post, headers: audit, body: " \n")
            #expect(blank.status == .ok, "a blank body is no body")
            let empty = try await client.send("/v1/decisions/\(id)/replay", .post, headers: audit, body: " {} ")
            #expect(empty.status == .ok && empty.json["matches"] as? Bool == true, "{} asks for the same replay")
            for body in [#"{"lsn":1}"#, "[]", "null", "{"] {
                let answer = try await client.send("/v1/decisions/\(id)/replay", .post, headers: audit, body: body)
                #expect(answer.status == .badRequest && answer.errorCode == "invalid_argument", "\(body)")
            }
            for (uri, method, allowed) in [
                ("/v1/decide", HTTPRequest.Method.get, "POST"), ("/v1/decisions/\(id)", .post, "GET, HEAD"),
                ("/v1/decisions/\(id)/replay", .get, "POST"),
            ] {
                let answer = try await client.send(uri, method, headers: fixture.headers(.admin))
                #expect(answer.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(answer.headers[.allow] == allowed, "\(uri)")
            }
        }
    }

    /// Bodies `POST /v1/decide` refuses, with the status and code; none of them writes.
    static let badBodies: [(name: String, type: String?, body: String, status: Int, code: String)] = [
        ("empty", nil, "", 400, "malformed_json"),
        ("truncated", nil, #"{"request":{"card":"c1"}"#, 400, "malformed_json"),
        ("duplicate members", nil, #"{"request":{"card":"c1"},"at":1,"at":2}"#, 400, "malformed_json"),
        ("an array", nil, "[]", 400, "invalid_argument"),
        ("no request", nil, #"{"at":1}"#, 400, "invalid_argument"),
        ("request not an object", nil, #"{"request":[1]}"#, 400, "invalid_argument"),
        ("request null", nil, #"{"request":null}"#, 400, "invalid_argument"),
        ("unknown member", nil, #"{"request":{"card":"c1"},"lsn":1}"#, 400, "invalid_argument"),
        ("ingest unknown", nil, #"{"request":{"card":"c1"},"ingest":"after"}"#, 400, "invalid_argument"),
        ("ingest not a string", nil, #"{"request":{"card":"c1"},"ingest":true}"#, 400, "invalid_argument"),
        ("at malformed", nil, #"{"request":{"card":"c1"},"at":"yesterday"}"#, 400, "invalid_argument"),
        ("at negative", nil, #"{"request":{"card":"c1"},"at":-1}"#, 400, "invalid_argument"),
        ("at not a time", nil, #"{"request":{"card":"c1"},"at":[1]}"#, 400, "invalid_argument"),
        ("entities empty", nil, #"{"request":{"card":"c1"},"entities":[]}"#, 400, "invalid_argument"),
        ("entities an object", nil, #"{"request":{"card":"c1"},"entities":{}}"#, 400, "invalid_argument"),
        ("entity key an int", nil, #"{"request":{},"entities":[{"entity":"card","key":1}]}"#, 400, "invalid_argument"),
        ("entity without key", nil, #"{"request":{},"entities":[{"entity":"card"}]}"#, 400, "invalid_argument"),
        ("no entity in the payload", nil, #"{"request":{"amount":1}}"#, 400, "invalid_argument"),
        (
            "ingest an event-less payload", nil, #"{"request":{"card":"c1"},"ingest":"including"}"#, 400,
            "invalid_argument"
        ),
        ("unknown entity", nil, #"{"request":{},"entities":[{"entity":"planet","key":"p"}]}"#, 404, "unknown_entity"),
        (
            "too many entities", nil,
            #"{"request":{},"entities":[\#((0..<3).map { _ in #"{"entity":"card","key":"c"}"# }.joined(separator: ","))]}"#,
            413, "too_many_entities"
        ),
        ("text/plain", "text/plain", #"{"request":{"card":"c1"}}"#, 415, "unsupported_media_type"),
        ("too large", nil, #"{"request":{"card":"\#(String(repeating: "x", count: 70_000))"}}"#, 413, "body_too_large"),
    ]

    @Test("malformed or refused decide bodies answer their status with the envelope and write nothing")
    func badBodiesChangeNothing() async throws {
        var limits = ServerLimits()
        limits.maxVectorsPerRequest = 2
        limits.maxBodyBytes = 64 << 10
        let fixture = try ServerFixture(limits: limits)
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("b1"))
            for bad in Self.badBodies {
                let answer = try await client.send(
                    "/v1/decide", .post, headers: fixture.headers(.decide, contentType: bad.type), body: bad.body)
                #expect(answer.status.code == bad.status, "\(bad.name): \(answer.text)")
                #expect(answer.errorCode == bad.code, "\(bad.name): \(answer.text)")
                #expect(answer.isEnvelope, "\(bad.name)")
                #expect(fixture.lsn == 1, "\(bad.name) wrote")
            }
            // curl -d's form type is read as JSON, as on every other POST.
            let form = try await client.send(
                "/v1/decide", .post,
                headers: fixture.headers(.decide, contentType: "application/x-www-form-urlencoded"),
                body: Self.decideBody(#"{"card":"c1"}"#, at: baseTime))
            #expect(form.status == .ok, "\(form.text)")
        }
    }

    @Test("decide, GET and replay over a live connection (replay on the blocking pool)")
    func live() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test(.live) { client in
            let decide = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.admin),
                body: Self.decideBody(authorization("l1", time: baseTime), at: baseTime))
            #expect(decide.status == .ok)
            let replay = try await client.send("/v1/decisions/2/replay", .post, headers: fixture.headers(.admin))
            #expect(replay.json["matches"] as? Bool == true, "\(replay.text)")
            let head = try await client.send("/v1/decisions/2", .head, headers: fixture.headers(.audit))
            #expect(head.status == .ok && head.body.readableBytes == 0)
        }
    }

    @Test("a replay's differences embed both values as JSON, and 'absent' as a string")
    func replayJSON() throws {
        let differences = [
            ("vectors[0].views.card_txn_count_60s", "3", "4"), ("vectors[0].views.x", "absent", "null"),
            ("outcome", #""block""#, #""allow""#), ("vectors[0].views.avg", "12.5", "absent"),
        ].map { DecisionReplay.Difference(path: $0.0, recorded: $0.1, recomputed: $0.2) }
        let replay = DecisionReplay(
            id: LSN(7), token: SnapshotToken(lsn: LSN(6), at: 5, definitionsVersion: 1), matches: false,
            differences: differences, outcome: "allow")
        let text = String(decoding: TallyServer.replayJSON(replay), as: UTF8.self)
        #expect(
            text
                == #"{"id":7,"matches":false,"outcome":"allow","differences":[{"path":"vectors[0].views.card_txn_count_60s","recorded":3,"recomputed":4},{"path":"vectors[0].views.x","recorded":"absent","recomputed":null},{"path":"outcome","recorded":"block","recomputed":"allow"},{"path":"vectors[0].views.avg","recorded":12.5,"recomputed":"absent"}],"snapshot":{"lsn":6,"at":5,"definitions_version":1}}"#
        )
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
