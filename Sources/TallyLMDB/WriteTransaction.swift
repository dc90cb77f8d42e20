import CLMDB
import Glibc

/// A write transaction. It begins and must end on the one writer thread (LMDB.md rule 1): the
/// writer lock is a process-shared mutex, and committing from another thread leaves it held so the
/// next write blocks forever. `commit` and `abort` check the thread and stop the process otherwise.
package final class WriteTransaction: TransactionReading {
    package let handle: OpaquePointer
    package let counters: AccessCounters?
    private let owner: pthread_t
    private var finished = false
    /// Successful puts and deletes so far: the writer uses it to tell whether a failed request
    /// left changes behind (then the transaction must be aborted and the others re-run).
    package private(set) var writeCount = 0
    /// One cursor per database, opened on first use and freed by LMDB when the transaction ends.
    /// Every get, put and delete goes through it: LMDB checks whether a key falls inside the leaf
    /// page the cursor is on before descending from the root, and ingest's view writes for one
    /// entity mostly land on the page its reads just visited.
    private var cursors: [(dbi: MDB_dbi, handle: OpaquePointer)] = []

    init(handle: OpaquePointer, counters: AccessCounters?) {
        self.handle = handle
        self.counters = counters
        self.owner = pthread_self()
    }

    deinit {
        if !finished { mdb_txn_abort(handle) }
    }

    /// The transaction's cursor over `database` (see `cursors`).
    private func cursor(_ database: Database) throws(LMDBError) -> OpaquePointer {
        for entry in cursors where entry.dbi == database.dbi { return entry.handle }
        var raw: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, database.dbi, &raw), "mdb_cursor_open(\(database))")
        cursors.append((database.dbi, raw!))
        return raw!
    }

    /// The value stored under `key`, borrowed from the map; nil if absent.
    package func get(_ database: Database, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        counters?.record(database.dbi)
        let status = mdb_cursor_get(try cursor(database), &k, &v, MDB_SET_KEY)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_cursor_get(\(database), set)")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Runs `body` with the transaction's cursor over `database`; `body` must not write, nor
    /// close the cursor (LMDB frees it with the transaction).
    package func withReadingCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var shared = Cursor(handle: try cursor(database), database: database, counters: counters)
        return try body(&shared)
    }

    /// Stores `value` under `key`.
    package func put(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(mdb_cursor_put(try cursor(database), &k, &v, flags.rawValue), "mdb_put(\(database))")
        writeCount += 1
    }

    /// Stores `value` under `key` (array convenience).
    package func put(_ database: Database, _ key: [UInt8], _ value: [UInt8], flags: PutFlags = []) throws {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in try put(database, k, v, flags: flags) }
        }
    }

    /// Stores `value` under `key` unless the key exists; then returns the existing value (borrowed
    /// from the map) and writes nothing. One B-tree descent for "insert if absent".
    package func insertIfAbsent(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer
    ) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        counters?.record(database.dbi)
        let status = mdb_cursor_put(try cursor(database), &k, &v, UInt32(MDB_NOOVERWRITE))
        if status == MDB_KEYEXIST { return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size) }
        try lmdbCheck(status, "mdb_put(\(database), no-overwrite)")
        writeCount += 1
        return nil
    }

    /// Deletes `key`; returns false if it was absent. (No database here is `MDB_DUPSORT`: the
    /// cursor deletes the one item at `key`.)
    @discardableResult
    package func delete(_ database: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            var v = MDB_val()
            let cursor = try cursor(database)
            let found = mdb_cursor_get(cursor, &k, &v, MDB_SET)
            if found == MDB_NOTFOUND { return false }
            try lmdbCheck(found, "mdb_cursor_get(\(database), set)")
            try lmdbCheck(mdb_cursor_del(cursor, 0), "mdb_del(\(database))")
            writeCount += 1
            return true
        }
    }

    /// Commits. On failure LMDB has already freed the transaction (LMDB.md rule 5): never abort it.
    package func commit() throws(LMDBError) {
        checkThread("commit")
        finished = true
        cursors.removeAll()  // LMDB frees a write transaction's cursors when it ends
        try lmdbCheck(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    /// Aborts; the only legal call after a failed operation.
    package func abort() {
        checkThread("abort")
        guard !finished else { return }
        finished = true
        cursors.removeAll()
        mdb_txn_abort(handle)
    }

    private func checkThread(_ operation: String) {
        precondition(
            !finished || operation == "abort", "LMDB write transaction used after it ended")
        precondition(
            pthread_equal(owner, pthread_self()) != 0,
            "LMDB write transaction \(operation) off the thread that began it: the writer lock would stay held")
    }
}
