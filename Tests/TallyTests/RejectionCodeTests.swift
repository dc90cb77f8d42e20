import Foundation
import Testing

@_spi(Testing) @testable import Tally

/// Every rejection code, each from a minimal bad event; nothing is stored for any of them.
@Suite struct RejectionCodeTests {
    static let now: Int64 = 1_700_000_000_000
    static let ok = #""txn_id":"t","ts":1700000000000,"card":"c","amount":1,"count":1,"approved":true"#

    static let cases: [(String, String)] = [
        ("not_an_object", #"[1]"#),
        ("not_an_object", #"[[{"type":"payment"}]]"#),
        ("missing_type", #"{"txn_id":"t"}"#),
        ("missing_type", #"{"type":5,"txn_id":"t"}"#),
        ("unknown_type", #"{"type":"refund","txn_id":"t"}"#),
        ("unknown_field", #"{"type":"payment",\#(ok),"extra":1}"#),
        ("missing_field", #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","count":1,"approved":true}"#),
        (
            "wrong_type",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1,"count":"1","approved":true}"#
        ),
        (
            "wrong_type",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1,"count":1,"approved":"yes"}"#
        ),
        (
            "wrong_type",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":{"v":1},"count":1,"approved":true}"#
        ),
        (
            "wrong_type",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":null,"amount":1,"count":1,"approved":true}"#
        ),
        (
            "wrong_type",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1,"count":1.5,"approved":true}"#
        ),
        (
            "invalid_value",
            #"{"type":"payment","txn_id":"t","ts":"2023-11-14T22:13:20.1234Z","card":"c","amount":1,"count":1,"approved":true}"#
        ),
        (
            "invalid_value",
            #"{"type":"payment","txn_id":"t","ts":"yesterday","card":"c","amount":1,"count":1,"approved":true}"#
        ),
        ("invalid_value", #"{"type":"payment","txn_id":"t","ts":-5,"card":"c","amount":1,"count":1,"approved":true}"#),
        (
            "invalid_value",
            #"{"type":"payment","txn_id":"","ts":1700000000000,"card":"c","amount":1,"count":1,"approved":true}"#
        ),
        (
            "invalid_value",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":"NaN","count":1,"approved":true}"#
        ),
        (
            "out_of_range",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1e400,"count":1,"approved":true}"#
        ),
        (
            "out_of_range",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":0.0000001,"count":1,"approved":true}"#
        ),
        (
            "out_of_range",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1234567890123456789,"count":1,"approved":true}"#
        ),
        (
            "out_of_range",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"c","amount":1,"count":9223372036854775808,"approved":true}"#
        ),
        (
            "key_too_long",
            #"{"type":"payment","txn_id":"\#(String(repeating: "x", count: 257))","ts":1700000000000,"card":"c","amount":1,"count":1,"approved":true}"#
        ),
        (
            "key_too_long",
            #"{"type":"payment","txn_id":"t","ts":1700000000000,"card":"\#(String(repeating: "é", count: 129))","amount":1,"count":1,"approved":true}"#
        ),
        ("string_too_long", #"{"type":"payment",\#(ok),"note":"\#(String(repeating: "n", count: 4097))"}"#),
        (
            "late",
            #"{"type":"payment","txn_id":"t","ts":1699999000000,"card":"c","amount":1,"count":1,"approved":true}"#
        ),
        (
            "future",
            #"{"type":"payment","txn_id":"t","ts":1700000060001,"card":"c","amount":1,"count":1,"approved":true}"#
        ),
    ]

    @Test(arguments: cases.indices)
    func eachBadEventGetsItsCodeAndChangesNothing(_ index: Int) async throws {
        let (code, body) = Self.cases[index]
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        // A watermark for the late case: one accepted event at `now`.
        _ = try await store.ingest(IngestFixture.payment("seed", ts: Self.now))
        let result = try await store.ingest(
            "[" + body.dropFirst(body.hasPrefix("[") ? 1 : 0).dropLast(body.hasPrefix("[") ? 1 : 0) + "]")
        #expect(result.outcomes.count == 1)
        #expect(result.outcomes.first?.rejectionCode == code, "\(body.prefix(120)) → \(result.outcomes)")
        #expect(try store.read { try $0.lsn } == LSN(1), "a rejected event changes nothing")
    }

    @Test func aMalformedNDJSONLineRejectsOnlyThatLine() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: IngestFixture.Clock())
        defer { store.close() }
        let body = [
            IngestFixture.payment("a", ts: Self.now), #"{"type":"payment","#, "",
            IngestFixture.payment("b", ts: Self.now),
        ]
        .joined(separator: "\n")
        let result = try await store.ingest(ndjson: Array(body.utf8))
        #expect(result.outcomes.map(\.rejectionCode) == [nil, "malformed_json", nil])
    }

    @Test(arguments: [
        #"{"type":"payment""#, #"[1,]"#, #"{"a":1,"a":2}"#, #"{"amount":NaN}"#, #"{"amount":Infinity}"#, "[\"\u{1}\"]",
        #"{"x":"\ud800"}"#, #"{"x":01}"#, #"{} {}"#, #""just a string""#, "42",
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
    ])
    func aMalformedBodyFailsWholeAndChangesNothing(_ body: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: IngestFixture.Clock())
        defer { store.close() }
        await #expect { try await store.ingest(body) } throws: { ($0 as? TallyError)?.code == .malformedJSON }
        #expect(try store.read { try $0.lsn } == .zero)
    }

    @Test func invalidUTF8IsMalformed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: IngestFixture.Clock())
        defer { store.close() }
        let body: [UInt8] = Array(#"{"type":"payment","txn_id":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        await #expect { try await store.ingest(json: body) } throws: { ($0 as? TallyError)?.code == .malformedJSON }
    }
}
