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
        let pageSize = checkpoint.metaPages.count / 2
        let current = try? MetaPages.read(directory, pageSize: pageSize)
        let clean = current == checkpoint.metaPages && last == checkpoint.covered
        if !clean { try MetaPages.restore(directory, checkpoint.metaPages) }
        return JournalRecovery(checkpoint: checkpoint, records: records, lastSequence: last, restored: !clean)
    }
}
