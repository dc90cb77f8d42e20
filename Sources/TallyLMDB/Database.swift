import CLMDB

/// A named database handle, opened once when the environment opens (LMDB.md rule 8).
package struct Database: Sendable, Hashable, CustomStringConvertible {
    let dbi: MDB_dbi
    package let name: String
    /// The database's stage, for a staged database (``DatabaseSpec/staged``): a small database
    /// in the same environment that takes every write first (``StagedDatabase``). Nil for a
    /// plain database, and for a staged one in a store written before stages existed, opened
    /// read-only (it has none).
    let stage: MDB_dbi?
    /// The stage's groups (``DatabaseSpec/stageGroup``).
    let stageGroup: StageGroup?

    init(dbi: MDB_dbi, name: String, stage: MDB_dbi? = nil, stageGroup: StageGroup? = nil) {
        self.dbi = dbi
        self.name = name
        self.stage = stage
        self.stageGroup = stageGroup
    }

    package static func == (a: Database, b: Database) -> Bool { a.dbi == b.dbi && a.name == b.name }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(dbi)
        hasher.combine(name)
    }

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
