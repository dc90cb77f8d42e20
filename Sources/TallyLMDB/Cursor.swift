import CLMDB

/// One key/value pair borrowed from the map; valid until the cursor moves or the transaction ends.
package struct Entry {
    package let key: UnsafeRawBufferPointer
    package let value: UnsafeRawBufferPointer
}

/// A positioned cursor over one database; obtained from `withCursor`.
package struct Cursor {
    let handle: OpaquePointer
    let database: Database
    let counters: AccessCounters?

    private func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        counters?.record(database.dbi)
        let status = mdb_cursor_get(handle, &k, &v, op)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_cursor_get(\(database))")
        return Entry(
            key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Closes a cursor from ``TransactionReading/openCursor(_:)``; no copy of it may be used after.
    package func close() { mdb_cursor_close(handle) }

    package mutating func first() throws(LMDBError) -> Entry? { try move(MDB_FIRST) }
    package mutating func last() throws(LMDBError) -> Entry? { try move(MDB_LAST) }
    package mutating func next() throws(LMDBError) -> Entry? { try move(MDB_NEXT) }
    package mutating func previous() throws(LMDBError) -> Entry? { try move(MDB_PREV) }
    /// Positions at the first key ≥ `key`.
    package mutating func seek(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        try move(MDB_SET_RANGE, key: key)
    }
}
