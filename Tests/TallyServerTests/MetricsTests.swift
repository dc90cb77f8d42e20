import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TallyServer

@Suite("metrics")
struct MetricsTests {
    /// `name{labels} value` lines of a Prometheus text answer, by name and label text.
    static func samples(_ text: String, _ name: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let head = line[..<space]
            let labels = head.firstIndex(of: "{").map { String(head[$0...]) } ?? ""
            result[labels] = value
        }
        return result
    }

    @Test("a known batch moves the event counters by exactly n accepted, d duplicates, r rejected by code")
    func exactCounters() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let admin = fixture.headers(.admin)
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("pre"))
            let before = Self.samples(
                try await client.send("/metrics", .get, headers: admin).text, "tally_ingest_events_total")
            // 3 accepted, 2 duplicates (one of an earlier request, one inside the batch), 3 rejected.
            let batch = [
                authorization("k1"), authorization("k2"), authorization("k3"), authorization("pre"),
                authorization("k1"),
                #"{"type":"nope"}"#, #"{"type":"nope2"}"#, authorization("k9", amount: "true"),
            ]
            let response = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(batch.joined(separator: ","))]")
            #expect(response.json["accepted"] as? Int == 3)
            #expect(response.json["duplicates"] as? Int == 2)
            let text = try await client.send("/metrics", .get, headers: admin).text
            let after = Self.samples(text, "tally_ingest_events_total")
            func delta(_ labels: String) -> Double { (after[labels] ?? 0) - (before[labels] ?? 0) }
            #expect(delta(#"{result="accepted",code=""}"#) == 3)
            #expect(delta(#"{result="duplicate",code=""}"#) == 2)
            #expect(delta(#"{result="rejected",code="unknown_type"}"#) == 2)
            #expect(delta(#"{result="rejected",code="wrong_type"}"#) == 1)
            let total: Double = after.values.reduce(0, +) - before.values.reduce(0, +)
            #expect(total == 8)
            // Store gauges, read at scrape time.
            #expect(Self.samples(text, "tally_store_lsn")[""] == 4)
            #expect(Self.samples(text, "tally_store_ready")[""] == 1)
            #expect(Self.samples(text, "tally_store_page_cache_shaping")[""] == 1)
            #expect(Self.samples(text, "tally_store_freshness_seconds")[""] != nil)
            // Per view: views of authorizations are as fresh as the store (its newest event is one);
            // a view of declines, which never came, has no sample rather than a made-up one.
            let views = Self.samples(text, "tally_view_freshness_seconds")
            let storeFreshness = try #require(Self.samples(text, "tally_store_freshness_seconds")[""])
            #expect(views[#"{view="card_txn_count_60s"}"#] == storeFreshness, "\(views)")
            #expect(views[#"{view="card_exposure"}"#] == storeFreshness)
            #expect(views[#"{view="merchant_declines_10m"}"#] == nil)
            #expect(text.contains("tally_ingest_batch_size_bucket"))
            #expect(text.contains("tally_ingest_commit_seconds_bucket"))
            // The writer's own figures: every commit so far (the two ingest requests at least). The
            // writer reports a commit before it resumes the commit's callers, so they are normally in
            // the first answer; the wait (2 s at most) only covers a metrics backend that lags.
            var writerText = text
            for _ in 0..<200 where (Self.samples(writerText, "tally_store_commit_requests_sum")[""] ?? 0) < 2 {
                try await Task.sleep(for: .milliseconds(10))
                writerText = try await client.send("/metrics", .get, headers: admin).text
            }
            #expect((Self.samples(writerText, "tally_store_commit_seconds_count")[""] ?? 0) >= 2)
            #expect((Self.samples(writerText, "tally_store_apply_seconds_count")[""] ?? 0) >= 2)
            #expect((Self.samples(writerText, "tally_store_commit_requests_sum")[""] ?? 0) >= 2)
            #expect(text.contains(#"tally_http_requests_total{endpoint="/v1/events",method="POST",status="200"}"#))
            #expect(text.contains("tally_http_request_duration_seconds_bucket"))
        }
    }

    @Test("a decision's scored event counts with the ingested events; a removed view stops reporting freshness")
    func decisionsCountTheirEventsAndRemovedViewsDropOut() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let admin = fixture.headers(.admin)
            _ = try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: authorization("a1"))
            let decided = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: #"{"request":\#(authorization("d1", time: baseTime + 1))}"#)
            #expect(decided.status == .ok, "\(decided.text)")
            let late = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: #"{"request":\#(authorization("d2", time: baseTime - 7_200_000))}"#)
            #expect(late.status == .unprocessableContent, "\(late.text)")
            // With ingest none, nothing would have been ingested: a bad event counts nowhere.
            let unscored = authorization("d3").replacingOccurrences(of: #","amount":12.50"#, with: "")
            let none = try await client.send(
                "/v1/decide", .post, headers: fixture.headers(.decide),
                body: #"{"request":\#(unscored),"ingest":"none"}"#)
            #expect(none.status == .unprocessableContent, "\(none.text)")
            var text = try await client.send("/metrics", .get, headers: admin).text
            let events = Self.samples(text, "tally_ingest_events_total")
            #expect(events[#"{result="accepted",code=""}"#] == 2, "\(events)")
            #expect(events[#"{result="rejected",code="late"}"#] == 1, "\(events)")
            #expect(events.keys.filter { $0.contains("missing_field") }.isEmpty, "\(events)")
            #expect(Self.samples(text, "tally_view_freshness_seconds")[#"{view="card_amount_max_24h"}"#] != nil)
            let without = DefinitionsEndpointTests.cardsText.split(separator: "\n")
                .filter { !$0.contains("card_amount_max_24h:") }.joined(separator: "\n")
            let applied = try await client.send("/v1/definitions", .put, headers: admin, body: without)
            #expect(applied.status == .ok, "\(applied.text)")
            text = try await client.send("/metrics", .get, headers: admin).text
            let views = Self.samples(text, "tally_view_freshness_seconds")
            #expect(views[#"{view="card_amount_max_24h"}"#] == nil, "\(views)")
            #expect(views[#"{view="card_txn_count_60s"}"#] != nil, "\(views)")
        }
    }

    @Test("every request moves its endpoint's request counter and duration count by exactly one")
    func exactRequestCounters() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for _ in 0..<5 { _ = try await client.send("/healthz", .get) }
            for _ in 0..<2 { _ = try await client.send("/nowhere", .get) }
            for _ in 0..<3 { _ = try await client.send("/v1/entities/card/c1", .delete) }
            let text = try await client.send("/metrics", .get, headers: fixture.headers(.admin)).text
            let requests = Self.samples(text, "tally_http_requests_total")
            #expect(requests[#"{endpoint="/healthz",method="GET",status="200"}"#] == 5)
            #expect(requests[#"{endpoint="unmatched",method="GET",status="404"}"#] == 2)
            // A method the path does not take is counted under the path's pattern.
            #expect(
                requests[#"{endpoint="/v1/entities/{entity}/{key}",method="DELETE",status="405"}"#] == 3, "\(requests)")
            let durations = Self.samples(text, "tally_http_request_duration_seconds_count")
            #expect(durations[#"{endpoint="/healthz",method="GET"}"#] == 5)
        }
    }

    @Test("requests that fail whole are counted by code and move no event counter")
    func failedRequests() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: "{oops")
            _ = try await client.send("/nowhere", .get)
            let text = try await client.send("/metrics", .get, headers: fixture.headers(.admin)).text
            #expect(Self.samples(text, "tally_ingest_requests_total")[#"{outcome="malformed_json"}"#] == 1)
            let events: Double = Self.samples(text, "tally_ingest_events_total").values.reduce(0, +)
            #expect(events == 0)
            #expect(text.contains(#"tally_http_requests_total{endpoint="unmatched",method="GET",status="404"}"#))
        }
    }
}
