import Foundation

@_spi(Testing) @testable import Tally

/// Definitions with every aggregate over several windows, and a naive oracle for them that
/// recomputes each view from a plain list of accepted events (no state, no tiles, no prefix sums).
enum ViewFixture {
    /// The entities and event types (the oracle's `Accepted` fields), without views.
    static let eventsText = """
        entities:
          card: { key: string }
          merchant: { key: string }
        events:
          auth:
            id: id
            time: ts
            lateness: 1h
            fields: { id: string, card: string, merchant: string, amount: decimal, n: int, country: string, mcc: "string?" }
          settle: { id: id, time: ts, lateness: 1h, fields: { id: string, card: string, amount: decimal } }

        """

    static let definitionsText =
        eventsText + """
            views:
              cnt: { entity: card, from: auth, aggregate: count, window: [1s, 60s, 1h, 30d, lifetime] }
              total: { entity: card, from: auth, aggregate: sum(amount), window: [60s, 1h, lifetime] }
              mean: { entity: card, from: auth, aggregate: avg(amount), window: [60s, 30d] }
              spread: { entity: card, from: auth, aggregate: stddev(amount), window: [60s, lifetime] }
              low: { entity: card, from: auth, aggregate: min(amount), window: [1s, 60s, 30d] }
              high: { entity: card, from: auth, aggregate: max(amount), window: [60s, 1h, 30d, lifetime] }
              opening: { entity: card, from: auth, aggregate: first(country), window: [60s, 30d] }
              latest: { entity: card, from: auth, aggregate: last(country), window: [60s, 30d] }
              latest_mcc: { entity: card, from: auth, aggregate: last(mcc), window: 1h }
              merchants: { entity: card, from: auth, aggregate: count_distinct(merchant), window: [60s, lifetime] }
              recent_merchants: { entity: card, from: auth, aggregate: count_distinct(merchant), window: [1s, 1h] }
              exposure:
                entity: card
                aggregate: sum
                from: { auth: +amount, settle: -amount }
                window: lifetime
              big: { entity: card, from: auth, where: "amount >= 50", aggregate: count, window: 60s }
              units: { entity: card, from: auth, aggregate: sum(n), window: [60s, lifetime] }
              unit_max: { entity: card, from: auth, aggregate: max(n), window: 1h }
              merchant_cnt: { entity: merchant, from: auth, aggregate: count, window: [60s, 1h] }
            """

    static let definitions: Definitions = try! DefinitionsLoader.load(text: definitionsText)

    /// An accepted event as the oracle keeps it.
    struct Accepted: Sendable {
        let lsn: UInt64
        let type: String
        let time: Int64
        let card: String
        let merchant: String?
        let amount: Decimal
        let n: Int64?
        let country: String?
        let mcc: String?
    }

    /// What the oracle knows of one view: its entity, whether an event feeds it (and with which
    /// value), and its aggregate.
    struct OracleView: Sendable {
        enum Aggregate: Sendable { case count, sum, avg, stddev, min, max, first, last, distinct }
        enum Value: Sendable {
            case decimal(Decimal)
            case int(Int64)
            case text(String)
        }
        let name: String
        let entity: String
        let aggregate: Aggregate
        let windows: [Int64?]  // ms; nil = lifetime
        let value: @Sendable (Accepted) -> Value??  // nil: does not feed; .some(nil): feeds with a null value
        let ints: Bool
    }

    static func auth(_ value: @escaping @Sendable (Accepted) -> OracleView.Value?)
        -> @Sendable (Accepted) -> OracleView.Value??
    {
        { $0.type == "auth" ? .some(value($0)) : nil }
    }

    static let s: Int64 = 1000
    static let oracleViews: [OracleView] = [
        .init(
            name: "cnt", entity: "card", aggregate: .count, windows: [s, 60 * s, 3600 * s, 30 * 86400 * s, nil],
            value: auth { _ in .int(1) }, ints: true),
        .init(
            name: "total", entity: "card", aggregate: .sum, windows: [60 * s, 3600 * s, nil],
            value: auth { .decimal($0.amount) }, ints: false),
        .init(
            name: "mean", entity: "card", aggregate: .avg, windows: [60 * s, 30 * 86400 * s],
            value: auth { .decimal($0.amount) }, ints: false),
        .init(
            name: "spread", entity: "card", aggregate: .stddev, windows: [60 * s, nil],
            value: auth { .decimal($0.amount) }, ints: false),
        .init(
            name: "low", entity: "card", aggregate: .min, windows: [s, 60 * s, 30 * 86400 * s],
            value: auth { .decimal($0.amount) }, ints: false),
        .init(
            name: "high", entity: "card", aggregate: .max, windows: [60 * s, 3600 * s, 30 * 86400 * s, nil],
            value: auth { .decimal($0.amount) }, ints: false),
        .init(
            name: "opening", entity: "card", aggregate: .first, windows: [60 * s, 30 * 86400 * s],
            value: auth { $0.country.map(OracleView.Value.text) }, ints: false),
        .init(
            name: "latest", entity: "card", aggregate: .last, windows: [60 * s, 30 * 86400 * s],
            value: auth { $0.country.map(OracleView.Value.text) }, ints: false),
        .init(
            name: "latest_mcc", entity: "card", aggregate: .last, windows: [3600 * s],
            value: auth { $0.mcc.map(OracleView.Value.text) }, ints: false),
        .init(
            name: "merchants", entity: "card", aggregate: .distinct, windows: [60 * s, nil],
            value: auth { $0.merchant.map(OracleView.Value.text) }, ints: false),
        .init(
            name: "recent_merchants", entity: "card", aggregate: .distinct, windows: [s, 3600 * s],
            value: auth { $0.merchant.map(OracleView.Value.text) }, ints: false),
        .init(
            name: "exposure", entity: "card", aggregate: .sum, windows: [nil],
            value: { .some(.decimal($0.type == "auth" ? $0.amount : -$0.amount)) }, ints: false),
        .init(
            name: "big", entity: "card", aggregate: .count, windows: [60 * s],
            value: { $0.type == "auth" && $0.amount >= 50 ? .some(.int(1)) : nil }, ints: true),
        .init(
            name: "units", entity: "card", aggregate: .sum, windows: [60 * s, nil],
            value: auth { $0.n.map(OracleView.Value.int) }, ints: true),
        .init(
            name: "unit_max", entity: "card", aggregate: .max, windows: [3600 * s],
            value: auth { $0.n.map(OracleView.Value.int) }, ints: true),
        .init(
            name: "merchant_cnt", entity: "merchant", aggregate: .count, windows: [60 * s, 3600 * s],
            value: auth { _ in .int(1) }, ints: true),
    ]

    /// The oracle's vector: every served view of `entity`/`key` at (lsn, at), by served name.
    static func oracle(
        _ events: [Accepted], entity: String, key: String, lsn: UInt64, at: Int64, views: [OracleView] = oracleViews
    ) -> [String: FeatureValue] {
        var result: [String: FeatureValue] = [:]
        for view in views where view.entity == entity {
            for window in view.windows {
                let name = view.windows.count == 1 ? view.name : "\(view.name)_\(windowText(window))"
                var fed: [(Accepted, OracleView.Value)] = []
                for event in events where event.lsn <= lsn && event.time <= at {
                    if let window, event.time <= at - window { continue }
                    let eventKey = entity == "card" ? event.card : event.merchant
                    guard eventKey == key, let maybe = view.value(event), let value = maybe else { continue }
                    fed.append((event, value))
                }
                result[name] = aggregate(view, fed)
            }
        }
        return result
    }

    static func windowText(_ window: Int64?) -> String {
        guard let window else { return "lifetime" }
        if window % (86400 * s) == 0 { return "\(window / (86400 * s))d" }
        if window % (3600 * s) == 0 { return "\(window / (3600 * s))h" }
        return "\(window / s)s"
    }

    static func number(_ value: OracleView.Value) -> Decimal {
        switch value {
        case .decimal(let d): d
        case .int(let i): Decimal(i)
        case .text: 0
        }
    }

    static func feature(_ decimal: Decimal, ints: Bool) -> FeatureValue {
        if ints { return .int(Int64(truncating: decimal as NSNumber)) }
        return .decimal(try! ExactDecimal(parsing: "\(decimal)"))
    }

    static func aggregate(_ view: OracleView, _ fed: [(Accepted, OracleView.Value)]) -> FeatureValue {
        switch view.aggregate {
        case .count:
            return .int(Int64(fed.count))
        case .sum:
            return feature(fed.reduce(Decimal(0)) { $0 + number($1.1) }, ints: view.ints)
        case .avg:
            guard !fed.isEmpty else { return .null }
            var mean = fed.reduce(Decimal(0)) { $0 + number($1.1) } / Decimal(fed.count)
            var rounded = Decimal()
            NSDecimalRound(&rounded, &mean, 6, .bankers)
            return feature(rounded, ints: false)
        case .stddev:
            guard !fed.isEmpty else { return .null }
            let values = fed.map { NSDecimalNumber(decimal: number($0.1)).doubleValue }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            return .decimal(ExactDecimal(micros: Int128((variance.squareRoot() * 1e6).rounded())))
        case .min, .max:
            guard !fed.isEmpty else { return .null }
            let numbers = fed.map { number($0.1) }
            let best = view.aggregate == .min ? numbers.min()! : numbers.max()!
            return feature(best, ints: view.ints)
        case .first, .last:
            let ordered = fed.sorted { ($0.0.time, $0.0.lsn) < ($1.0.time, $1.0.lsn) }
            guard let chosen = view.aggregate == .first ? ordered.first : ordered.last else { return .null }
            if case .text(let text) = chosen.1 { return .string(text) }
            return .null
        case .distinct:
            var seen = Set<String>()
            for (_, value) in fed { if case .text(let text) = value { seen.insert(text) } }
            return .int(Int64(seen.count))
        }
    }

    /// Whether two values agree: exact, except stddev within one micro-unit (the oracle's is a
    /// floating-point estimate; Tally's is exact integer arithmetic).
    static func agree(_ name: String, _ a: FeatureValue?, _ b: FeatureValue?) -> Bool {
        if name.hasPrefix("spread"), case .decimal(let x)? = a, case .decimal(let y)? = b {
            return abs(x.micros - y.micros) <= 1
        }
        return a == b
    }
}
