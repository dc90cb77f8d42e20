import Foundation

/// A seeded synthetic card-payment stream for `Examples/cards.yaml`: authorizations, settlements,
/// reversals and declines on Zipf-distributed cards and merchants, with unique random ids, event
/// times that advance at `eventsPerSecond` of event time with bounded out-of-order jitter, and a
/// share of verbatim redeliveries (duplicates).
///
/// ```swift
/// var stream = CardTransactionStream(configuration: .init(seed: 7, cards: 1_000))
/// let line = stream.next()   // one NDJSON line, without the newline
/// ```
public struct CardTransactionStream: Sendable {
    public struct Configuration: Sendable {
        public var seed: UInt64
        public var cards: Int
        public var merchants: Int
        /// Event time of the first event, epoch ms.
        public var start: Int64
        /// Events per second of event time (how fast the stream's clock advances).
        public var eventsPerSecond: Double
        /// Share of events that are redeliveries of an earlier event (0…1).
        public var duplicateRate: Double
        /// Events are up to this far behind the stream's clock (out of order), in ms.
        public var maxDisorder: Int64
        public var zipfExponent: Double

        public init(
            seed: UInt64 = 1, cards: Int = 10_000, merchants: Int? = nil, start: Int64 = 1_790_000_000_000,
            eventsPerSecond: Double = 500, duplicateRate: Double = 0.01, maxDisorder: Int64 = 2_000,
            zipfExponent: Double = 1.05
        ) {
            self.seed = seed
            self.cards = cards
            self.merchants = merchants ?? max(10, cards / 20)
            self.start = start
            self.eventsPerSecond = eventsPerSecond
            self.duplicateRate = duplicateRate
            self.maxDisorder = maxDisorder
            self.zipfExponent = zipfExponent
        }
    }

    public let configuration: Configuration
    private var random: SplitMix64
    private let cards: ZipfDistribution
    private let merchants: ZipfDistribution
    private var produced = 0
    /// Recent events kept for redelivery.
    private var recent: [[UInt8]] = []

    private static let countries = ["FR", "DE", "GB", "US", "ES", "IT", "NL", "BR", "NG", "RU"]
    private static let mccs = ["5411", "5812", "5999", "4829", "7995", "6011"]
    private static let reasons = ["insufficient_funds", "suspected_fraud", "do_not_honor", "expired_card"]

    public init(configuration: Configuration) {
        self.configuration = configuration
        random = SplitMix64(seed: configuration.seed)
        cards = ZipfDistribution(count: configuration.cards, exponent: configuration.zipfExponent)
        merchants = ZipfDistribution(count: configuration.merchants, exponent: configuration.zipfExponent)
    }

    /// The next event as one NDJSON line (no newline).
    public mutating func next() -> [UInt8] {
        defer { produced += 1 }
        if !recent.isEmpty, random.unit() < configuration.duplicateRate {
            return recent[Int(random.next() % UInt64(recent.count))]
        }
        let clock = configuration.start + Int64(Double(produced) * 1000 / configuration.eventsPerSecond)
        let ts = max(configuration.start, clock - Int64(random.next() % UInt64(configuration.maxDisorder + 1)))
        let card = "card_\(cards.sample(&random))"
        let id = String(random.next(), radix: 16) + String(random.next(), radix: 16)
        let amount = amountText()
        let roll = random.unit()
        let line: String
        switch roll {
        case ..<0.80:
            let merchant = "m_\(merchants.sample(&random))"
            let country = Self.countries[Int(random.next() % UInt64(Self.countries.count))]
            let mcc = random.unit() < 0.9 ? "\"\(Self.mccs[Int(random.next() % UInt64(Self.mccs.count))])\"" : "null"
            line =
                #"{"type":"authorization","txn_id":"\#(id)","ts":\#(ts),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"country":"\#(country)","mcc":\#(mcc)}"#
        case ..<0.92:
            line = #"{"type":"settlement","txn_id":"\#(id)","ts":\#(ts),"card":"\#(card)","amount":\#(amount)}"#
        case ..<0.95:
            line = #"{"type":"reversal","txn_id":"\#(id)","ts":\#(ts),"card":"\#(card)","amount":\#(amount)}"#
        default:
            let merchant = "m_\(merchants.sample(&random))"
            let reason = Self.reasons[Int(random.next() % UInt64(Self.reasons.count))]
            line =
                #"{"type":"decline","txn_id":"\#(id)","ts":\#(ts),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"reason":"\#(reason)"}"#
        }
        let bytes = Array(line.utf8)
        if recent.count < 1024 { recent.append(bytes) } else { recent[Int(random.next() % 1024)] = bytes }
        return bytes
    }

    /// The next `count` events as an NDJSON body (newline-terminated lines).
    public mutating func nextBatch(_ count: Int) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(count * 180)
        for _ in 0..<count {
            body.append(contentsOf: next())
            body.append(UInt8(ascii: "\n"))
        }
        return body
    }

    /// Amounts with cents, mostly small, sometimes large (log-uniform 1…5,000).
    private mutating func amountText() -> String {
        let cents = Int64(exp(random.unit() * log(500_000.0)) + 100)
        return "\(cents / 100).\(cents % 100 < 10 ? "0" : "")\(cents % 100)"
    }
}
