import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Tally
@testable import TallyServer

/// `PUT /v1/definitions` (issue 6): new views backfilled before they are served, unchanged
/// definitions changing nothing, refused changes, `/readyz` and `GET /v1/definitions` during a
/// backfill.
@Suite struct DefinitionsEndpointTests {
    static let cardsText = (try? String(contentsOfFile: "Examples/cards.yaml", encoding: .utf8)) ?? ""
    /// The example definitions with one more view, on a state no other view keeps (a filtered
    /// count), so it must be backfilled.
    static let withAddedView = cardsText.replacingOccurrences(
        of: "\nviews:\n",
        with:
            "\nviews:\n  card_big_auth_count_1h: { entity: card, from: authorization, where: \"amount >= 20\", aggregate: count, window: 1h }\n"
    )

    @Test("PUT /v1/definitions backfills a new view, then serves it from the change's LSN")
    func aNewViewIsBackfilledThenServed() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test(.live) { client in
            let amounts = ["12.5", "3.25", "40"]
            let events = amounts.enumerated().map { index, amount in
                authorization("d\(index)", card: "c1", amount: amount, time: baseTime + Int64(index) * 1_000)
            }
            let ingest = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(events.joined(separator: ","))]")
            #expect(ingest.json["accepted"] as? Int == 3)
            let before = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 5_000)", .get, headers: fixture.headers(.read))
            #expect((before.json["views"] as? [String: Any])?["card_big_auth_count_1h"] == nil)

            let put = try await client.send(
                "/v1/definitions", .put, headers: fixture.headers(.admin, contentType: "application/yaml"),
                body: Self.withAddedView)
            #expect(put.status == .ok)
            #expect(put.json["status"] as? String == "served")
            #expect(put.json["version"] as? Int == 2 && put.json["previous_version"] as? Int == 1)
            #expect(put.json["changed"] as? Bool == true)
            #expect(put.json["served_from_lsn"] as? Int == 4, "the change takes the LSN after the 3 events")
            #expect(put.json["backfilled_views"] as? [String] == ["card_big_auth_count_1h"])
            #expect(put.json["replayed_events"] as? Int == 3)

            let after = try await client.send(
                "/v1/entities/card/c1?at=\(baseTime + 5_000)", .get, headers: fixture.headers(.read))
            let views = after.json["views"] as? [String: Any] ?? [:]
            #expect(views["card_big_auth_count_1h"] as? Int == 1, "only the 40.00 authorization is ≥ 20")
            #expect((after.json["snapshot"] as? [String: Any])?["definitions_version"] as? Int == 2)
            // A read at the old LSN keeps the version served then.
            let old = try await client.send(
                "/v1/entities/card/c1?lsn=3&at=\(baseTime + 5_000)", .get, headers: fixture.headers(.read))
            #expect((old.json["views"] as? [String: Any])?["card_big_auth_count_1h"] == nil)
            #expect((old.json["snapshot"] as? [String: Any])?["definitions_version"] as? Int == 1)

            let definitions = try await client.send("/v1/definitions", .get, headers: fixture.headers(.read))
            #expect(definitions.json["version"] as? Int == 2)
            let names = (definitions.json["views"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names.contains("card_big_auth_count_1h"))
            // Each item's version: the version since which it is unchanged.
            var viewVersions: [String: Int] = [:]
            for view in definitions.json["views"] as? [[String: Any]] ?? [] {
                if let name = view["name"] as? String { viewVersions[name] = view["version"] as? Int }
            }
            #expect(viewVersions["card_big_auth_count_1h"] == 2)
            #expect(viewVersions["card_txn_count_60s"] == 1)
            let eventTypes = definitions.json["events"] as? [[String: Any]] ?? []
            #expect(!eventTypes.isEmpty && eventTypes.allSatisfy { $0["version"] as? Int == 1 })
            // The catalog is a read too: its snapshot token, and at an older LSN the version served then.
            let token = definitions.json["snapshot"] as? [String: Any]
            #expect(token?["lsn"] as? Int == 4 && token?["definitions_version"] as? Int == 2)
            let oldCatalog = try await client.send("/v1/definitions?lsn=3", .get, headers: fixture.headers(.read))
            #expect(oldCatalog.json["version"] as? Int == 1)
            #expect((oldCatalog.json["snapshot"] as? [String: Any])?["lsn"] as? Int == 3)
            let oldNames = (oldCatalog.json["views"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(!oldNames.isEmpty && !oldNames.contains("card_big_auth_count_1h"))
            let ahead = try await client.send("/v1/definitions?lsn=99", .get, headers: fixture.headers(.read))
            #expect(ahead.status == .badRequest && ahead.errorCode == "invalid_argument")

            let again = try await client.send(
                "/v1/definitions", .put, headers: fixture.headers(.admin), body: Self.withAddedView)
            #expect(again.status == .ok)
            #expect(again.json["changed"] as? Bool == false && again.json["version"] as? Int == 2)
            #expect(fixture.lsn == 4, "unchanged definitions log nothing")
        }
    }

    @Test("during a backfill readyz is 503 not_ready, GET shows the progress and a second PUT is 409")
    func duringABackfill() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test(.router) { client in
            let ingest = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("p1", card: "c9"))
            #expect(ingest.status == .ok)
            try await fixture.store.beginDefinitionsChange(try DefinitionsLoader.load(text: Self.withAddedView))
            let ready = try await client.send("/readyz", .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.errorCode == "not_ready")
            func readyGauge() async throws -> Double? {
                let metrics = try await client.send("/metrics", .get, headers: fixture.headers(.admin))
                return MetricsTests.samples(metrics.text, "tally_store_ready")[""]
            }
            #expect(try await readyGauge() == 0, "the gauge says what /readyz says")
            let definitions = try await client.send("/v1/definitions", .get, headers: fixture.headers(.read))
            #expect(definitions.json["version"] as? Int == 1, "reads keep the served version")
            let progress = definitions.json["change_in_progress"] as? [String: Any]
            #expect(progress?["version"] as? Int == 2 && progress?["target_lsn"] as? Int == 1)
            let second = try await client.send(
                "/v1/definitions", .put, headers: fixture.headers(.admin), body: Self.cardsText)
            #expect(second.status == .conflict)
            #expect(second.errorCode == "definitions_change_in_progress")

            _ = try await fixture.store.backfillPendingDefinitions()
            #expect(try await client.send("/readyz", .get).status == .ok)
            #expect(try await readyGauge() == 1)
            let vector = try await client.send(
                "/v1/entities/card/c9?at=\(baseTime + 1)", .get, headers: fixture.headers(.read))
            #expect((vector.json["views"] as? [String: Any])?["card_big_auth_count_1h"] != nil)
        }
    }

    @Test("PUT /v1/definitions needs the admin role and a definitions media type")
    func rolesAndMediaTypes() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test(.router) { client in
            for role in [Role.read, .ingest, .decide, .audit] {
                let response = try await client.send(
                    "/v1/definitions", .put, headers: fixture.headers(role), body: Self.withAddedView)
                #expect(response.status == .forbidden)
            }
            let csv = try await client.send(
                "/v1/definitions", .put, headers: fixture.headers(.admin, contentType: "text/csv"), body: "a,b")
            #expect(csv.status == .unsupportedMediaType)
            #expect(csv.isEnvelope)
            #expect(fixture.store.servedDefinitionsVersion == 1)
            // curl -d's form type: the body is still the definitions file, as for POST /v1/events.
            let form = try await client.send(
                "/v1/definitions", .put,
                headers: fixture.headers(.admin, contentType: "application/x-www-form-urlencoded"),
                body: Self.withAddedView)
            #expect(form.status == .ok)
            #expect(fixture.store.servedDefinitionsVersion == 2)
        }
    }
}
