/// How a system reads one card's features: the designs compared for Redis and SQLite.
enum ReadMode: String, Sendable, Codable, CaseIterable {
    /// Tally: one read transaction (embedded) or one GET (HTTP) — its only way.
    case snapshot
    /// Redis: the four commands in one pipeline (not atomic).
    case pipelined
    /// Redis: the four commands inside MULTI/EXEC.
    case multiExec = "multi-exec"
    /// SQLite: four autocommit SELECTs.
    case separateStatements = "separate-statements"
    /// SQLite: the four SELECTs in one read transaction.
    case oneTransaction = "one-transaction"
}

/// One system under test, on a fresh store. Every system receives the same batches, in order;
/// each batch is one request / pipeline / transaction.
protocol FeatureStore: AnyObject, Sendable {
    /// e.g. "tally-embedded durable", "redis aof-everysec".
    var label: String { get }
    /// What an acknowledgement survives, in one line for the table.
    var durability: String { get }
    /// True when the network is crossed (compared with the other networked systems).
    var networked: Bool { get }
    var readModes: [ReadMode] { get }
    /// True when exposure is answered as of the read's `at` (Tally); false when it is a running
    /// counter of everything applied (Redis INCRBYFLOAT, an SQLite row).
    var exposureIsAsOf: Bool { get }
    /// Applies one batch; resolves when the system acknowledges it. Returns accepted events.
    func ingest(_ batch: EventBatch) async throws -> Int
    /// A reader for one client thread (its own connection where there is one).
    func makeReader(_ mode: ReadMode) throws -> any FeatureReader
    func close()
}

/// One client: used by one thread at a time.
protocol FeatureReader: AnyObject {
    /// The card's features with windows as of `at` (epoch ms).
    func read(card: String, at: Int64) throws -> Features
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
