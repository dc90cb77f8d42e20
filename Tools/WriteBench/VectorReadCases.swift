import Foundation
import Histogram
@_spi(Testing) import Tally

/// The read benchmark (issue 5): vectors from a filled store, one read transaction each, timed
/// one by one on this thread. `at` is the store's watermark, so the short windows hold events.
struct VectorReadCases {
    let store: Tally
    let cards: Int
    let seconds: Double

    func run() throws -> [Result] {
        let watermark = try store.read { try $0.watermark } ?? 0
        var random = SystemRandomNumberGenerator()
        let hot = try measure("vector_hot") { snapshot, token in
            _ = try snapshot.vector(entity: "card", key: "card_0", at: token)
        }
        let uniform = try measure("vector_uniform") { snapshot, token in
            _ = try snapshot.vector(entity: "card", key: "card_\(Int.random(in: 0..<cards, using: &random))", at: token)
        }
        let three = try measure("vector_3entities") { snapshot, token in
            _ = try snapshot.vector(entity: "card", key: "card_\(Int.random(in: 0..<cards, using: &random))", at: token)
            _ = try snapshot.vector(entity: "merchant", key: "m_\(Int.random(in: 0..<100, using: &random))", at: token)
            _ = try snapshot.vector(entity: "card", key: "card_0", at: token)
        }
        let served = try store.read { snapshot in
            try snapshot.vector(entity: "card", key: "card_0", at: try snapshot.token(at: watermark)).views.count
        }
        print("  vectors at the watermark \(watermark): a card vector has \(served) served views")
        if store.entryAccesses(in: "views") != nil {
            for key in ["card_0", "card_1", "card_\(cards / 2)"] {
                store.resetEntryAccesses()
                _ = try store.read { try $0.vector(entity: "card", key: key, at: try $0.token(at: watermark)) }
                print("  \(key): \(store.entryAccesses(in: "views") ?? 0) view-state entries per vector read")
            }
        }
        return [hot, uniform, three]

        func measure(_ name: String, _ body: (Snapshot, SnapshotToken) throws -> Void) throws -> Result {
            var latency = newHistogram()
            let clock = ContinuousClock()
            let start = clock.now
            var reads = 0
            while clock.now - start < .seconds(seconds) {
                let t0 = clock.now
                try store.read { snapshot in try body(snapshot, try snapshot.token(at: watermark)) }
                _ = latency.record(nanoseconds(clock.now - t0))
                reads += 1
            }
            return Result(
                name: name, records: reads, seconds: (clock.now - start).secondsValue, commits: 0, latency: latency)
        }
    }
}
