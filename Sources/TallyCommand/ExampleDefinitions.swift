/// The bundled example definitions (`Examples/cards.yaml`, the SPEC's example with catalog text),
/// built in so `tally demo` runs from any directory. A test keeps it equal to the file.
enum ExampleDefinitions {
    static let source = "Examples/cards.yaml (built in)"
    static let cardsYAML = #"""
        # Tally example definitions: card payments (SPEC §1). `tally check Examples/cards.yaml` validates it.
        settings:
          max_future: 5m        # events more than 5 min ahead of the wall clock are rejected
          retention: 30d        # raw log kept 30 days of event time behind the watermark

        entities:
          card:     { key: string, description: "A payment card, by token (never the PAN)", owner: risk-platform }
          merchant: { key: string, description: "An acquiring merchant", owner: risk-platform }

        events:
          authorization:
            id: txn_id                 # idempotency key: a redelivered event is applied once
            time: ts                   # the event-time field (implicitly a timestamp)
            lateness: 1h
            fields: { txn_id: string, card: string, merchant: string, amount: decimal, country: string, mcc: "string?" }
            description: "An authorization request seen by the issuer processor"
            owner: payments
            tags: [core]
          settlement: { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }
          reversal:   { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }
          decline:    { id: txn_id, time: ts, fields: { txn_id: string, card: string, merchant: string, amount: decimal, reason: string } }

        views:
          card_txn_count_60s:     { entity: card, from: authorization, aggregate: count, window: 60s, tags: [velocity] }
          card_txn_count:         { entity: card, from: authorization, aggregate: count, window: [5m, 1h], tags: [velocity] }
          card_amount_sum_24h:    { entity: card, from: authorization, aggregate: sum(amount), window: 24h }
          card_amount_max_24h:    { entity: card, from: authorization, aggregate: max(amount), window: 24h }
          card_amount_avg_30d:    { entity: card, from: authorization, aggregate: avg(amount), window: 30d }
          card_last_country:      { entity: card, from: authorization, aggregate: last(country), window: 30d }
          card_distinct_merchants_5m: { entity: card, from: authorization, aggregate: count_distinct(merchant), window: 5m }
          card_exposure:                        # signed contributions from several event types
            entity: card
            aggregate: sum
            from: { authorization: +amount, settlement: -amount, reversal: -amount }
            window: lifetime
            description: "Authorized minus settled minus reversed"
            owner: credit-risk
          merchant_declines_10m: { entity: merchant, from: decline, where: "reason != 'insufficient_funds'", aggregate: count, window: 10m }
          merchant_txn_count_1h: { entity: merchant, from: authorization, aggregate: count, window: 1h }

        lists:
          blocked_cards:    { of: card, description: "Cards blocked by the fraud team" }
          risky_countries:  { of: string }

        flags:
          velocity_hold:  { entity: card, set_when: "card_txn_count_60s > 5", on: authorization, for: 1h }

        rules:
          - { name: blocked,        when: "card in @blocked_cards",                     outcome: block }
          - { name: hold,           when: "flag(velocity_hold)",                        outcome: review }
          - { name: big_exposure,   when: "card_exposure + request.amount > 5000",      outcome: review }
          - { name: burst_abroad,   when: "card_txn_count_60s >= 3 and request.country in @risky_countries", outcome: block }

        """#
}
