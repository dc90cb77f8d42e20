import Foundation
import Synchronization
import Testing

@_spi(Testing) @testable import Tally

/// Readers under concurrent ingest see only committed states: nested windows stay nested, and the
/// exposure and lifetime count equal the oracle at exactly the LSN each read returns.
@Suite struct ViewCoherenceTests {
    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    struct Sample: Sendable {
        let lsn: UInt64
        let at: Int64
        let exposure: FeatureValue?
        let count: FeatureValue?
    }

    @Test func readersSeeOnlyCommittedStatesUnderIngest() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let t0: Int64 = 1_780_000_000_000
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .milliseconds(50))
        options.wallClock = { t0 + 86_400_000 }
        options.viewStageEntries = 64  // readers merge a stage that moves under them
        let store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        defer { store.close() }
        let requests = isCI ? 150 : 400
        let done = StopFlag()
        let at = t0 + 3_600_000

        let readers = (0..<2).map { _ in
            Task.detached { () throws -> (samples: [Sample], violations: [String]) in
                var samples: [Sample] = []
                var violations: [String] = []
                while !done.isSet {
                    // Two cooperative threads here: leave room for the writer's callers.
                    try await Task.sleep(for: .microseconds(200))
                    let (token, vector) = try store.read { snapshot in
                        let token = try snapshot.token(at: at)
                        return (token, try snapshot.vector(entity: "card", key: "c1", at: token))
                    }
                    let counts = ["cnt_1s", "cnt_60s", "cnt_1h", "cnt_30d", "cnt_lifetime"].map { name -> Int64 in
                        if case .int(let n)? = vector[view: name] { return n }
                        return -1
                    }
                    if counts != counts.sorted() || counts.contains(-1) {
                        violations.append("lsn \(token.lsn): nested windows \(counts)")
                    }
                    samples.append(
                        Sample(
                            lsn: token.lsn.rawValue, at: at, exposure: vector[view: "exposure"],
                            count: vector[view: "cnt_lifetime"]))
                }
                return (samples, violations)
            }
        }

        var accepted: [ViewFixture.Accepted] = []
        var random = SplitMix64(seed: 7)
        for request in 0..<requests {
            var lines: [String] = []
            var pending: [(UInt64) -> ViewFixture.Accepted] = []
            for index in 0..<5 {
                let id = "r\(request)-\(index)"
                let time = t0 + Int64(request) * 1_000 - Int64(random.next() % 90_000)  // late within 1 h
                let amount = Decimal(Int(random.next() % 1000)) / 100
                if random.next() % 4 == 0 {
                    lines.append(
                        #"{"type":"settle","id":"\#(id)","ts":\#(max(t0, time)),"card":"c1","amount":\#(amount)}"#)
                    pending.append { lsn in
                        .init(
                            lsn: lsn, type: "settle", time: max(t0, time), card: "c1", merchant: nil, amount: amount,
                            n: nil, country: nil, mcc: nil)
                    }
                } else {
                    lines.append(
                        #"{"type":"auth","id":"\#(id)","ts":\#(max(t0, time)),"card":"c1","merchant":"m1","amount":\#(amount),"n":1,"country":"FR"}"#
                    )
                    pending.append { lsn in
                        .init(
                            lsn: lsn, type: "auth", time: max(t0, time), card: "c1", merchant: "m1", amount: amount,
                            n: 1, country: "FR", mcc: nil)
                    }
                }
            }
            let result = try await store.ingest("[" + lines.joined(separator: ",") + "]")
            for (make, outcome) in zip(pending, result.outcomes) {
                if case .accepted(let lsn) = outcome { accepted.append(make(lsn.rawValue)) }
            }
        }
        done.set()
        var samples: [Sample] = []
        for reader in readers {
            let (readerSamples, violations) = try await reader.value
            #expect(violations.isEmpty, "\(violations.prefix(5))")
            samples += readerSamples
        }
        let lsnsSeen = Set(samples.map(\.lsn))
        #expect(lsnsSeen.count >= 5, "the writer changed the state during the reads (\(lsnsSeen.count) LSNs seen)")
        // The oracle at every LSN: exposure and lifetime count of the accepted events up to it.
        var exposureAt: [UInt64: FeatureValue] = [0: .decimal(ExactDecimal(mantissa: 0, scale: 0))]
        var countAt: [UInt64: FeatureValue] = [0: .int(0)]
        var exposure = Decimal(0)
        var count: Int64 = 0
        for event in accepted.sorted(by: { $0.lsn < $1.lsn }) {
            exposure += event.type == "auth" ? event.amount : -event.amount
            if event.type == "auth" { count += 1 }
            exposureAt[event.lsn] = .decimal(try ExactDecimal(parsing: "\(exposure)"))
            countAt[event.lsn] = .int(count)
        }
        var wrong = 0
        for sample in samples where sample.exposure != exposureAt[sample.lsn] || sample.count != countAt[sample.lsn] {
            wrong += 1
        }
        #expect(wrong == 0, "\(wrong) of \(samples.count) reads disagree with the oracle at their LSN")
    }
}
