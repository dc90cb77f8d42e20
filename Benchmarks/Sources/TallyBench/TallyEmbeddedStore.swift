import Tally

/// Tally in this process: `ingest(ndjson:)` per batch, `read { snapshot in … }` per vector.
final class TallyEmbeddedStore: FeatureStore, @unchecked Sendable {
    let label: String
    let durability: String
    let networked = false
    let readModes: [ReadMode] = [.snapshot]
    let exposureIsAsOf = true
    private let store: Tally

    init(directory: String, definitions: Definitions, durable: Bool, variant: String = "") throws {
        var options = Tally.Options()
        options.durability = durable ? .durable : .relaxed()
        store = try Tally.open(directory: directory, definitions: definitions, options: options)
        label = (durable ? "tally-embedded durable" : "tally-embedded relaxed") + variant
        durability = durable ? "fsync per commit (group commit)" : "no fsync per commit, flush every 100 ms"
    }

    func ingest(_ batch: EventBatch) async throws -> Int {
        let result = try await store.ingest(ndjson: batch.ndjson)
        if let first = result.rejected.first {
            throw BenchError("Tally rejected event \(first.index) of a batch: \(first.rejection)")
        }
        return result.accepted
    }

    func makeReader(_ mode: ReadMode) throws -> any FeatureReader { Reader(store: store) }

    func close() { store.close() }

    final class Reader: FeatureReader {
        let store: Tally
        init(store: Tally) { self.store = store }

        func read(card: String, at: Int64) throws -> Features {
            let vector = try store.read { snapshot in
                try snapshot.vector(entity: "card", key: card, at: try snapshot.token(at: at))
            }
            return try Features(vector)
        }
    }
}

extension Features {
    init(_ vector: EntityVector) throws {
        func integer(_ name: String) throws -> Int64 {
            switch vector[view: name] {
            case .int(let value): return value
            case let other: throw BenchError("\(name) is \(String(describing: other)), not an integer")
            }
        }
        func cents(_ name: String) throws -> Int64 {
            switch vector[view: name] {
            case .int(let value): return value * 100
            case .decimal(let value):
                let micros = value.micros
                guard micros % 10_000 == 0 else { throw BenchError("\(name) = \(value) has more than 2 places") }
                return Int64(micros / 10_000)
            case let other: throw BenchError("\(name) is \(String(describing: other)), not a decimal")
            }
        }
        self.init(
            count60s: try integer("card_txn_count_60s"), count1h: try integer("card_txn_count_1h"),
            sum24h: try cents("card_amount_sum_24h"), exposure: try cents("card_exposure"))
    }
}
