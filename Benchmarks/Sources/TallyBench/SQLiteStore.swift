import GRDB

/// SQLite through GRDB (a `DatabasePool`, so WAL): the same features in SQL. One write
/// transaction per batch; idempotency by `INSERT OR IGNORE` into a key table; authorizations in a
/// table indexed by (card, ts, amount); exposure as a row per card updated in the same
/// transaction. Reads: four SELECTs, autocommit each or in one read transaction.
final class SQLiteStore: FeatureStore, @unchecked Sendable {
    let label: String
    let durability: String
    let networked = false
    let readModes: [ReadMode]
    let exposureIsAsOf = false
    private let pool: DatabasePool

    init(path: String, synchronousFull: Bool, readModes: [ReadMode]) throws {
        var configuration = Configuration()
        let synchronous = synchronousFull ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        configuration.maximumReaderCount = 8
        pool = try DatabasePool(path: path, configuration: configuration)
        label = "sqlite wal synchronous=\(synchronous)"
        durability = synchronousFull ? "WAL, fsync per commit" : "WAL, no fsync per commit (checkpoints sync)"
        self.readModes = readModes
        try pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS seen(type TEXT NOT NULL, txn_id TEXT NOT NULL, PRIMARY KEY(type, txn_id))
                        WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS auth(card TEXT NOT NULL, ts INTEGER NOT NULL, amount INTEGER NOT NULL);
                    CREATE INDEX IF NOT EXISTS auth_card_ts ON auth(card, ts, amount);
                    CREATE TABLE IF NOT EXISTS exposure(card TEXT PRIMARY KEY, cents INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
    }

    func ingest(_ batch: EventBatch) async throws -> Int {
        let events = batch.events
        return try await pool.write { db in
            let claim = try db.cachedStatement(sql: "INSERT OR IGNORE INTO seen(type, txn_id) VALUES (?, ?)")
            let authorize = try db.cachedStatement(sql: "INSERT INTO auth(card, ts, amount) VALUES (?, ?, ?)")
            let expose = try db.cachedStatement(
                sql:
                    "INSERT INTO exposure(card, cents) VALUES (?, ?) ON CONFLICT(card) DO UPDATE SET cents = cents + excluded.cents"
            )
            var accepted = 0
            for event in events {
                try claim.execute(arguments: [event.kind.rawValue, event.txnID])
                guard db.changesCount == 1 else { continue }
                accepted += 1
                if event.kind == .authorization {
                    try authorize.execute(arguments: [event.card, event.ts, event.cents])
                }
                if event.kind != .decline {
                    try expose.execute(arguments: [event.card, event.exposureDelta])
                }
            }
            return accepted
        }
    }

    func makeReader(_ mode: ReadMode) throws -> any FeatureReader {
        Reader(pool: pool, oneTransaction: mode == .oneTransaction)
    }

    func close() { try? pool.close() }

    final class Reader: FeatureReader {
        let pool: DatabasePool
        let oneTransaction: Bool
        init(pool: DatabasePool, oneTransaction: Bool) {
            self.pool = pool
            self.oneTransaction = oneTransaction
        }

        func read(card: String, at: Int64) throws -> Features {
            // `read` wraps the closure in one deferred read transaction (one WAL snapshot);
            // `unsafeRead` does not, so each SELECT is its own autocommit snapshot.
            oneTransaction
                ? try pool.read { try Self.select($0, card, at) }
                : try pool.unsafeRead { try Self.select($0, card, at) }
        }

        private static func select(_ db: Database, _ card: String, _ at: Int64) throws -> Features {
            let count = try db.cachedStatement(sql: "SELECT COUNT(*) FROM auth WHERE card = ? AND ts > ? AND ts <= ?")
            let sum = try db.cachedStatement(
                sql: "SELECT COALESCE(SUM(amount), 0) FROM auth WHERE card = ? AND ts > ? AND ts <= ?")
            let exposure = try db.cachedStatement(sql: "SELECT cents FROM exposure WHERE card = ?")
            let count60s = try Int64.fetchOne(count, arguments: [card, at - Window.sixtySeconds, at]) ?? 0
            let count1h = try Int64.fetchOne(count, arguments: [card, at - Window.oneHour, at]) ?? 0
            let sum24h = try Int64.fetchOne(sum, arguments: [card, at - Window.day, at]) ?? 0
            let cents = try Int64.fetchOne(exposure, arguments: [card]) ?? 0
            return Features(count60s: count60s, count1h: count1h, sum24h: sum24h, exposure: cents)
        }
    }
}
