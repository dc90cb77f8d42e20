import CardStream
import Foundation
@_spi(Testing) import Tally

/// Issue 6: a view added to a store of N events equals the oracle at every key once served.
/// Fills a store with the generator's stream on Examples/cards.yaml, applies three new views
/// (a filtered count, a min and a lifetime sum of another event type), then recomputes each from
/// the log, naively, for every card the log names, at two times, and compares.
struct BackfillCheck {
    let directory: String
    let events: Int
    let cards: Int
    let durability: Durability

    static let added = """
          card_big_auth_count_30d: { entity: card, from: authorization, where: "amount >= 500", aggregate: count, window: 30d }
          card_amount_min_30d: { entity: card, from: authorization, aggregate: min(amount), window: 30d }
          card_settled_sum: { entity: card, from: settlement, aggregate: sum(amount), window: lifetime }

        """

    func run() async throws -> [Result] {
        let text = try String(contentsOfFile: "Examples/cards.yaml", encoding: .utf8)
        var options = Tally.Options()
        options.durability = durability
        options.retentionInterval = nil
        let store = try Tally.open(
            directory: directory, definitions: try DefinitionsLoader.load(text: text), options: options)
        defer { store.close() }
        var stream = CardTransactionStream(
            configuration: .init(
                seed: 7, cards: cards, start: Int64(Date().timeIntervalSince1970 * 1000) - 86_400_000,
                eventsPerSecond: Double(events) / 80_000))
        var accepted = 0
        for _ in 0..<(events + 1023) / 1024 {
            accepted += try await store.ingest(ndjson: stream.nextBatch(1024)).accepted
        }
        print("  filled: \(accepted) events accepted")
        let changed = try DefinitionsLoader.load(
            text: text.replacingOccurrences(of: "\nlists:", with: "\n" + Self.added + "lists:"))
        let clock = ContinuousClock()
        let start = clock.now
        let report = try await store.apply(changed, waitUntilServed: true)
        let seconds = (clock.now - start).secondsValue
        print(
            "  applied v\(report.version): backfilled \(report.backfilledViews.joined(separator: ", ")), "
                + "\(report.replayedEvents) events replayed in \(String(format: "%.1f", seconds)) s")
        // The oracle: every logged event, by card.
        struct Contribution {
            let time: Int64
            let type: String
            let amount: Int128
        }
        var byCard: [String: [Contribution]] = [:]
        let watermark = try store.read { snapshot in
            try snapshot.forEachEvent { event in
                guard case .string(let card)? = event.fields["card"],
                    case .decimal(let amount)? = event.fields["amount"]
                else { return true }
                byCard[card, default: []].append(
                    Contribution(time: event.time, type: event.type, amount: amount.micros))
                return true
            }
            return try snapshot.watermark ?? 0
        }
        let month: Int64 = 30 * 86_400_000
        var checked = 0
        var wrong = 0
        for at in [watermark + 1, watermark - 3_600_000] {
            for (card, contributions) in byCard {
                let inMonth = contributions.filter {
                    $0.type == "authorization" && $0.time > at - month && $0.time <= at
                }
                let big = inMonth.filter { $0.amount >= 500_000_000 }.count
                let low = inMonth.map(\.amount).min()
                let settled = contributions.filter { $0.type == "settlement" && $0.time <= at }.reduce(Int128(0)) {
                    $0 + $1.amount
                }
                let vector = try store.read { snapshot in
                    try snapshot.vector(entity: "card", key: card, at: try snapshot.token(at: at))
                }
                func micros(_ value: FeatureValue?) -> Int128? {
                    switch value {
                    case .decimal(let d)?: d.micros
                    case .int(let i)?: Int128(i) * 1_000_000
                    default: nil
                    }
                }
                var agrees = vector[view: "card_big_auth_count_30d"] == .int(Int64(big))
                agrees = agrees && micros(vector[view: "card_amount_min_30d"]) == low
                agrees = agrees && (micros(vector[view: "card_settled_sum"]) ?? 0) == settled
                if !agrees {
                    wrong += 1
                    if wrong <= 5 { print("  MISMATCH \(card) at \(at): \(vector)") }
                }
                checked += 1
            }
        }
        print("  oracle check: \(checked) (card, at) vectors, \(wrong) wrong")
        if wrong > 0 { throw CheckFailed(wrong: wrong) }
        return [Result(name: "backfill", records: Int(report.replayedEvents), seconds: seconds, commits: 0)]
    }

    struct CheckFailed: Error {
        let wrong: Int
    }
}
