import CLMDB

/// A failed LMDB call: the C status code and the operation that returned it.
///
/// Package-internal on purpose: the engine maps it to `TallyError` so no raw `Int32` reaches the
/// public API.
package struct LMDBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The status returned by LMDB (an `MDB_*` code or an `errno` value).
    package let status: Int32
    /// The LMDB function (and context) that failed, e.g. `mdb_put(log)`.
    package let operation: String

    package init(status: Int32, operation: String) {
        self.status = status
        self.operation = operation
    }

    /// LMDB's own text for `status`.
    package var reason: String { String(cString: mdb_strerror(status)) }

    package var description: String { "\(operation): \(reason) (\(status))" }

    /// The map is full: the write transaction is dead; grow the map and retry.
    package var isMapFull: Bool { status == MDB_MAP_FULL }
    /// Another process grew the map; adopt its size and retry.
    package var isMapResized: Bool { status == MDB_MAP_RESIZED }
    /// The key or value is outside what LMDB accepts (empty key, key over 511 bytes).
    package var isBadSize: Bool { status == MDB_BAD_VALSIZE }
    /// `MDB_NOOVERWRITE` found the key present.
    package var isKeyExists: Bool { status == MDB_KEYEXIST }
    /// The disk is full or the filesystem refused the write.
    package var isNoSpace: Bool { status == noSpaceStatus || status == quotaExceededStatus }
}

// errno values as LMDB returns them on Linux (avoids importing Glibc here).
let noSpaceStatus: Int32 = 28  // ENOSPC
let quotaExceededStatus: Int32 = 122  // EDQUOT

/// Throws an ``LMDBError`` unless `status` is `MDB_SUCCESS`.
@inline(__always)
package func lmdbCheck(_ status: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if status != MDB_SUCCESS { throw LMDBError(status: status, operation: operation()) }
}
