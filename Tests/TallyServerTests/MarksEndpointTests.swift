import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@_spi(Testing) import Tally
import Testing

@testable import TallyServer

/// Lists and flags administration: `/v1/lists/…` and `/v1/flags/…` (role admin). Every time that
/// decides an outcome is explicit (`from`, `until`, `at`), never the wall clock.
@Suite("lists and flags endpoints")
struct MarksEndpointTests {
    /// The example definitions plus an integer-keyed entity with a list of it.
    static let withAccounts = DefinitionsEndpointTests.cardsText
        .replacingOccurrences(of: "\nentities:\n", with: "\nentities:\n  account:  { key: int }\n")
        .replacingOccurrences(of: "\nlists:\n", with: "\nlists:\n  blocked_accounts: { of: account }\n")

    @Test(
        "PUT adds a member: the vector and GET show it, the change takes the next LSN, the same interval again is unchanged"
    )
    func addMember() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("t1", time: baseTime))
            #expect(fixture.lsn == 1)
            let put = try await client.send(
                "/v1/lists/blocked_cards/members/c1", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime)}"#)
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.json["list"] as? String == "blocked_cards")
            #expect(put.json["member"] as? String == "c1")
            #expect(put.json["changed"] as? Bool == true)
            #expect(put.json["lsn"] as? Int == 2, "the change takes the store's next LSN")
            #expect(fixture.lsn == 2)
            let state = put.json["state"] as? [String: Any] ?? [:]
            #expect(state["from"] as? Int == Int(baseTime))
            #expect(state["until"] is NSNull)
            #expect(state["removed"] as? Bool == false)
            #expect(state["changed_at_lsn"] as? Int == 2)

            let vector = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 1000)", .get, headers: fixture.headers(.read))
            #expect(
                vector.text.contains(#""flags":{"velocity_hold":false},"lists":{"blocked_cards":true}"#),
                "\(vector.text)")
            let other = try await client.send(
                "/v1/entities/card/c2?at=\(baseTime + 1000)", .get, headers: fixture.headers(.read))
            #expect(other.text.contains(#""lists":{"blocked_cards":false}"#), "\(other.text)")
            let merchant = try await client.send("/v1/entities/merchant/m1", .get, headers: fixture.headers(.read))
            #expect(merchant.text.contains(#""flags":{},"lists":{}"#), "\(merchant.text)")

            let get = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime)", .get, headers: fixture.headers(.admin))
            #expect(get.status == .ok)
            #expect(get.json["holds"] as? Bool == true)
            #expect(get.json["member"] as? String == "c1")
            #expect((get.json["state"] as? [String: Any])?["changed_at_lsn"] as? Int == 2)
            let snapshot = get.json["snapshot"] as? [String: Any] ?? [:]
            #expect(snapshot["lsn"] as? Int == 2)
            #expect(snapshot["at"] as? Int == Int(baseTime))
            #expect(snapshot["definitions_version"] as? Int == 1)
            let before = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime - 1)", .get, headers: fixture.headers(.admin))
            #expect(before.json["holds"] as? Bool == false, "at before from")
            let beforeChange = try await client.send(
                "/v1/lists/blocked_cards/members/c1?lsn=1&at=\(baseTime)", .get, headers: fixture.headers(.admin))
            #expect(beforeChange.json["holds"] as? Bool == false, "at an LSN before the change")
            #expect((beforeChange.json["state"] as? [String: Any])?["changed_at_lsn"] is NSNull)

            // The same interval again, by epoch ms or RFC 3339, changes nothing and takes no LSN.
            for body in [#"{"from":\#(baseTime),"until":null}"#, #"{"from":"2026-05-28T20:26:40.000Z"}"#] {
                let again = try await client.send(
                    "/v1/lists/blocked_cards/members/c1", .put, headers: fixture.headers(.admin), body: body)
                #expect(again.status == .ok)
                #expect(again.json["changed"] as? Bool == false, "\(again.text)")
                #expect(again.json["lsn"] is NSNull)
                #expect((again.json["state"] as? [String: Any])?["changed_at_lsn"] as? Int == 2)
            }
            #expect(fixture.lsn == 2)

            // A bounded interval: until is exclusive.
            let bounded = try await client.send(
                "/v1/lists/blocked_cards/members/c9", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime),"until":\#(baseTime + 5000)}"#)
            #expect(bounded.json["lsn"] as? Int == 3)
            #expect((bounded.json["state"] as? [String: Any])?["until"] as? Int == Int(baseTime + 5000))
            for (at, holds) in [(baseTime + 4999, true), (baseTime + 5000, false)] {
                let read = try await client.send(
                    "/v1/lists/blocked_cards/members/c9?at=\(at)", .get, headers: fixture.headers(.admin))
                #expect(read.json["holds"] as? Bool == holds, "at \(at)")
            }
        }
    }

    @Test("DELETE ends the membership: later reads say no, a read at the earlier LSN still says yes")
    func removeMember() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let put = try await client.send(
                "/v1/lists/blocked_cards/members/c1", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime)}"#)
            #expect(put.json["lsn"] as? Int == 1)
            let delete = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime + 10_000)", .delete, headers: fixture.headers(.admin))
            #expect(delete.status == .ok, "\(delete.text)")
            #expect(delete.json["changed"] as? Bool == true)
            #expect(delete.json["lsn"] as? Int == 2)
            let state = delete.json["state"] as? [String: Any] ?? [:]
            #expect(state["from"] as? Int == Int(baseTime + 10_000), "a removal is false from its time on")
            #expect(state["until"] is NSNull)
            #expect(state["removed"] as? Bool == true)
            #expect(state["changed_at_lsn"] as? Int == 2)

            let later = baseTime + 20_000
            let vector = try await client.send(
                "/v1/entities/card/c1?at=\(later)", .get, headers: fixture.headers(.read))
            #expect(vector.text.contains(#""lists":{"blocked_cards":false}"#), "\(vector.text)")
            let oldVector = try await client.send(
                "/v1/entities/card/c1?lsn=1&at=\(later)", .get, headers: fixture.headers(.read))
            #expect(oldVector.text.contains(#""lists":{"blocked_cards":true}"#), "\(oldVector.text)")
            let now = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(later)", .get, headers: fixture.headers(.admin))
            #expect(now.json["holds"] as? Bool == false)
            let old = try await client.send(
                "/v1/lists/blocked_cards/members/c1?lsn=1&at=\(later)", .get, headers: fixture.headers(.admin))
            #expect(old.json["holds"] as? Bool == true, "the token before the removal answers as it did")
            #expect((old.json["snapshot"] as? [String: Any])?["lsn"] as? Int == 1)
            let earlierTime = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime + 9999)", .get, headers: fixture.headers(.admin))
            #expect(earlierTime.json["holds"] as? Bool == true, "event times before the end still see it")

            // Ending it again, or a member never added, changes nothing.
            let again = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime + 10_000)", .delete, headers: fixture.headers(.admin))
            #expect(again.json["changed"] as? Bool == false)
            #expect(again.json["lsn"] is NSNull)
            let never = try await client.send(
                "/v1/lists/blocked_cards/members/c9?at=\(baseTime)", .delete, headers: fixture.headers(.admin))
            #expect(never.status == .ok)
            #expect(never.json["changed"] as? Bool == false)
            #expect(never.json["lsn"] is NSNull)
            let neverState = never.json["state"] as? [String: Any] ?? [:]
            #expect(neverState["from"] is NSNull && neverState["until"] is NSNull)
            #expect(neverState["removed"] as? Bool == false && neverState["changed_at_lsn"] is NSNull)
            #expect(fixture.lsn == 2)
        }
    }

    @Test("a flag set without until expires after its for (1h) in event time; DELETE clears it earlier")
    func flagExpiry() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        let hour: Int64 = 3_600_000
        try await fixture.test { client in
            let put = try await client.send(
                "/v1/flags/velocity_hold/c1", .put, headers: fixture.headers(.admin), body: #"{"from":\#(baseTime)}"#)
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.json["flag"] as? String == "velocity_hold")
            #expect(put.json["key"] as? String == "c1")
            #expect(put.json["lsn"] as? Int == 1)
            #expect((put.json["state"] as? [String: Any])?["until"] as? Int == Int(baseTime + hour))
            for (at, holds) in [
                (baseTime - 1, false), (baseTime, true), (baseTime + hour - 1, true), (baseTime + hour, false),
            ] {
                let read = try await client.send(
                    "/v1/flags/velocity_hold/c1?at=\(at)", .get, headers: fixture.headers(.admin))
                #expect(read.status == .ok)
                #expect(read.json["holds"] as? Bool == holds, "at \(at): \(read.text)")
                let vector = try await client.send(
                    "/v1/entities/card/c1?at=\(at)", .get, headers: fixture.headers(.read))
                #expect(vector.text.contains(#""flags":{"velocity_hold":\#(holds)}"#), "at \(at): \(vector.text)")
            }
            let clear = try await client.send(
                "/v1/flags/velocity_hold/c1?at=\(baseTime + 60_000)", .delete, headers: fixture.headers(.admin))
            #expect(clear.json["changed"] as? Bool == true)
            #expect(clear.json["lsn"] as? Int == 2)
            #expect((clear.json["state"] as? [String: Any])?["removed"] as? Bool == true)
            for (at, holds) in [(baseTime + 59_999, true), (baseTime + 60_000, false)] {
                let read = try await client.send(
                    "/v1/flags/velocity_hold/c1?at=\(at)", .get, headers: fixture.headers(.admin))
                #expect(read.json["holds"] as? Bool == holds, "at \(at)")
            }
            let old = try await client.send(
                "/v1/flags/velocity_hold/c1?lsn=1&at=\(baseTime + 60_000)", .get, headers: fixture.headers(.admin))
            #expect(old.json["holds"] as? Bool == true)
            // An explicit until overrides for.
            let explicit = try await client.send(
                "/v1/flags/velocity_hold/c2", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime),"until":\#(baseTime + 2 * hour)}"#)
            #expect((explicit.json["state"] as? [String: Any])?["until"] as? Int == Int(baseTime + 2 * hour))
            let never = try await client.send(
                "/v1/flags/velocity_hold/c3?at=\(baseTime)", .delete, headers: fixture.headers(.admin))
            #expect(never.json["changed"] as? Bool == false)
            #expect(fixture.lsn == 3)
        }
    }

    @Test("GET /v1/lists/{list}: the members holding at (lsn, at), in key order, a page at a time")
    func listing() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for card in ["c1", "c2", "c3", "c4", "c5"] {
                let put = try await client.send(
                    "/v1/lists/blocked_cards/members/\(card)", .put, headers: fixture.headers(.admin),
                    body: #"{"from":\#(baseTime)}"#)
                #expect(put.status == .ok)
            }
            _ = try await client.send(
                "/v1/lists/blocked_cards/members/c3?at=\(baseTime + 1000)", .delete, headers: fixture.headers(.admin))
            #expect(fixture.lsn == 6)
            let at = baseTime + 2000
            func page(_ query: String) async throws -> (members: [String], next: String?, lsn: Int?) {
                let response = try await client.send(
                    "/v1/lists/blocked_cards?at=\(at)\(query)", .get, headers: fixture.headers(.admin))
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["list"] as? String == "blocked_cards")
                let members = response.json["members"] as? [[String: Any]] ?? []
                return (
                    members.map { $0["member"] as? String ?? "?" }, response.json["next_after"] as? String,
                    (response.json["snapshot"] as? [String: Any])?["lsn"] as? Int
                )
            }
            let all = try await page("")
            #expect(all.members == ["c1", "c2", "c4", "c5"])
            #expect(all.next == nil)
            #expect(all.lsn == 6)
            let first = try await page("&limit=2")
            #expect(first.members == ["c1", "c2"])
            #expect(first.next == "c2")
            let second = try await page("&limit=2&after=c2")
            #expect(second.members == ["c4", "c5"])
            #expect(second.next == nil)
            // Before the removal's LSN c3 is still a member; before from, nobody is.
            let old = try await page("&lsn=5")
            #expect(old.members == ["c1", "c2", "c3", "c4", "c5"])
            #expect(old.lsn == 5)
            let early = try await client.send(
                "/v1/lists/blocked_cards?at=\(baseTime - 1)", .get, headers: fixture.headers(.admin))
            #expect((early.json["members"] as? [Any])?.isEmpty == true)
            let withState = try await client.send(
                "/v1/lists/blocked_cards?at=\(at)&limit=1", .get, headers: fixture.headers(.admin))
            let member = (withState.json["members"] as? [[String: Any]])?.first ?? [:]
            let state = member["state"] as? [String: Any] ?? [:]
            #expect(state["from"] as? Int == Int(baseTime) && state["changed_at_lsn"] as? Int == 1)
            let maximum = try await page("&limit=1000")
            #expect(maximum.members.count == 4)
            for bad in ["limit=0", "limit=1001", "limit=x", "limit=-1", "after=", "limit=2&limit=3", "colour=red"] {
                let response = try await client.send(
                    "/v1/lists/blocked_cards?\(bad)", .get, headers: fixture.headers(.admin))
                #expect(response.status == .badRequest, "\(bad)")
                #expect(response.errorCode == "invalid_argument", "\(bad)")
            }
            let unknown = try await client.send("/v1/lists/nothing", .get, headers: fixture.headers(.admin))
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "unknown_list")
        }
    }

    @Test("integer keys: canonical members, numeric order, a key that is not an integer is 400")
    func integerKeys() async throws {
        let fixture = try ServerFixture(definitions: try DefinitionsLoader.load(text: Self.withAccounts))
        defer { fixture.remove() }
        try await fixture.test { client in
            for key in ["100", "9", "010"] {
                let put = try await client.send(
                    "/v1/lists/blocked_accounts/members/\(key)", .put, headers: fixture.headers(.admin),
                    body: #"{"from":\#(baseTime)}"#)
                #expect(put.status == .ok, "\(put.text)")
            }
            let canonical = try await client.send(
                "/v1/lists/blocked_accounts/members/0010?at=\(baseTime)", .get, headers: fixture.headers(.admin))
            #expect(canonical.json["member"] as? String == "10")
            #expect(canonical.json["holds"] as? Bool == true)
            let listing = try await client.send(
                "/v1/lists/blocked_accounts?at=\(baseTime)", .get, headers: fixture.headers(.admin))
            let members = (listing.json["members"] as? [[String: Any]] ?? []).map { $0["member"] as? String }
            #expect(members == ["9", "10", "100"])
            let after = try await client.send(
                "/v1/lists/blocked_accounts?at=\(baseTime)&after=9", .get, headers: fixture.headers(.admin))
            #expect((after.json["members"] as? [[String: Any]] ?? []).map { $0["member"] as? String } == ["10", "100"])
            let vector = try await client.send(
                "/v1/entities/account/10?at=\(baseTime)", .get, headers: fixture.headers(.read))
            #expect(vector.text.contains(#""lists":{"blocked_accounts":true}"#), "\(vector.text)")
            let lsn = fixture.lsn
            for (uri, method) in [
                ("/v1/lists/blocked_accounts/members/abc", HTTPRequest.Method.put),
                ("/v1/lists/blocked_accounts/members/abc", .get),
                ("/v1/lists/blocked_accounts/members/1.5", .delete),
                ("/v1/lists/blocked_accounts?after=abc", .get),
            ] {
                let response = try await client.send(uri, method, headers: fixture.headers(.admin))
                #expect(response.status == .badRequest, "\(method) \(uri): \(response.text)")
                #expect(response.errorCode == "invalid_argument")
            }
            #expect(fixture.lsn == lsn)
        }
    }

    @Test("path keys are percent-decoded; an empty body takes the defaults")
    func pathAndDefaults() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let put = try await client.send(
                "/v1/lists/blocked_cards/members/c%2F1%20x", .put, headers: fixture.headers(.admin),
                body: #"{"from":\#(baseTime)}"#)
            #expect(put.json["member"] as? String == "c/1 x")
            let vector = try await client.send(
                "/v1/entities/card/c%2F1%20x?at=\(baseTime)", .get, headers: fixture.headers(.read))
            #expect(vector.text.contains(#""lists":{"blocked_cards":true}"#), "\(vector.text)")
            let country = try await client.send(
                "/v1/lists/risky_countries/members/FR", .put,
                headers: fixture.headers(.admin, contentType: "application/json"), body: #"{"from":\#(baseTime)}"#)
            #expect(country.status == .ok)
            #expect(country.json["member"] as? String == "FR")
            // No body, and a blank one: from is the wall clock, until open-ended.
            for body in [nil, " \n"] {
                let card = "d\(body == nil ? 1 : 2)"
                let start = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
                let response = try await client.send(
                    "/v1/lists/blocked_cards/members/\(card)", .put, headers: fixture.headers(.admin), body: body)
                #expect(response.status == .ok, "\(response.text)")
                let state = response.json["state"] as? [String: Any] ?? [:]
                let from = Int64(state["from"] as? Int ?? 0)
                #expect(from >= start && from <= start + 60_000, "from \(from), wall clock \(start)")
                #expect(state["until"] is NSNull)
            }
        }
    }

    @Test("bad requests change nothing: 400 bodies and intervals, 404 unknown list or flag, 401, 403, 405, 415")
    func errors() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let member = "/v1/lists/blocked_cards/members/c1"
            for body in [
                #"{"from":\#(baseTime),"until":\#(baseTime)}"#,
                #"{"from":\#(baseTime),"until":\#(baseTime - 1)}"#,
                #"{"from":true}"#,
                #"{"until":[1]}"#,
                #"{"from":-5}"#,
                #"{"from":1.5}"#,
                #"{"from":"yesterday"}"#,
                #"{"from":"99999-01-01T00:00:00Z"}"#,
                #"{"from":\#(baseTime),"colour":"red"}"#,
                #"[\#(baseTime)]"#,
                #""\#(baseTime)""#,
            ] {
                for path in [member, "/v1/flags/velocity_hold/c1"] {
                    let response = try await client.send(path, .put, headers: fixture.headers(.admin), body: body)
                    #expect(response.status == .badRequest, "\(path) \(body): \(response.text)")
                    #expect(response.errorCode == "invalid_argument", "\(path) \(body): \(response.text)")
                    #expect(response.isEnvelope)
                }
            }
            for body in ["{", #"{"from":1,"from":2}"#, "{\"from\":1}x"] {
                let response = try await client.send(member, .put, headers: fixture.headers(.admin), body: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorCode == "malformed_json", "\(body): \(response.text)")
            }
            for (uri, method, body) in [
                ("\(member)?from=\(baseTime)", HTTPRequest.Method.put, #"{"from":\#(baseTime)}"#),
                ("/v1/flags/velocity_hold/c1?at=\(baseTime)", .put, nil),
                (member, .delete, #"{"at":\#(baseTime)}"#),
                ("/v1/flags/velocity_hold/c1?at=\(baseTime)", .delete, "{}"),
            ] {
                let response = try await client.send(uri, method, headers: fixture.headers(.admin), body: body)
                #expect(response.status == .badRequest, "\(method) \(uri): \(response.text)")
                #expect(response.errorCode == "invalid_argument")
            }
            let csv = try await client.send(
                member, .put, headers: fixture.headers(.admin, contentType: "text/csv"), body: "a,b")
            #expect(csv.status == .unsupportedMediaType)
            for (uri, method) in [
                ("\(member)?at=yesterday", HTTPRequest.Method.delete),
                ("\(member)?lsn=1", .delete),
                ("\(member)?at=1&at=2", .delete),
                ("\(member)?lsn=99", .get),
                ("\(member)?lsn=x", .get),
                ("\(member)?after=c0", .get),
                ("/v1/flags/velocity_hold/c1?at=-1", .get),
                ("/v1/flags/velocity_hold/c1?at=1&colour=red", .delete),
            ] {
                let response = try await client.send(uri, method, headers: fixture.headers(.admin))
                #expect(response.status == .badRequest, "\(method) \(uri): \(response.text)")
                #expect(response.errorCode == "invalid_argument")
            }
            for (uri, method, code) in [
                ("/v1/lists/nothing/members/c1", HTTPRequest.Method.put, "unknown_list"),
                ("/v1/lists/nothing/members/c1", .delete, "unknown_list"),
                ("/v1/lists/nothing/members/c1", .get, "unknown_list"),
                ("/v1/flags/nothing/c1", .put, "unknown_flag"),
                ("/v1/flags/nothing/c1", .delete, "unknown_flag"),
                ("/v1/flags/nothing/c1", .get, "unknown_flag"),
            ] {
                let response = try await client.send(uri, method, headers: fixture.headers(.admin))
                #expect(response.status == .notFound, "\(method) \(uri)")
                #expect(response.errorCode == code, "\(method) \(uri): \(response.text)")
            }
            for role in Role.allCases where role != .admin {
                for (uri, method) in [
                    (member, HTTPRequest.Method.put), (member, .delete), (member, .get),
                    ("/v1/lists/blocked_cards", .get), ("/v1/flags/velocity_hold/c1", .put),
                    ("/v1/flags/velocity_hold/c1", .delete), ("/v1/flags/velocity_hold/c1", .get),
                ] {
                    let response = try await client.send(
                        uri, method, headers: fixture.headers(role), body: #"{"from":\#(baseTime)}"#)
                    #expect(response.status == .forbidden, "\(role) \(method) \(uri)")
                    #expect(response.errorCode == "forbidden")
                }
            }
            let anonymous = try await client.send(member, .put, body: #"{"from":\#(baseTime)}"#)
            #expect(anonymous.status == .unauthorized)
            let wrongMethod = try await client.send(member, .post, headers: fixture.headers(.admin))
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.headers[.allow] == "GET, PUT, DELETE, HEAD")
            let listMethod = try await client.send("/v1/lists/blocked_cards", .put, headers: fixture.headers(.admin))
            #expect(listMethod.headers[.allow] == "GET, HEAD")
            let noMember = try await client.send(
                "/v1/lists/blocked_cards/members", .get, headers: fixture.headers(.admin))
            #expect(noMember.status == .notFound)
            #expect(noMember.errorCode == "not_found")
            #expect(fixture.lsn == 0, "nothing was logged")
        }
    }

    @Test("over a live connection: RFC 3339 times, HEAD, and the store's own reading agree")
    func live() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test(.live) { client in
            let put = try await client.send(
                "/v1/lists/blocked_cards/members/c1", .put, headers: fixture.headers(.admin),
                body: #"{"from":"2026-05-28T20:26:40Z","until":"2026-05-28T21:26:40Z"}"#)
            #expect(put.status == .ok, "\(put.text)")
            let state = put.json["state"] as? [String: Any] ?? [:]
            #expect(state["from"] as? Int == Int(baseTime))
            #expect(state["until"] as? Int == Int(baseTime + 3_600_000))
            let head = try await client.send(
                "/v1/lists/blocked_cards/members/c1?at=\(baseTime)", .head, headers: fixture.headers(.admin))
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
        }
        let reading = try fixture.store.read { snapshot in
            try snapshot.listMembership("blocked_cards", member: "c1", at: try snapshot.token(at: baseTime))
        }
        #expect(reading.holds)
        #expect(reading.state.changedAt == LSN(1))
    }
}
