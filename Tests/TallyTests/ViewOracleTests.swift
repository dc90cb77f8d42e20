import Foundation
import PropertyBased
import Testing

@_spi(Testing) @testable import Tally

/// Every view at every (key, lsn, at) equals a naive recomputation from the accepted events
/// (``ViewFixture/oracle(_:entity:key:lsn:at:)``). Streams are random: duplicates and conflicts
/// from small id pools, equal timestamps, late events up to the 1 h bound (and past it), jumps of
/// days; reads at event times and window edges ± 1 ms, at old LSNs (tokens) and at the head.
@Suite struct ViewOracleTests {
    static let base: Int64 = 1_780_000_000_000

    static func randomEvent(_ random: inout SplitMix64, watermark: Int64) -> (
        json: String, accepted: (UInt64) -> ViewFixture.Accepted
    ) {
        let roll = random.next() % 100
        var time: Int64
        switch roll {
        case 0..<5:  // jump days
            time = watermark + Int64(random.next() % 3) * 86_400_000 + Int64(random.next() % 5) * 1000
        case 5..<25: time = watermark - Int64(random.next() % 3_700_000)  // late: inside, and some past, the 1 h bound
        case 25..<45: time = watermark  // equal timestamps
        default: time = watermark + Int64(random.next() % 90_000)
        }
        time = max(0, time)
        let id = "e\(random.next() % 40)"
        let card = "c\(random.next() % 3)"
        let amounts = ["1", "2.5", "0.1", "0.2", "99.99", "50", "1000000.000001", "-3"]
        let amountText = amounts[Int(random.next() % UInt64(amounts.count))]
        let amount = Decimal(string: amountText)!
        if random.next() % 5 == 0 {
            let json = #"{"type":"settle","id":"\#(id)","ts":\#(time),"card":"\#(card)","amount":\#(amountText)}"#
            return (
                json,
                { lsn in
                    ViewFixture.Accepted(
                        lsn: lsn, type: "settle", time: time, card: card, merchant: nil, amount: amount, n: nil,
                        country: nil, mcc: nil)
                }
            )
        }
        let merchant = "m\(random.next() % 3)"
        let country = ["FR", "DE", "US"][Int(random.next() % 3)]
        let n = Int64(random.next() % 7) - 2
        let mcc: String? = random.next() % 3 == 0 ? nil : ["5411", "7995"][Int(random.next() % 2)]
        let mccJSON = mcc.map { #","mcc":"\#($0)""# } ?? ""
        let json =
            #"{"type":"auth","id":"\#(id)","ts":\#(time),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amountText),"n":\#(n),"country":"\#(country)"\#(mccJSON)}"#
        return (
            json,
            { lsn in
                ViewFixture.Accepted(
                    lsn: lsn, type: "auth", time: time, card: card, merchant: merchant, amount: amount, n: n,
                    country: country, mcc: mcc)
            }
        )
    }

    static func check(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(5))
        options.wallClock = { base + 400 * 86_400_000 }
        options.idIndexLevelBase = Int(random.next() % 4) + 1  // duplicates found in every id-index level
        options.idIndexMoveChunk = Int(random.next() % 3) + 1
        options.viewStageEntries = Int(random.next() % 40)  // moves into `views` interleave with everything
        // Entities of several events in a request bypass the stage from their first to third, or never.
        options.viewStageThroughEvents = [nil, 1, 2, 3][Int(random.next() % 4)]
        let store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        defer { store.close() }
        var accepted: [ViewFixture.Accepted] = []
        var watermark = base
        var heads: [UInt64] = [0]
        for _ in 0..<Int(2 + random.next() % 5) {
            let events = (0..<Int(1 + random.next() % 8)).map { _ in randomEvent(&random, watermark: watermark) }
            let result = try await store.ingest(
                json: Array(("[" + events.map(\.json).joined(separator: ",") + "]").utf8))
            for (event, outcome) in zip(events, result.outcomes) {
                guard case .accepted(let lsn) = outcome else { continue }
                let record = event.accepted(lsn.rawValue)
                accepted.append(record)
                watermark = max(watermark, record.time)
            }
            heads.append(result.lsn.rawValue)
        }
        // Read points: each event's time, ± 1 ms, and each window's far edge ± 1 ms from it.
        let widths: [Int64] = [1000, 60_000, 3_600_000, 30 * 86_400_000]
        var times: Set<Int64> = [base, watermark + 1]
        for event in accepted.shuffled(using: &random).prefix(4) {
            times.formUnion([event.time, event.time - 1, event.time + 1])
            let width = widths[Int(random.next() % UInt64(widths.count))]
            times.formUnion([event.time + width - 1, event.time + width, event.time + width + 1])
        }
        // The head, two earlier request boundaries and one LSN inside a request.
        let lsns = Set(
            [
                heads.last!, heads[Int(random.next() % UInt64(heads.count))],
                heads[Int(random.next() % UInt64(heads.count))],
                UInt64(random.next() % UInt64(max(1, heads.last! + 1))),
            ])
        let keys = [
            ("card", "c0"), ("card", "c1"), ("card", "c2"), ("merchant", "m0"), ("merchant", "m1"), ("card", "nobody"),
        ]
        for time in times.sorted() where time >= 0 {
            for lsn in lsns.sorted() {
                let vectors = try store.read { snapshot in
                    let token = try snapshot.token(lsn: LSN(lsn), at: time)
                    return try keys.map { try snapshot.vector(entity: $0.0, key: $0.1, at: token) }
                }
                for (vector, (entity, key)) in zip(vectors, keys) {
                    let expected = ViewFixture.oracle(accepted, entity: entity, key: key, lsn: lsn, at: time)
                    #expect(vector.views.count == expected.count, "seed \(seed)")
                    for (name, value) in vector.views where !ViewFixture.agree(name, value, expected[name]) {
                        Issue.record(
                            "seed \(seed): \(entity) \(key) \(name) at lsn \(lsn), t \(time): got \(value), oracle \(expected[name].map(String.init(describing:)) ?? "none")"
                        )
                    }
                }
            }
        }
    }

    @Test func everyViewEqualsTheOracleOnRandomStreams() async {
        let count = Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? (isCI ? 100 : 1000)
        await propertyCheck(count: count, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }
}
