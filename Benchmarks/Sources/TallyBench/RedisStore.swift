import Foundation

/// Redis as teams build an online feature store with it: per card a sorted set of
/// authorizations scored by event time (ZADD; windows by ZCOUNT and ZRANGEBYSCORE), the exposure
/// as a running INCRBYFLOAT counter, and SET NX on the event id for idempotency.
///
/// Writer: one pipeline of SET NX per batch, then one pipeline of the new events' updates —
/// plain, or wrapped in MULTI/EXEC. Reader: the four commands pipelined, or in MULTI/EXEC.
final class RedisStore: FeatureStore, @unchecked Sendable {
    let label: String
    let durability: String
    let networked = true
    let readModes: [ReadMode]
    let exposureIsAsOf = false
    private let port: Int
    private let writer: RedisClient
    private let transactionalWriter: Bool

    /// `readModes` limits the read designs (the skew runs use one at a time).
    init(port: Int, persistence: String, transactionalWriter: Bool, readModes: [ReadMode]) throws {
        self.port = port
        self.transactionalWriter = transactionalWriter
        self.readModes = readModes
        label = "redis \(persistence)" + (transactionalWriter ? " multi-exec writer" : "")
        durability = persistence == "aof-everysec" ? "AOF, fsync once a second" : "none (memory only)"
        writer = try RedisClient(port: port)
    }

    static func authKey(_ card: String) -> String { "auth:\(card)" }
    static func exposureKey(_ card: String) -> String { "exposure:\(card)" }

    func ingest(_ batch: EventBatch) async throws -> Int {
        let claims = try writer.pipeline(
            batch.events.map { ["SET", "seen:\($0.kind.rawValue):\($0.txnID)", "1", "NX"] })
        var updates: [[String]] = []
        var accepted = 0
        for (event, claim) in zip(batch.events, claims) {
            guard case .simple = claim else { continue }  // nil bulk: already seen (a duplicate)
            accepted += 1
            switch event.kind {
            case .authorization:
                updates.append(["ZADD", Self.authKey(event.card), String(event.ts), "\(event.txnID):\(event.cents)"])
                updates.append(["INCRBYFLOAT", Self.exposureKey(event.card), Cents.text(event.cents)])
            case .settlement, .reversal:
                updates.append(["INCRBYFLOAT", Self.exposureKey(event.card), Cents.text(-event.cents)])
            case .decline:
                break
            }
        }
        if updates.isEmpty { return accepted }
        if transactionalWriter { updates = [["MULTI"]] + updates + [["EXEC"]] }
        for reply in try writer.pipeline(updates) {
            if case .error(let message) = reply { throw BenchError("redis: \(message)") }
            if transactionalWriter, case .array(nil) = reply { throw BenchError("redis: EXEC aborted") }
        }
        return accepted
    }

    func makeReader(_ mode: ReadMode) throws -> any FeatureReader {
        Reader(client: try RedisClient(port: port), transactional: mode == .multiExec)
    }

    func flush() throws { _ = try writer.command("FLUSHALL") }

    func close() {}

    final class Reader: FeatureReader {
        let client: RedisClient
        let transactional: Bool
        init(client: RedisClient, transactional: Bool) {
            self.client = client
            self.transactional = transactional
        }

        func read(card: String, at: Int64) throws -> Features {
            let key = RedisStore.authKey(card)
            let upper = String(at)
            var commands: [[String]] = [
                ["ZCOUNT", key, "(\(at - Window.sixtySeconds)", upper],
                ["ZCOUNT", key, "(\(at - Window.oneHour)", upper],
                ["ZRANGEBYSCORE", key, "(\(at - Window.day)", upper],
                ["GET", RedisStore.exposureKey(card)],
            ]
            if transactional { commands = [["MULTI"]] + commands + [["EXEC"]] }
            try client.send(commands)
            if transactional {
                // +OK, four +QUEUED, then EXEC's array of the four results.
                for _ in 0..<5 {
                    if case .error(let message) = try client.readReply() { throw BenchError("redis: \(message)") }
                }
                guard case .integer(4) = try client.readArrayHeader() else { throw BenchError("redis: EXEC failed") }
            }
            guard case .integer(let count60s) = try client.readReply(),
                case .integer(let count1h) = try client.readReply()
            else { throw BenchError("redis: ZCOUNT did not answer an integer") }
            // Members are "txn_id:cents": sum the cents straight from the reply bytes.
            var sum: Int64 = 0
            var malformed = false
            _ = try client.readBulkArray { member in
                guard let colon = member.lastIndex(of: UInt8(ascii: ":")) else {
                    malformed = true
                    return
                }
                var cents: Int64 = 0
                for digit in member[(colon + 1)...] { cents = cents * 10 + Int64(digit &- 48) }
                sum += cents
            }
            if malformed { throw BenchError("redis: bad member") }
            let replies = [try client.readReply()]
            var exposure: Int64 = 0
            if case .bulk(let bytes?) = replies[0] {
                // INCRBYFLOAT keeps a long double; a team rounds it to cents when reading.
                guard let value = Double(String(decoding: bytes, as: UTF8.self)) else {
                    throw BenchError("redis: bad exposure")
                }
                exposure = Int64((value * 100).rounded())
            }
            return Features(count60s: count60s, count1h: count1h, sum24h: sum, exposure: exposure)
        }
    }
}
