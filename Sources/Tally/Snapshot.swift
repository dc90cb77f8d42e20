import TallyLMDB

/// One consistent view of the store, valid only inside the closure of ``Tally/read(_:)``.
public struct Snapshot {
    let transaction: ReadTransaction
    let databases: Tally.Databases

    /// The highest LSN visible in this snapshot (``LSN/zero`` for an empty store).
    public var lsn: LSN {
        get throws {
            do {
                return try MetaKey.headLSN.withUnsafeBytes { key in
                    try transaction.get(databases.meta, key).flatMap(BigEndian.uint64).map { LSN($0) } ?? .zero
                }
            } catch let error as LMDBError {
                throw TallyError.fromStorage(error, path: "")
            }
        }
    }
}
