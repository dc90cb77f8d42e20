import Foundation
import PropertyBased
import Testing

@_spi(Testing) @testable import Tally

/// Random request streams against a naive model of SPEC §2 — per event, in request order:
/// duplicate → conflict → late/future → accept with the next LSN; the watermark is the newest
/// accepted time. Every outcome, the stored log and the watermark must equal the model's.
/// Ids come from small pools (many duplicates and conflicts), times straddle the lateness and
/// future bounds, decimals come in several spellings, and the id-index hash is forced into 4 buckets
/// so the collision path runs all the time.
/// A seeded generator for repeatable streams (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct IngestModelTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case accepted(UInt64)
        case duplicate(UInt64)
        case rejected(String)
        var description: String {
            switch self {
            case .accepted(let lsn): "accepted(\(lsn))"
            case .duplicate(let lsn): "duplicate(\(lsn))"
            case .rejected(let code): code
            }
        }
    }

    /// A generated event: its wire JSON and its identity and content as the model sees them.
    struct GeneratedEvent {
        let json: String
        let key: String  // type + id
        let content: String  // canonical content: equal ⇔ same payload
        let time: Int64
        /// The type's lateness in the fixture: payment 10 s, transfer the default 1 h.
        let lateness: Int64
    }

    struct Model {
        var stored: [String: (content: String, lsn: UInt64)] = [:]
        var watermark: Int64?
        var lsn: UInt64 = 0
        var log: [(lsn: UInt64, key: String, time: Int64)] = []

        mutating func apply(_ event: GeneratedEvent, now: Int64) -> Outcome {
            if let existing = stored[event.key] {
                return existing.content == event.content ? .duplicate(existing.lsn) : .rejected("conflict")
            }
            if let watermark, event.time < watermark - event.lateness { return .rejected("late") }
            if event.time > now + 60_000 { return .rejected("future") }
            lsn += 1
            stored[event.key] = (event.content, lsn)
            watermark = max(watermark ?? event.time, event.time)
            log.append((lsn, event.key, event.time))
            return .accepted(lsn)
        }
    }

    static func randomEvent(_ random: inout SplitMix64, now: Int64) -> GeneratedEvent {
        let time = now + Int64(random.next() % 100_001) - 30_000  // −30 s … +70 s around the clock
        if random.next() % 4 == 0 {
            let seq = random.next() % 4
            let account = random.next() % 2
            return GeneratedEvent(
                json: #"{"type":"transfer","seq":\#(seq),"at":\#(time),"account":\#(account)}"#,
                key: "transfer/\(seq)", content: "\(time)/\(account)", time: time, lateness: 3_600_000)
        }
        let id = "i\(random.next() % 6)"
        let spellings: [(String, String)] = [("1", "1"), ("1.0", "1"), ("2.5", "2.5"), ("2.50", "2.5"), ("\"3\"", "3")]
        let (amountText, amountValue) = spellings[Int(random.next() % UInt64(spellings.count))]
        let approved = random.next() % 2 == 0
        return GeneratedEvent(
            json:
                #"{"type":"payment","txn_id":"\#(id)","ts":\#(time),"card":"c","amount":\#(amountText),"count":1,"approved":\#(approved)}"#,
            key: "payment/\(id)", content: "\(time)/\(amountValue)/\(approved)", time: time, lateness: 10_000)
    }

    static func check(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        let store = try IngestFixture.open(directory, clock: clock, idHash: { IdIndexKey.hash($0) % 4 }, relaxed: true)
        defer { store.close() }
        var model = Model()
        for request in 0..<Int(3 + random.next() % 8) {
            clock.set(clock.value + Int64(random.next() % 20_000))
            let events = (0..<Int(1 + random.next() % 6)).map { _ in randomEvent(&random, now: clock.value) }
            let result = try await store.ingest(
                json: Array(("[" + events.map(\.json).joined(separator: ",") + "]").utf8))
            let actual = result.outcomes.map { outcome -> Outcome in
                switch outcome {
                case .accepted(let lsn): .accepted(lsn.rawValue)
                case .duplicate(let lsn): .duplicate(lsn.rawValue)
                case .rejected(let rejection): .rejected(rejection.code.rawValue)
                }
            }
            let expected = events.map { model.apply($0, now: clock.value) }
            #expect(actual == expected, "seed \(seed), request \(request): \(events.map(\.json))")
            #expect(result.lsn == LSN(model.lsn), "seed \(seed), request \(request)")
        }
        var logged: [(UInt64, Int64)] = []
        let watermark = try store.read { snapshot in
            try snapshot.forEachEvent { event in
                logged.append((event.lsn.rawValue, event.time))
                return true
            }
            return try snapshot.watermark
        }
        #expect(logged.map(\.0) == model.log.map(\.lsn), "seed \(seed): the log holds exactly the accepted events")
        #expect(logged.map(\.1) == model.log.map(\.time), "seed \(seed)")
        #expect(watermark == model.watermark, "seed \(seed)")
    }

    @Test func ingestMatchesTheModelOnRandomStreams() async {
        let count = Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? (isCI ? 100 : 300)
        await propertyCheck(count: count, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }
}
