import CLMDB

/// Reads shared by read and write transactions. Values returned as raw buffers point into the map
/// and are valid only until the next write in, or the end of, the transaction (LMDB.md rule 6).
package protocol TransactionReading {
    var handle: OpaquePointer { get }
    /// Set when the environment counts entry accesses.
    var counters: AccessCounters? { get }
    /// Whether a stage may gain entries while the transaction lasts (a write transaction with
    /// staging on); otherwise a cursor need not merge a stage that is empty when it opens
    /// (``StagedDatabase``).
    var stageMayGrow: Bool { get }
    /// Whether a stage may hold entries in this transaction. False in the writing process with
    /// staging off: its open emptied every stage and no write goes there, so reads skip the
    /// stage's record altogether (``StagedDatabase``).
    var stagesHoldEntries: Bool { get }
    /// The value stored under `key`, borrowed from the map; nil if absent.
    func get(_ database: Database, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer?
    /// Runs `body`, which only reads, with a cursor over `database`: in a write transaction the
    /// transaction's own cursor (``WriteTransaction``), left where `body` leaves it, so that the
    /// writes that follow to nearby keys skip the descent from the root; elsewhere a new cursor.
    func withReadingCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R
}

extension TransactionReading {
    /// The value stored under `key`, borrowed from the map; nil if absent (`mdb_get`: one
    /// descent from the root).
    /// In a staged database, the stage's entry if it has one (nil for a tombstone), else the
    /// database's.
    package func get(_ database: Database, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        if stagesHoldEntries, let stage = database.stage,
            let staged = try rawGet(stage, key, name: database.name + "_stage")
        {
            return StagedValue.live(staged)
        }
        return try rawGet(database.dbi, key, name: database.name)
    }

    private func rawGet(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, name: @autoclosure () -> String)
        throws(LMDBError)
        -> UnsafeRawBufferPointer?
    {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        counters?.record(dbi)
        let status = mdb_get(handle, dbi, &k, &v)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_get(\(name()))")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The value stored under `key`, copied out of the map.
    package func value(_ database: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try get(database, k).map { Array($0) } }
    }

    /// Runs `body` with a cursor over `database`; the cursor is closed afterwards.
    package func withCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var cursor = try openCursor(database)
        defer { cursor.close() }
        return try body(&cursor)
    }

    package func withReadingCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        try withCursor(database, body)
    }

    /// Opens a cursor that the caller closes (``Cursor/close()``) before the transaction ends: one
    /// open for a read that seeks many times, where ``withCursor(_:_:)`` would open one per seek.
    package func openCursor(_ database: Database) throws(LMDBError) -> Cursor {
        var raw: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, database.dbi, &raw), "mdb_cursor_open(\(database))")
        var stage: OpaquePointer?
        // A write transaction's stage may gain entries after the cursor opens.
        var merging = database.stage != nil && stagesHoldEntries
        if merging && !stageMayGrow { merging = !(try stageIsEmpty(database)) }
        if merging, let stageDBI = database.stage {
            let status = mdb_cursor_open(handle, stageDBI, &stage)
            if status != MDB_SUCCESS { mdb_cursor_close(raw) }
            try lmdbCheck(status, "mdb_cursor_open(\(database)_stage)")
        }
        return Cursor(handle: raw!, database: database, counters: counters, stage: stage)
    }

    /// ``openCursor(_:)`` for a caller that reads only keys starting with `prefix` (it treats any
    /// other entry as the end of its range): over a staged database whose stage holds no such key
    /// it does not merge the stage, which saves a read a second seek per move.
    package func openCursor(_ database: Database, within prefix: [UInt8]) throws -> Cursor {
        var cursor = try openCursor(database)
        guard cursor.merges, !stageMayGrow else { return cursor }
        do {
            let staged = try prefix.withUnsafeBytes { try cursor.stageEntry(atLeast: $0) }
            if let staged, staged.key.starts(with: prefix) { return cursor }
        } catch {
            cursor.close()
            throw error
        }
        cursor.stopMerging()
        return cursor
    }

    /// Number of entries in `database` as of this transaction; of a staged database, without its
    /// stage (``StagedDatabase``).
    package func entryCount(_ database: Database) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try lmdbCheck(mdb_stat(handle, database.dbi, &stat), "mdb_stat(\(database))")
        return stat.ms_entries
    }
}

/// A read transaction, valid only inside the closure passed to ``Environment/read(_:)``.
package struct ReadTransaction: TransactionReading {
    package let handle: OpaquePointer
    package let counters: AccessCounters?
    package var stageMayGrow: Bool { false }
    /// ``TransactionReading/stagesHoldEntries`` (``Environment``'s).
    package var stagesHoldEntries = true
}
