import CLMDB

/// The writer's half of the journaled mode: the journal it appends each group to before the group
/// commits, and the checkpoints that let the journal be reused (docs/STORAGE.md, "The journaled
/// mode"). Used on the writer thread only.
final class JournaledDurability {
    private let environment: Environment
    let journal: Journal
    private let checkpointer: Checkpointer
    private let interval: Duration
    /// Journal bytes after which a checkpoint starts even before `interval`.
    private let journalBytesPerCheckpoint = 64 << 20
    private var lastStart = ContinuousClock.now
    /// Commits since the last checkpoint started.
    private var commitsSinceCheckpoint = 0
    /// Appends records while the writer applies their groups (nil: the writer appends after the
    /// apply; ``EnvironmentOptions/overlapJournalFlush``).
    private let flusher: JournalFlusher?

    /// Makes the store's current state a durable checkpoint (replayed groups and open-time writes
    /// included), pins it, ends the pin recovery held (if the open did not settle it), and turns
    /// `MDB_NOSYNC` on.
    init(environment: Environment, interval: Duration) throws(LMDBError) {
        self.environment = environment
        self.interval = interval
        let recovery = environment.journalRecovery
        let pin = try environment.beginPin()
        do {
            let meta = try MetaPages.read(environment.path, pageSize: environment.info.pageSize)
            try environment.sync()
            let covered = recovery?.lastSequence ?? 0
            // A new journal id: whatever the files still hold is covered by this checkpoint.
            journal = try Journal(
                directory: environment.path, id: UInt64.random(in: 1...UInt64.max), file: 0, after: covered)
            try Checkpoint(covered: covered, nextFile: 0, journalID: journal.id, metaPages: meta).save(
                environment.path)
            try environment.setNoSync(true)
        } catch {
            mdb_txn_abort(pin)
            throw error
        }
        if let old = recovery?.pin {
            mdb_txn_abort(old)
            recovery?.pin = nil
        }
        checkpointer = Checkpointer(environment: environment, pin: pin)
        flusher = environment.options.overlapJournalFlush ? JournalFlusher(journal: journal) : nil
    }

    /// Makes `data.mdb` authoritative again after recovery replayed the journal, before the
    /// open's own writes (a backfill, a rebuild): flushes it, removes the checkpoint (a crash from
    /// here on needs no journal) and only then ends the pin, so the open's transactions reuse the
    /// pages they free instead of growing the file by every page they write. They commit durably
    /// (`MDB_NOSYNC` off) unless the store is opened `relaxed`; the writer then starts its own
    /// checkpoint (journaled) or finishes leaving the mode (``leave(_:recovery:)``).
    static func settle(_ environment: Environment, recovery: JournalRecovery) throws(LMDBError) {
        guard let pin = recovery.pin else { return }
        try environment.sync()
        try Checkpoint.remove(environment.path, keepingJournal: true)
        mdb_txn_abort(pin)
        recovery.pin = nil
        if case .relaxed = environment.options.sync { return }
        try environment.setNoSync(false)
    }

    /// A store opened in another mode after the journaled one: replayed groups are flushed into
    /// `data.mdb`, which becomes authoritative again, and the checkpoint and journal are removed.
    static func leave(_ environment: Environment, recovery: JournalRecovery) throws(LMDBError) {
        try settle(environment, recovery: recovery)  // nothing left to do once the open settled it
        try environment.sync()  // a relaxed store's open-time commits
        try Checkpoint.remove(environment.path)  // the journal files too
    }

    /// Appends a group's entries and flushes them; the group may commit after this returns.
    func append(_ entries: [[UInt8]]) throws(LMDBError) -> UInt64 {
        try journal.append(entries: entries)
    }

    /// The group journaled as `sequence` did not commit.
    func cancel(_ sequence: UInt64) {
        try? journal.cancel(sequence)
    }

    /// Starts appending a group's entries on the journal thread, so that the flush overlaps the
    /// group's apply; does nothing when this mode appends after the apply (``append(_:)``), as
    /// ``appendInFlight`` then says. Follow with ``finishAppend()`` before the group commits, or
    /// ``withdrawAppend()`` when it will not commit as journaled.
    func startAppend(_ entries: [[UInt8]]) {
        flusher?.start(entries)
    }

    /// Whether an append started with ``startAppend(_:)`` awaits ``finishAppend()`` or
    /// ``withdrawAppend()``.
    var appendInFlight: Bool { flusher?.inFlight ?? false }

    /// Waits for the append in flight; returns its record's sequence once it is on disk.
    func finishAppend() throws(LMDBError) -> UInt64 {
        guard let flusher else { preconditionFailure("no journal thread") }
        return try flusher.wait()
    }

    /// Waits for the append in flight and cancels its record, durably: the group it holds will
    /// not commit as it was journaled (a request failed or was refused, or the map must grow).
    /// Throws when the append or the cancel failed; the store must then turn read-only, since
    /// recovery could redo the record.
    func withdrawAppend() throws(LMDBError) {
        try journal.cancel(try finishAppend())
    }

    /// Call after every commit.
    func committed() { commitsSinceCheckpoint += 1 }

    /// When the next checkpoint is due, if commits are waiting for one.
    var nextDeadline: ContinuousClock.Instant? {
        commitsSinceCheckpoint > 0 ? lastStart + interval : nil
    }

    /// How long a checkpoint may run before the writer waits for it: `lagIntervals` intervals.
    static let lagIntervals = 4

    /// Starts a background checkpoint if one is due and none runs. When one is due while the
    /// last has run for ``lagIntervals`` intervals, waits for that one first: a checkpoint that
    /// falls behind the writer pins its snapshot's pages for longer, and `data.mdb` grows by
    /// every page the writer writes meanwhile. Throws the failure of an earlier checkpoint (the
    /// store must turn read-only).
    func startCheckpointIfDue() throws(LMDBError) {
        if let failure = checkpointer.lastFailure { throw failure }
        guard commitsSinceCheckpoint > 0 else { return }
        let running = ContinuousClock.now - lastStart
        guard running >= interval || journal.offset >= journalBytesPerCheckpoint else { return }
        if checkpointer.isBusy {
            guard running >= interval * Self.lagIntervals else { return }
            if let failure = checkpointer.waitUntilIdle() { throw failure }
        }
        try startCheckpoint()
    }

    /// Makes every commit so far durable in `data.mdb` before returning (writes that are not
    /// journaled, and close).
    func checkpointNow() throws(LMDBError) {
        if let failure = checkpointer.waitUntilIdle() { throw failure }
        guard commitsSinceCheckpoint > 0 else { return }
        try startCheckpoint()
        if let failure = checkpointer.waitUntilIdle() { throw failure }
    }

    /// Waits for the checkpoint in flight, then ends the checkpoint thread and the pin.
    func stop() {
        flusher?.stop()
        checkpointer.stop()
        journal.close()
    }

    /// Pins the snapshot just committed, copies its meta pages, sends later groups to the other
    /// journal file (whose records the finished checkpoint covers) and hands the rest to the
    /// checkpoint thread.
    private func startCheckpoint() throws(LMDBError) {
        let pin = try environment.beginPin()
        let meta: [UInt8]
        do {
            meta = try MetaPages.read(environment.path, pageSize: environment.info.pageSize)
        } catch {
            mdb_txn_abort(pin)
            throw error
        }
        journal.switchFile()
        let checkpoint = Checkpoint(
            covered: journal.lastSequence, nextFile: journal.file, journalID: journal.id, metaPages: meta)
        checkpointer.start(Checkpointer.Request(pin: pin, checkpoint: checkpoint))
        lastStart = .now
        commitsSinceCheckpoint = 0
    }
}

extension Environment {
    /// After recovery replayed the journal, before a writable open's own writes: see
    /// ``JournaledDurability/settle(_:recovery:)``. Does nothing without a checkpoint.
    package func settleJournalRecovery() throws(LMDBError) {
        guard let recovery = journalRecovery else { return }
        try JournaledDurability.settle(self, recovery: recovery)
    }
}
