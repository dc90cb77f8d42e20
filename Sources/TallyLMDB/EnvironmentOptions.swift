/// How commits reach the disk.
package enum SyncMode: Sendable, Equatable {
    /// Every commit is fsync'd before it is acknowledged (LMDB default flags).
    case durable
    /// Commits are not fsync'd (`MDB_NOSYNC`); the writer flushes at most every `flushInterval`.
    /// Survives a process crash (the data is in the OS page cache), may lose the last interval on
    /// power loss or a kernel crash.
    case relaxed(flushInterval: Duration)
    /// Every group is flushed to a sequential journal before it is acknowledged; commits are not
    /// fsync'd (`MDB_NOSYNC`) and a background checkpoint flushes `data.mdb` every
    /// `checkpointInterval`. As durable as `.durable` (power loss included); recovery at open
    /// returns to the last checkpoint and replays the journal (``Checkpoint``).
    case journaled(checkpointInterval: Duration)
}

/// Whether this process writes or only reads the environment.
package enum AccessMode: Sendable, Equatable {
    /// The one writing process: takes the writer lock file and opens the named databases.
    case readWrite
    /// A reader beside a running writer (e.g. the CLI next to a server): `MDB_RDONLY`, adopts map
    /// growth done by the writer (`MDB_MAP_RESIZED`).
    case readOnly
}

/// The length of the leading part of a key that names its group (``DatabaseSpec/stageGroup``).
package typealias StageGroup = @Sendable (UnsafeRawBufferPointer) -> Int

/// A named database to open once at startup.
package struct DatabaseSpec: Sendable, Hashable {
    package var name: String
    package var duplicateSort: Bool
    /// Writes go to a stage first and move into the database later (``StagedDatabase``); the
    /// stage is the database `name` + `_stage`. Not with `duplicateSort`.
    package var staged: Bool
    /// For a staged database: how long the leading part of a key is that names its group (for
    /// `views`, the entity). A move of the stage's excess never splits a group, so every stage
    /// entry of a group was written after every entry of that group the database holds, which
    /// ``Cursor/last(below:within:rewritesLater:)`` relies on. Group names must be prefix-free
    /// (none is a prefix of another). Nil: moves stop at any key, and reads always merge.
    package var stageGroup: StageGroup?

    package init(_ name: String, duplicateSort: Bool = false, staged: Bool = false, stageGroup: StageGroup? = nil) {
        precondition(!(duplicateSort && staged), "a staged database cannot be MDB_DUPSORT")
        self.name = name
        self.duplicateSort = duplicateSort
        self.staged = staged
        self.stageGroup = stageGroup
    }

    package static func == (a: DatabaseSpec, b: DatabaseSpec) -> Bool {
        a.name == b.name && a.duplicateSort == b.duplicateSort && a.staged == b.staged
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(duplicateSort)
        hasher.combine(staged)
    }

    /// The name of the stage of a staged database.
    package var stageName: String { name + "_stage" }
}

/// Tuning of one LMDB environment.
package struct EnvironmentOptions: Sendable {
    /// Initial map size in bytes; the map grows by itself on `MDB_MAP_FULL`.
    package var mapSize: Int = 64 << 30
    /// Upper bound on one growth step in bytes (growth doubles the map until this step size).
    package var maxGrowthStep: Int = 8 << 30
    /// LMDB reader-table size (`mdb_env_set_maxreaders`), shared by all processes.
    package var maxReaders: UInt32 = 512
    /// Concurrent read transactions this process may hold; callers past it wait (back-pressure),
    /// so the reader table never fills (`MDB_READERS_FULL`). Must leave room for other processes.
    package var maxConcurrentReaders: Int = 126
    /// Entries a staged database's stage keeps (``StagedDatabase``): a commit that leaves more
    /// moves the excess into the database, in key order round the key space. 0 moves everything
    /// at every commit (the stage then only holds a transaction's own writes). Nil: staging is
    /// off, and writes go straight to the database. Either way a writable open first empties a
    /// stage an earlier run left.
    package var stageEntries: Int? = nil
    /// With staging on: the visit of a group in one write transaction
    /// (``WriteTransaction/visit(_:group:)``, for `views` one event of an entity) from which the
    /// group's writes bypass the stage for the rest of the transaction. Nil: never.
    package var stageThroughVisits: Int? = 8
    /// Maximum named databases (`mdb_env_set_maxdbs`).
    package var maxDatabases: UInt32 = 32
    package var sync: SyncMode = .durable
    package var access: AccessMode = .readWrite
    /// Write requests that may wait for the writer before `write` fails with overload.
    package var maxPendingWrites: Int = 65_536
    /// Summed cost (an ingest request's event count) that may wait for the writer before `write`
    /// fails with overload; a request alone in the queue is taken whatever its cost.
    package var maxPendingCost: Int = 131_072
    /// Most requests the writer joins into one transaction.
    package var maxRequestsPerCommit: Int = 4_096
    /// How often the writer clears reader slots left by crashed processes (`mdb_reader_check`).
    package var staleReaderCheckInterval: Duration = .seconds(10)
    /// Group-commit gather window: after committing a group when several callers were seen
    /// together recently (the peak group size, decaying by one per group), the writer waits up to
    /// this long for that many requests to queue before it starts the next group, so callers it just
    /// resumed can rejoin. A lone caller never waits. Zero turns it off.
    package var gatherWindow: Duration = .microseconds(200)
    /// Keeps the data file's page cache in single-page folios: opens with `MDB_NORDAHEAD`, and
    /// the writer prepares the file ahead of LMDB's last page (``PageCacheShaper``).
    package var shapePageCache = true
    /// In the journaled mode, writes and flushes a group's journal record on a thread of its own
    /// while the writer applies the group (``JournalFlusher``), instead of after the apply.
    package var overlapJournalFlush = true
    /// Count entries touched per database (tests and diagnostics; off by default).
    package var countEntryAccesses = false
    /// Called on the writer thread while a map growth holds every reader out, before the map is
    /// resized (tests of readiness during a resize).
    package var mapGrowing: (@Sendable () -> Void)? = nil
    /// Called on the checkpoint thread before it writes a journaled checkpoint's pages back
    /// (tests of a checkpoint that falls behind the writer).
    package var checkpointWriting: (@Sendable () -> Void)? = nil

    package init() {}
}
