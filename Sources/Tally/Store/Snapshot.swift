import TallyLMDB

/// One consistent view of the store, valid only inside the closure of ``Tally/read(_:)``.
public final class Snapshot {
    let transaction: ReadTransaction
    let databases: Tally.Databases
    /// Every definitions version of the store (reads at an LSN use the version served then).
    let definitions: DefinitionsState.Current
    /// The highest LSN visible, read once when the snapshot begins.
    private let head: LSN
    /// The definitions reads at this snapshot's LSN use.
    let stored: StoredDefinitions?
    /// The oldest read point answered, read once when the snapshot begins (every vector checks it).
    let floor: RetentionFloor
    /// The wall clock (epoch ms): the default `at` of a read.
    let wallClock: @Sendable () -> Int64

    init(
        transaction: ReadTransaction, databases: Tally.Databases, definitions: DefinitionsState.Current,
        wallClock: @escaping @Sendable () -> Int64
    ) throws {
        self.transaction = transaction
        self.databases = databases
        self.definitions = definitions
        self.wallClock = wallClock
        let head = try MetaKey.headLSN.withUnsafeBytes { key in
            try transaction.get(databases.meta, key).flatMap(BigEndian.uint64)
        }
        self.head = LSN(head ?? 0)
        stored = definitions.served(at: head ?? 0)
        floor = try RetentionFloor.read(transaction, meta: databases.meta)
    }

    /// The definitions reads at `lsn` use.
    func stored(at lsn: LSN) -> StoredDefinitions? { definitions.served(at: lsn.rawValue) }

    /// The version of the definitions reads at this snapshot's LSN use (0 if the store has none).
    public var definitionsVersion: UInt32 { stored?.version ?? 0 }

    /// The watermark: the newest event time (epoch ms) the store has accepted; nil before the first.
    public var watermark: Int64? {
        get throws { try storageCall { try transaction.int64(databases.meta, MetaKey.watermark) } }
    }

    /// The highest LSN visible in this snapshot (``LSN/zero`` for an empty store). It stays
    /// throwing for source compatibility; the snapshot reads it once, when it begins.
    public var lsn: LSN {
        get throws { head }
    }

    /// Runs a read of this snapshot with typed throws: binding errors become ``TallyError``.
    func tallyCall<R>(_ body: () throws -> R) throws(TallyError) -> R {
        do {
            return try body()
        } catch let error as TallyError {
            throw error
        } catch let error as LMDBError {
            throw TallyError.fromStorage(error, path: "")
        } catch {
            throw TallyError(.storageFailure, "reading the store failed: \(error)", cause: error)
        }
    }

    /// Runs a read of this snapshot, turning binding errors into ``TallyError``.
    func storageCall<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as LMDBError { throw TallyError.fromStorage(error, path: "") }
    }
}
