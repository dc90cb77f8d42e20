import TallyLMDB

/// One consistent view of the store, valid only inside the closure of ``Tally/read(_:)``.
public struct Snapshot {
    let transaction: ReadTransaction
    let databases: Tally.Databases
    let stored: StoredDefinitions?
    /// The wall clock (epoch ms): the default `at` of a read.
    let wallClock: @Sendable () -> Int64

    /// The version of the definitions this snapshot is read with (0 if the store has none).
    public var definitionsVersion: UInt32 { stored?.version ?? 0 }

    /// The watermark: the newest event time (epoch ms) the store has accepted; nil before the first.
    public var watermark: Int64? {
        get throws {
            try storageCall {
                try MetaKey.watermark.withUnsafeBytes { key in
                    try transaction.get(databases.meta, key).flatMap(BigEndian.int64)
                }
            }
        }
    }

    /// The highest LSN visible in this snapshot (``LSN/zero`` for an empty store).
    public var lsn: LSN {
        get throws {
            try storageCall {
                try MetaKey.headLSN.withUnsafeBytes { key in
                    try transaction.get(databases.meta, key).flatMap(BigEndian.uint64).map { LSN($0) } ?? .zero
                }
            }
        }
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
