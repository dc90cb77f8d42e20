/// The card features every system serves, the subset of Examples/cards.yaml that all of them
/// build the same way: two velocity counts, a 24 h sum and the lifetime exposure.
struct Features: Hashable, Sendable, CustomStringConvertible {
    /// `card_txn_count_60s`: authorizations in (t − 60 s, t].
    var count60s: Int64
    /// `card_txn_count_1h`: authorizations in (t − 1 h, t].
    var count1h: Int64
    /// `card_amount_sum_24h`: authorized amount in (t − 24 h, t], cents.
    var sum24h: Int64
    /// `card_exposure`: authorized − settled − reversed, lifetime, cents.
    var exposure: Int64

    static let zero = Features(count60s: 0, count1h: 0, sum24h: 0, exposure: 0)

    var description: String {
        "count60s=\(count60s) count1h=\(count1h) sum24h=\(Cents.text(sum24h)) exposure=\(Cents.text(exposure))"
    }

    /// The part the skew check compares: at the stream's end time every event of the stream is
    /// inside the 1 h and 24 h windows, so these three depend only on which events are applied.
    var coherencePart: CoherentTriple { CoherentTriple(count1h: count1h, sum24h: sum24h, exposure: exposure) }
}

struct CoherentTriple: Hashable, Sendable {
    var count1h: Int64
    var sum24h: Int64
    var exposure: Int64
}

enum Window {
    static let sixtySeconds: Int64 = 60_000
    static let oneHour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
}
