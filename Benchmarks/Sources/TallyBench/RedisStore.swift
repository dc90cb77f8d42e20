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
            var replies = try client.pipeline(commands)
            if transactional {
                guard case .array(let results?) = replies.last else { throw BenchError("redis: EXEC failed") }
                replies = results
            }
            guard replies.count == 4, case .integer(let count60s) = replies[0], case .integer(let count1h) = replies[1],
                case .array(let members?) = replies[2]
            else { throw BenchError("redis: unexpected replies \(replies)") }
            var sum: Int64 = 0
            for member in members {
                guard case .bulk(let bytes?) = member, let colon = bytes.lastIndex(of: UInt8(ascii: ":")),
                    let cents = Int64(String(decoding: bytes[(colon + 1)...], as: UTF8.self))
                else { throw BenchError("redis: bad member") }
                sum += cents
            }
            var exposure: Int64 = 0
            if case .bulk(let bytes?) = replies[3] {
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
