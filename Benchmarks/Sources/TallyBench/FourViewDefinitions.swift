/// Examples/cards.yaml cut down to the four card features Redis and SQLite maintain here: a
/// diagnostic row that shows what Tally's ingest and reads cost with the same work as theirs
/// (the main rows use the full example definitions: 10 views, 8 states per card).
enum FourViewDefinitions {
    static let yaml = """
        entities:
          card:     { key: string }
          merchant: { key: string }
        events:
          authorization:
            id: txn_id
            time: ts
            lateness: 1h
            fields: { txn_id: string, card: string, merchant: string, amount: decimal, country: string, mcc: "string?" }
          settlement: { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }
          reversal:   { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }
          decline:    { id: txn_id, time: ts, fields: { txn_id: string, card: string, merchant: string, amount: decimal, reason: string } }
        views:
          card_txn_count_60s:  { entity: card, from: authorization, aggregate: count, window: 60s }
          card_txn_count_1h:   { entity: card, from: authorization, aggregate: count, window: 1h }
          card_amount_sum_24h: { entity: card, from: authorization, aggregate: sum(amount), window: 24h }
          card_exposure:
            entity: card
            aggregate: sum
            from: { authorization: +amount, settlement: -amount, reversal: -amount }
            window: lifetime
        """
}
