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

    init(handle: OpaquePointer, counters: AccessCounters?) {
        self.handle = handle
        self.counters = counters
        self.owner = pthread_self()
    }

    deinit {
        if !finished { mdb_txn_abort(handle) }
    }

    /// Stores `value` under `key`.
    package func put(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(mdb_put(handle, database.dbi, &k, &v, flags.rawValue), "mdb_put(\(database))")
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
        let status = mdb_put(handle, database.dbi, &k, &v, UInt32(MDB_NOOVERWRITE))
        if status == MDB_KEYEXIST { return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size) }
        try lmdbCheck(status, "mdb_put(\(database), no-overwrite)")
        writeCount += 1
        return nil
    }

    /// Deletes `key`; returns false if it was absent.
    @discardableResult
    package func delete(_ database: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            let status = mdb_del(handle, database.dbi, &k, nil)
            if status == MDB_NOTFOUND { return false }
            try lmdbCheck(status, "mdb_del(\(database))")
            writeCount += 1
            return true
        }
    }

    /// Commits. On failure LMDB has already freed the transaction (LMDB.md rule 5): never abort it.
    package func commit() throws(LMDBError) {
        checkThread("commit")
        finished = true
        try lmdbCheck(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    /// Aborts; the only legal call after a failed operation.
    package func abort() {
        checkThread("abort")
        guard !finished else { return }
        finished = true
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
