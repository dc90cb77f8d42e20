import CLMDB

/// A named database handle, opened once when the environment opens (LMDB.md rule 8).
package struct Database: Sendable, Hashable, CustomStringConvertible {
    let dbi: MDB_dbi
    package let name: String

    package var description: String { name }
}

/// Flags of `mdb_put`.
package struct PutFlags: OptionSet, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Fail with `MDB_KEYEXIST` if the key is present.
    package static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// The key sorts after every key in the database (sequential append, LMDB.md rule 12).
    package static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
}
