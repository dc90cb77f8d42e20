import Glibc

/// What a writable open found of the journaled mode: the checkpoint, the journal groups after it
/// (to replay in order, each in one write transaction, before the writer starts), and the pin on
/// the checkpointed snapshot.
package final class JournalRecovery: @unchecked Sendable {
    let checkpoint: Checkpoint
    /// The groups after the checkpoint, cancelled ones left out.
    package let records: [JournalRecord]
    /// The last sequence in the journal; the next record must follow it.
    let lastSequence: UInt64
    /// Whether the meta pages were written back (the store had not been closed cleanly).
    package let restoredMetaPages: Bool
    /// The read transaction on the checkpointed snapshot, begun right after `mdb_env_open`.
    var pin: OpaquePointer?

    private init(checkpoint: Checkpoint, records: [JournalRecord], lastSequence: UInt64, restored: Bool) {
        self.checkpoint = checkpoint
        self.records = records
        self.lastSequence = lastSequence
        self.restoredMetaPages = restored
    }

    /// Before `mdb_env_open`: reads the checkpoint, if any, and the journal after it. Unless the
    /// store was closed cleanly (`data.mdb`'s meta pages equal the saved ones and no group follows
    /// the checkpoint), writes the saved meta pages back so LMDB opens the checkpointed snapshot.
    static func prepare(directory: String) throws -> JournalRecovery? {
        guard let checkpoint = try Checkpoint.load(directory) else { return nil }
        let (records, last) = Journal.records(
            directory: directory, id: checkpoint.journalID, file: checkpoint.nextFile, after: checkpoint.covered)
        let clean = metaPagesAreSaved(directory, checkpoint) && last == checkpoint.covered
        if !clean { try MetaPages.restore(directory, checkpoint.metaPages) }
        return JournalRecovery(checkpoint: checkpoint, records: records, lastSequence: last, restored: !clean)
    }

    /// Before a read-only `mdb_env_open`: refuses a journaled store that was not closed cleanly
    /// while no process writes it. After a power loss its `data.mdb` may hold a meta page whose
    /// tree never reached the disk; only a writable open (which recovers) may read it. Beside a
    /// running writer the store is served as usual.
    static func checkReadable(directory: String) throws {
        guard let checkpoint = try Checkpoint.load(directory) else { return }
        let lock = Glibc.open(directory + "/tally.lock", O_RDONLY | O_CLOEXEC)
        if lock >= 0 {
            defer { Glibc.close(lock) }
            guard flock(lock, LOCK_SH | LOCK_NB) == 0 else { return }  // a writer holds it
        }
        // Closed cleanly: the saved meta pages, and no record after the checkpoint (only the
        // first one is read: recovery, not this check, needs the rest).
        let clean =
            metaPagesAreSaved(directory, checkpoint)
            && !Journal.hasRecord(
                directory: directory, id: checkpoint.journalID, file: checkpoint.nextFile, after: checkpoint.covered)
        if !clean { throw EnvironmentError.needsRecovery(path: directory) }
    }

    /// Whether `data.mdb`'s meta pages are the ones `checkpoint` saved.
    private static func metaPagesAreSaved(_ directory: String, _ checkpoint: Checkpoint) -> Bool {
        (try? MetaPages.read(directory, pageSize: checkpoint.metaPages.count / 2)) == checkpoint.metaPages
    }
}
