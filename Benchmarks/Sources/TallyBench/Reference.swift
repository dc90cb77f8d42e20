/// The naive recomputation the systems are checked against: the stream applied in order, each
/// (type, txn_id) once (SPEC §2: a redelivery is a duplicate), every window recomputed by a scan.
struct Reference: Sendable {
    /// Accepted events in stream order.
    let accepted: [CardEvent]
    let duplicates: Int
    /// Accepted events per card, in stream order.
    let byCard: [String: [CardEvent]]
    let firstTime: Int64
    let endTime: Int64

    init(stream: [CardEvent]) {
        var seen = Set<String>()
        var accepted: [CardEvent] = []
        var byCard: [String: [CardEvent]] = [:]
        for event in stream where seen.insert("\(event.kind.rawValue)|\(event.txnID)").inserted {
            accepted.append(event)
            byCard[event.card, default: []].append(event)
        }
        self.accepted = accepted
        self.duplicates = stream.count - accepted.count
        self.byCard = byCard
        firstTime = stream.map(\.ts).min() ?? 0
        endTime = stream.map(\.ts).max() ?? 0
    }

    /// Features of `card` at as-of `t` (windows (t − W, t]); exposure as of `exposureAt`.
    func features(card: String, at t: Int64, exposureAt: Int64) -> Features {
        var result = Features.zero
        for event in byCard[card] ?? [] {
            if event.kind == .authorization, event.ts <= t {
                if event.ts > t - Window.sixtySeconds { result.count60s += 1 }
                if event.ts > t - Window.oneHour { result.count1h += 1 }
                if event.ts > t - Window.day { result.sum24h += event.cents }
            }
            if event.ts <= exposureAt { result.exposure += event.exposureDelta }
        }
        return result
    }

    /// For `cards`, every state a reader may legitimately see at as-of `endTime`: the features
    /// after each prefix of the accepted events (commit boundaries of any system are a subset).
    func committedStates(cards: [String]) -> [String: Set<CoherentTriple>] {
        var result: [String: Set<CoherentTriple>] = [:]
        for card in cards {
            var state = CoherentTriple(count1h: 0, sum24h: 0, exposure: 0)
            var states: Set<CoherentTriple> = [state]
            for event in byCard[card] ?? [] where event.kind != .decline {
                if event.kind == .authorization {
                    state.count1h += 1
                    state.sum24h += event.cents
                }
                state.exposure += event.exposureDelta
                states.insert(state)
            }
            result[card] = states
        }
        return result
    }
}
