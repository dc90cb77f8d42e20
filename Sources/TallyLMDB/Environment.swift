import CLMDB
import Foundation
import Synchronization

/// Why an environment could not be opened (besides an ``LMDBError``).
package enum EnvironmentError: Error, Sendable, Equatable {
    /// Another process holds the writer lock file.
    case writerLocked(path: String)
    /// A read-only open found a named database missing (the store was never initialised).
    case missingDatabase(name: String)
    /// The data directory or lock file could not be created or opened.
    case filesystem(path: String, errno: Int32)
    /// The store needs journal recovery, which rewrites LMDB's meta pages, but another process
    /// (a reader) has it open.
    case recoveryNeedsExclusiveAccess(path: String)
    /// A read-only open of a journaled store that was not closed cleanly and that no process
    /// writes: it must be opened for writing (which recovers it) first.
    case needsRecovery(path: String)
}

/// One LMDB environment, opened with `MDB_NOTLS`, its named databases opened once, reads bounded
/// by a ``ReaderGate``. Writes go through a ``Writer`` (one thread); this type only hands it
/// transactions and grows the map for it.
package final class Environment: @unchecked Sendable {
    let handle: OpaquePointer
    package let path: String
    package let options: EnvironmentOptions
    private let databases: [String: Database]
    let gate: ReaderGate
    private let lockDescriptor: Int32
    private let closed = Atomic<Bool>(false)
    private let resizes = Atomic<Int>(0)
    /// Map resizes under way (growth by the writer, or adopting the writer's size).
    private let resizing = Atomic<Int>(0)
    /// Entry-access counters, when `options.countEntryAccesses` is set.
    package let counters: AccessCounters?
    /// Stale reader slots cleared at open (left by crashed processes).
    package let staleReadersClearedAtOpen: Int
    /// Journal recovery found at open: the groups to replay before the writer starts, and the
    /// pin on the checkpointed snapshot (see ``Checkpoint``). Nil without a checkpoint file.
    package let journalRecovery: JournalRecovery?
    /// Where each staged database's next move starts (``StagedDatabase``); writer thread only.
    let stages: StageMoves
    /// False when this process writes with staging off: every stage stays empty (the open
    /// emptied them, the writer lock keeps other writers out), so reads never look at one.
    let stagesHoldEntries: Bool

    private init(
        handle: OpaquePointer, path: String, options: EnvironmentOptions, databases: [String: Database],
        lockDescriptor: Int32, staleReaders: Int, journalRecovery: JournalRecovery?
    ) {
        self.journalRecovery = journalRecovery
        self.handle = handle
        self.path = path
        self.options = options
        self.databases = databases
        self.gate = ReaderGate(limit: options.maxConcurrentReaders)
        self.lockDescriptor = lockDescriptor
        self.staleReadersClearedAtOpen = staleReaders
        self.counters = options.countEntryAccesses ? AccessCounters() : nil
        self.stages = StageMoves(budget: options.stageEntries, throughVisits: options.stageThroughVisits)
        self.stagesHoldEntries = options.access != .readWrite || options.stageEntries != nil
    }

    deinit { close() }

    /// Opens (creating in read-write mode) the environment in directory `path`.
    package static func open(
        path: String, options: EnvironmentOptions, databases specs: [DatabaseSpec]
    ) throws -> Environment {
        let writable = options.access == .readWrite
        var lockFD: Int32 = -1
        if writable {
            lockFD = try takeWriterLock(directory: path)
        }
        var raw: OpaquePointer?
        var pin: OpaquePointer?
        do {
            let found = writable ? try JournalRecovery.prepare(directory: path) : nil
            if !writable { try JournalRecovery.checkReadable(directory: path) }
            try lmdbCheck(mdb_env_create(&raw), "mdb_env_create")
            let env = raw!
            try lmdbCheck(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
            try lmdbCheck(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try lmdbCheck(mdb_env_set_mapsize(env, roundToPage(options.mapSize)), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            // With a checkpoint, the journal's replay is pinned, so a crash during it returns to
            // the same checkpoint: no flush needed. The open then settles the recovery (flush,
            // checkpoint removed, pin ended, durable commits: ``settleJournalRecovery()``) before
            // its own writes. The journaled mode without one commits durably until its first
            // checkpoint (``Writer``).
            switch options.sync {
            case .relaxed: flags |= UInt32(MDB_NOSYNC)
            case .durable, .journaled: if found != nil { flags |= UInt32(MDB_NOSYNC) }
            }
            if !writable { flags |= UInt32(MDB_RDONLY) }
            // A page faulted in through the map is cached alone, not in a readahead's large
            // folio that the writer's one-page writes would then walk (``PageCacheShaper``).
            if options.shapePageCache { flags |= UInt32(MDB_NORDAHEAD) }
            try lmdbCheck(mdb_env_open(env, path, flags, 0o644), "mdb_env_open(\(path))")
            var dead: Int32 = 0
            try lmdbCheck(mdb_reader_check(env, &dead), "mdb_reader_check")
            if let found {
                // Before any write: no page of the checkpointed snapshot may be reused until a
                // newer checkpoint is durable.
                try lmdbCheck(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &pin), "mdb_txn_begin(pin)")
                found.pin = pin
            }
            let opened = try openDatabases(env, specs, writable: writable)
            if writable { try emptyStages(env, Array(opened.values)) }
            return Environment(
                handle: env, path: path, options: options, databases: opened, lockDescriptor: lockFD,
                staleReaders: Int(dead), journalRecovery: found)
        } catch {
            if let pin { mdb_txn_abort(pin) }
            if let raw { mdb_env_close(raw) }
            if lockFD >= 0 { releaseWriterLock(lockFD) }
            throw error
        }
    }

    /// Moves whatever an earlier run left in a stage into its database, before anything (the
    /// journal's replay included) writes: with staging off, writes go to the database directly;
    /// with it on, every run starts from an empty stage, so a stage an earlier build filled with
    /// other move rules (``DatabaseSpec/stageGroup``) is never read as if it followed this one's.
    private static func emptyStages(_ env: OpaquePointer, _ databases: [Database]) throws {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin(stages)")
        let transaction = WriteTransaction(handle: txn!, counters: nil)
        var moved = false
        for database in databases where database.stage != nil {
            moved = try transaction.moveStage(database, keeping: 0, from: []) != nil || moved
        }
        if moved { try transaction.commit() } else { transaction.abort() }
    }

    /// Opens every named database once, in one transaction, before any other use (LMDB.md rule 8).
    private static func openDatabases(
        _ env: OpaquePointer, _ specs: [DatabaseSpec], writable: Bool
    ) throws -> [String: Database] {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, writable ? 0 : UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(open)")
        var opened: [String: Database] = [:]
        for spec in specs {
            var flags: UInt32 = writable ? UInt32(MDB_CREATE) : 0
            if spec.duplicateSort { flags |= UInt32(MDB_DUPSORT) }
            var dbi: MDB_dbi = 0
            let status = mdb_dbi_open(txn, spec.name, flags, &dbi)
            if status == MDB_NOTFOUND {
                mdb_txn_abort(txn)
                throw EnvironmentError.missingDatabase(name: spec.name)
            }
            if status != MDB_SUCCESS {
                mdb_txn_abort(txn)
                throw LMDBError(status: status, operation: "mdb_dbi_open(\(spec.name))")
            }
            var stage: MDB_dbi?
            if spec.staged {
                // A store written before stages existed has none: read-only, the database is read as it is.
                var stageDBI: MDB_dbi = 0
                let status = mdb_dbi_open(txn, spec.stageName, flags, &stageDBI)
                if status == MDB_SUCCESS {
                    stage = stageDBI
                } else if status != MDB_NOTFOUND || writable {
                    mdb_txn_abort(txn)
                    throw LMDBError(status: status, operation: "mdb_dbi_open(\(spec.stageName))")
                }
            }
            opened[spec.name] = Database(dbi: dbi, name: spec.name, stage: stage, stageGroup: spec.stageGroup)
        }
        // Committing (also a read transaction) makes the handles visible to the environment.
        try lmdbCheck(mdb_txn_commit(txn), "mdb_txn_commit(open)")
        return opened
    }

    /// Exclusive `flock` on `tally.lock`: one writing process per store (LMDB.md rule 9).
    private static func takeWriterLock(directory: String) throws -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EnvironmentError.filesystem(path: directory, errno: Int32((error as NSError).code))
        }
        let lockPath = directory + "/tally.lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvironmentError.filesystem(path: lockPath, errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            Glibc.close(fd)
            throw EnvironmentError.writerLocked(path: directory)
        }
        return fd
    }

    /// The handle of a database declared at open.
    package func database(_ name: String) -> Database {
        guard let db = databases[name] else { preconditionFailure("database \(name) was not declared at open") }
        return db
    }

    // MARK: Reads

    /// Runs `body` in one read transaction. Waits for a reader slot when `maxConcurrentReaders`
    /// are in use. Do not call `read` from inside `body` (the inner call could wait for a map
    /// resize that waits for the outer one).
    package func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        precondition(!closed.load(ordering: .relaxed), "read on a closed environment")
        var attempts = 0
        while true {
            let pooled = gate.enter()
            let txn: OpaquePointer
            do {
                txn = try beginRead(reusing: pooled)
            } catch let error as LMDBError where error.isMapResized && attempts < 8 {
                gate.leave(pooling: nil)
                attempts += 1
                try adoptMapSizeOfWriter()
                continue
            } catch {
                gate.leave(pooling: nil)
                throw error
            }
            defer {
                mdb_txn_reset(txn)
                gate.leave(pooling: txn)
            }
            return try body(ReadTransaction(handle: txn, counters: counters, stagesHoldEntries: stagesHoldEntries))
        }
    }

    private func beginRead(reusing pooled: OpaquePointer?) throws -> OpaquePointer {
        if let pooled {
            let status = mdb_txn_renew(pooled)
            if status == MDB_SUCCESS { return pooled }
            mdb_txn_abort(pooled)  // a failed renew leaves it reset; abort frees it and its slot
            throw LMDBError(status: status, operation: "mdb_txn_renew")
        }
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
        return txn!
    }

    /// A reading process saw `MDB_MAP_RESIZED`: the writer grew the map. Adopt its size with no
    /// transaction of ours open (LMDB.md rule 9).
    private func adoptMapSizeOfWriter() throws {
        resizing.add(1, ordering: .relaxed)
        defer { resizing.subtract(1, ordering: .relaxed) }
        try gate.quiesce { pooled in
            for transaction in pooled { mdb_txn_abort(transaction) }
            try lmdbCheck(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(adopt)")
        }
        resizes.add(1, ordering: .relaxed)
    }

    // MARK: Writes (writer thread only)

    /// Begins the write transaction. Only the ``Writer`` (and tests of thread affinity) call this.
    package func beginWriteTransaction() throws(LMDBError) -> WriteTransaction {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(handle, nil, 0, &txn), "mdb_txn_begin(write)")
        return WriteTransaction(handle: txn!, counters: counters, stages: stages)
    }

    /// Grows the map to at least `minimum` bytes with every reader quiesced. Call only with no
    /// write transaction open (the writer aborts its transaction first).
    package func growMap() throws {
        let current = mapSize
        let step = min(current, options.maxGrowthStep)
        let target = Environment.roundToPage(current + max(step, 1 << 20))
        resizing.add(1, ordering: .relaxed)
        defer { resizing.subtract(1, ordering: .relaxed) }
        try gate.quiesce { pooled in
            for transaction in pooled { mdb_txn_abort(transaction) }
            options.mapGrowing?()
            try lmdbCheck(mdb_env_set_mapsize(handle, target), "mdb_env_set_mapsize(\(target))")
        }
        resizes.add(1, ordering: .relaxed)
    }

    /// Flushes buffers to disk (`mdb_env_sync`), for the relaxed and journaled sync modes.
    package func sync() throws(LMDBError) {
        try lmdbCheck(mdb_env_sync(handle, 1), "mdb_env_sync")
    }

    /// Turns `MDB_NOSYNC` on or off.
    func setNoSync(_ on: Bool) throws(LMDBError) {
        try lmdbCheck(mdb_env_set_flags(handle, UInt32(MDB_NOSYNC), on ? 1 : 0), "mdb_env_set_flags(NOSYNC)")
    }

    /// Begins a read transaction outside the reader gate: a checkpoint's pin.
    func beginPin() throws(LMDBError) -> OpaquePointer {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(pin)")
        return txn!
    }

    /// Clears reader slots of dead processes; returns how many.
    @discardableResult
    package func clearStaleReaders() -> Int {
        var dead: Int32 = 0
        _ = mdb_reader_check(handle, &dead)
        return Int(dead)
    }

    // MARK: Introspection

    /// `mdb_env_get_flags`.
    package var flags: UInt32 {
        var value: UInt32 = 0
        mdb_env_get_flags(handle, &value)
        return value
    }

    /// Current map size in bytes.
    package var mapSize: Int { info.mapSize }

    /// Map resizes this process has done or adopted.
    package var resizeCount: Int { resizes.load(ordering: .relaxed) }

    /// Whether a map resize is under way: readers of this process wait for it to finish.
    package var isResizing: Bool { resizing.load(ordering: .relaxed) > 0 }

    /// Most readers this process has had inside at once.
    package var peakConcurrentReaders: Int { gate.peakActive }

    /// Readers of this process inside right now.
    package var activeReaders: Int { gate.activeCount }

    package struct Info: Sendable {
        package var mapSize: Int
        package var usedBytes: Int
        package var pageSize: Int
        package var readersInUse: Int
        package var maxReaders: Int
    }

    package var info: Info {
        var i = MDB_envinfo()
        mdb_env_info(handle, &i)
        var s = MDB_stat()
        mdb_env_stat(handle, &s)
        return Info(
            mapSize: i.me_mapsize, usedBytes: (i.me_last_pgno + 1) * Int(s.ms_psize), pageSize: Int(s.ms_psize),
            readersInUse: Int(i.me_numreaders), maxReaders: Int(i.me_maxreaders))
    }

    /// Copies the environment, consistent as of one read transaction, into the existing empty
    /// directory `path` (`mdb_env_copy2`; `compact` leaves free pages out). Holds a reader slot
    /// throughout, so the map is not resized under the copy.
    package func copy(to path: String, compact: Bool) throws {
        try read { _ in
            try lmdbCheck(mdb_env_copy2(handle, path, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2(\(path))")
        }
    }

    /// Closes the environment. The caller must have stopped the writer and all readers.
    package func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        gate.quiesce { pooled in for transaction in pooled { mdb_txn_abort(transaction) } }
        if let recovery = journalRecovery, let pin = recovery.pin {
            mdb_txn_abort(pin)  // an open that failed before its writer started
            recovery.pin = nil
        }
        mdb_env_close(handle)
        if lockDescriptor >= 0 { Environment.releaseWriterLock(lockDescriptor) }
    }

    /// Unlocks before closing: a child forked by another thread (a `Process` about to `exec`)
    /// shares the open file description, and `close` alone would leave the `flock` held until
    /// that child execs, so an immediate reopen could see `writerLocked`. `LOCK_UN` releases the
    /// lock on the description itself.
    private static func releaseWriterLock(_ descriptor: Int32) {
        _ = flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
    }

    static func roundToPage(_ size: Int) -> Int {
        let page = 4096
        return (size + page - 1) / page * page
    }
}
