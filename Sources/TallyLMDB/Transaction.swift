import CLMDB

/// Reads shared by read and write transactions. Values returned as raw buffers point into the map
/// and are valid only until the next write in, or the end of, the transaction (LMDB.md rule 6).
package protocol TransactionReading {
    var handle: OpaquePointer { get }
    /// Set when the environment counts entry accesses.
    var counters: AccessCounters? { get }
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
    package func get(_ database: Database, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        counters?.record(database.dbi)
        let status = mdb_get(handle, database.dbi, &k, &v)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_get(\(database))")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The value stored under `key`, copied out of the map.
    package func value(_ database: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try get(database, k).map { Array($0) } }
    }

    /// Runs `body` with a cursor over `database`; the cursor is closed afterwards.
    package func withCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var raw: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, database.dbi, &raw), "mdb_cursor_open(\(database))")
        var cursor = Cursor(handle: raw!, database: database, counters: counters)
        defer { mdb_cursor_close(raw) }
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
        return Cursor(handle: raw!, database: database, counters: counters)
    }

    /// Number of entries in `database` as of this transaction.
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
}
