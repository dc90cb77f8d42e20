import Foundation
import PropertyBased
import Testing

@_spi(Testing) @testable import Tally

/// On-demand aggregates (docs/VIEWS.md): written like a view, computed by scanning the retained
/// log, they equal the maintained view of the same definition at every (key, lsn, at) of random
/// streams with duplicates, equal times and late events.
@Suite struct AdHocAggregateTests {
    /// Ad-hoc definitions and the served view (of ``ViewFixture/definitions``) each must equal.
    static let pairs: [(definition: String, view: String)] = [
        (#"{"entity":"card","from":"auth","aggregate":"count","window":"60s"}"#, "cnt_60s"),
        (#"{"entity":"card","from":"auth","aggregate":"count","window":"lifetime"}"#, "cnt_lifetime"),
        (#"{"entity":"card","from":"auth","aggregate":"sum(amount)","window":"1h"}"#, "total_1h"),
        (#"{"entity":"card","from":"auth","aggregate":"avg(amount)","window":"30d"}"#, "mean_30d"),
        (#"{"entity":"card","from":"auth","aggregate":"stddev(amount)","window":"60s"}"#, "spread_60s"),
        (#"{"entity":"card","from":"auth","aggregate":"min(amount)","window":"1s"}"#, "low_1s"),
        (#"{"entity":"card","from":"auth","aggregate":"max(amount)","window":"1h"}"#, "high_1h"),
        (#"{"entity":"card","from":"auth","aggregate":"first(country)","window":"60s"}"#, "opening_60s"),
        (#"{"entity":"card","from":"auth","aggregate":"last(mcc)","window":"1h"}"#, "latest_mcc"),
        (
            #"{"entity":"card","from":"auth","aggregate":"count_distinct(merchant)","window":"1h"}"#,
            "recent_merchants_1h"
        ),
        (
            #"{"entity":"card","from":{"auth":"+amount","settle":"-amount"},"aggregate":"sum","window":"lifetime"}"#,
            "exposure"
        ),
        (#"{"entity":"card","from":"auth","where":"amount >= 50","aggregate":"count","window":"60s"}"#, "big"),
        (#"{"entity":"card","from":"auth","aggregate":"sum(n)","window":"60s"}"#, "units_60s"),
        (#"{"entity":"merchant","from":"auth","aggregate":"count","window":"1h"}"#, "merchant_cnt_1h"),
    ]

    static func check(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(5))
        options.wallClock = { ViewOracleTests.base + 400 * 86_400_000 }
        let store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        defer { store.close() }
        var watermark = ViewOracleTests.base
        var times: [Int64] = []
        var heads: [UInt64] = [0]
        for _ in 0..<Int(2 + random.next() % 4) {
            let events = (0..<Int(1 + random.next() % 8)).map { _ in
                ViewOracleTests.randomEvent(&random, watermark: watermark)
            }
            let result = try await store.ingest(
                json: Array(("[" + events.map(\.json).joined(separator: ",") + "]").utf8))
            for (event, outcome) in zip(events, result.outcomes) {
                guard case .accepted(let lsn) = outcome else { continue }
                let time = event.accepted(lsn.rawValue).time
                watermark = max(watermark, time)
                times.append(contentsOf: [time, time - 1, time + 59_999, time + 60_000])
            }
            heads.append(result.lsn.rawValue)
        }
        let head = heads.last!
        try store.read { snapshot in
            let aggregates = try Self.pairs.map { pair in
                (try AdHocAggregate(name: pair.view, json: pair.definition, in: snapshot), pair.view)
            }
            for time in times.shuffled(using: &random).prefix(6) where time >= 0 {
                for lsn in Set([head, heads[Int(random.next() % UInt64(heads.count))]]) {
                    let token = try snapshot.token(lsn: LSN(lsn), at: time)
                    for key in [("card", "c0"), ("card", "c1"), ("card", "c2"), ("merchant", "m1")] {
                        let vector = try snapshot.vector(entity: key.0, key: key.1, at: token)
                        for (aggregate, view) in aggregates where vector[view: view] != nil {
                            let result = try snapshot.aggregate(aggregate, key: key.1, at: token)
                            #expect(
                                result.value == vector[view: view],
                                "seed \(seed): \(view) of \(key.1) at lsn \(lsn), t \(time): ad hoc \(result.value), view \(vector[view: view]!)"
                            )
                        }
                    }
                }
            }
        }
    }

    @Test func anAdHocAggregateEqualsTheViewOfTheSameDefinition() async {
        let count = Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? (isCI ? 50 : 300)
        await propertyCheck(count: count, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }

    @Test func aBadDefinitionIsRefusedWithItsPathAndTheScanIsReported() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try ViewSemanticsTests.open(directory, definitions: ViewFixture.definitions)
        defer { store.close() }
        for n in 0..<5 {
            let event =
                #"{"type":"auth","id":"e\#(n)","ts":\#(ViewOracleTests.base + Int64(n) * 3_600_000),"card":"c1","merchant":"m1","amount":"1","n":1,"country":"FR"}"#
            _ = try await store.ingest(json: Array(event.utf8))
        }
        try store.read { snapshot in
            for (text, fragment) in [
                (#"{"entity":"card","from":"auth","aggregate":"sum(amont)","window":"1h"}"#, "amont"),
                (#"{"entity":"card","from":"auth","aggregate":"count","window":["1h","2h"]}"#, "one window"),
                (#"{"entity":"shop","from":"auth","aggregate":"count","window":"1h"}"#, "shop"),
                (#"{"entity":"card","from":"auth","aggregate":"count","window":"1h","colour":"red"}"#, "colour"),
                (#"{"entity":"card","from":"auth","where":"amount >","aggregate":"count","window":"1h"}"#, "where"),
                ("[1", "JSON"),
            ] {
                do {
                    _ = try AdHocAggregate(name: "x", json: text, in: snapshot)
                    Issue.record("\(text) was accepted")
                } catch let error as TallyError {
                    #expect(error.code == .invalidArgument && error.message.contains(fragment), "\(error.message)")
                }
            }
            // A 1 h window at the newest event reads back to it minus the window and the lateness.
            let recent = try AdHocAggregate(
                name: "n", json: #"{"entity":"card","from":"auth","aggregate":"count","window":"1h"}"#, in: snapshot)
            let result = try snapshot.aggregate(
                recent, key: "c1", at: try snapshot.token(at: ViewOracleTests.base + 4 * 3_600_000))
            #expect(result.value == .int(1) && result.scanned == 3, "\(result)")
        }
    }
}
