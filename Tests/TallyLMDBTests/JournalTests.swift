import CLMDB
import Foundation
import Testing

@testable import TallyLMDB

/// The journal's records, and the writer's use of it in the journaled mode.
@Suite struct JournalTests {
    static func journaled(_ options: inout EnvironmentOptions) {
        options.sync = .journaled(checkpointInterval: .seconds(3600))
    }

    /// Puts `key` through the writer with a journal entry naming it.
    static func put(_ store: TestStore, _ key: String) async throws {
        let data = store.data
        _ = try await store.writer.write(journal: Array(key.utf8)) { txn in try txn.put(data, Array(key.utf8), [1]) }
    }

    @Test func recordsReadBackInOrderAcrossBothFilesAndATornTailEndsThem() throws {
        let directory = NSTemporaryDirectory() + "tally-journal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try Journal(directory: directory, id: 77, file: 1, after: 10)
        #expect(try journal.append(entries: [[1], [2, 3]]) == 11)
        #expect(try journal.append(entries: [[4]]) == 12)
        journal.switchFile()  // a checkpoint began after 12 and did not finish
        #expect(try journal.append(entries: [[5]]) == 13)
        try journal.cancel(13)
        #expect(try journal.append(entries: [Array(repeating: 6, count: 3000)]) == 15)
        let tornAt = journal.offset
        #expect(try journal.append(entries: [[7]]) == 16)
        journal.close()

        var (records, last) = Journal.records(directory: directory, id: 77, file: 1, after: 10)
        #expect(records.map(\.sequence) == [11, 12, 15, 16], "13 was cancelled")
        #expect(records.first?.entries == [[1], [2, 3]])
        #expect(last == 16)
        // A checkpoint covering 12 (next records in file 0) reads from there only.
        #expect(Journal.records(directory: directory, id: 77, file: 0, after: 12).records.map(\.sequence) == [15, 16])
        // Another run's records (another id) are not this run's, whatever their sequence.
        #expect(Journal.records(directory: directory, id: 78, file: 1, after: 10).records.isEmpty)

        // Damage one byte of the last record: it and nothing else is dropped.
        let fd = open(Journal.path(directory, file: 0), O_RDWR)
        var byte: UInt8 = 0xFF
        _ = pwrite(fd, &byte, 1, off_t(tornAt + Journal.headerSize + 2))
        close(fd)
        (records, last) = Journal.records(directory: directory, id: 77, file: 1, after: 10)
        #expect(records.map(\.sequence) == [11, 12, 15])
        #expect(last == 15)
    }

    @Test func aGroupWhoseCommitFailedAfterItsJournalFlushIsNotReplayed() async throws {
        let store = try TestStore(Self.journaled)
        defer { try? FileManager.default.removeItem(atPath: store.directory) }
        try await Self.put(store, "kept")
        store.writer.injectCommitFailure(status: 5)  // EIO
        await #expect(throws: WriterError.self) { try await Self.put(store, "lost") }
        #expect(store.writer.readOnlyCause?.status == 5)
        store.writer.close()
        store.environment.close()

        let reopened = try Environment.open(
            path: store.directory, options: store.environment.options, databases: [DatabaseSpec("data")])
        defer { reopened.close() }
        let recovery = try #require(reopened.journalRecovery)
        #expect(recovery.records.map(\.entries) == [[Array("kept".utf8)]])
    }

    /// A group's record is flushed while the group is applied (or after, with the overlap off);
    /// either way the journal ends up holding exactly the requests that committed: a request that
    /// failed after writing, or was refused, withdraws the record in flight (a cancel record)
    /// before the group is applied again.
    @Test(arguments: [true, false])
    func aGroupJournalsExactlyTheRequestsItCommits(overlap: Bool) async throws {
        let store = try TestStore {
            Self.journaled(&$0)
            $0.overlapJournalFlush = overlap
        }
        defer { store.close() }
        let data = store.data
        let hold = store.writer.hold()
        // Queued one by one, so the group applies them in this order.
        let kept1 = Task { try await Self.put(store, "a") }
        #expect(await eventually { store.writer.pendingCount == 1 })
        let refused = Task { () async throws -> Void in
            _ = try await store.writer.write(journal: Array("b".utf8)) { _ in throw Refusal() }
        }
        #expect(await eventually { store.writer.pendingCount == 2 })
        let failed = Task { () async throws -> Void in
            _ = try await store.writer.write(journal: Array("c".utf8)) { txn in
                try txn.put(data, Array("c".utf8), [1])
                throw Refusal()
            }
        }
        #expect(await eventually { store.writer.pendingCount == 3 })
        let kept2 = Task { try await Self.put(store, "d") }
        #expect(await eventually { store.writer.pendingCount == 4 })
        hold.release()
        _ = try await (kept1.value, kept2.value)
        await #expect(throws: Refusal.self) { try await refused.value }
        await #expect(throws: Refusal.self) { try await failed.value }
        #expect(try store.value("a") == [1] && store.value("d") == [1])
        #expect(try store.value("c") == nil)

        let journal = try #require(store.writer.journaled?.journal)
        let (records, _) = Journal.records(directory: store.directory, id: journal.id, file: journal.file, after: 0)
        #expect(records.map(\.entries) == [[Array("a".utf8), Array("d".utf8)]], "recovery would redo these alone")
        // With the overlap, the first two attempts' records were cancelled: five records in all.
        #expect(journal.lastSequence == (overlap ? 5 : 1))
    }

    /// A checkpoint that runs four intervals or more holds the writer back when the next is due
    /// (``JournaledDurability/lagIntervals``): past that, the pinned file would grow by every page
    /// the writer writes. Here the checkpoint thread is held inside its write-back.
    @Test func theWriterWaitsForACheckpointThatFellBehind() async throws {
        let gate = CheckpointGate()
        let store = try TestStore {
            $0.sync = .journaled(checkpointInterval: .milliseconds(20))
            $0.checkpointWriting = { gate.pass() }
            // Nothing else wakes an idle writer: a due checkpoint must start by its own deadline.
            $0.staleReaderCheckInterval = .seconds(3600)
        }
        defer {
            gate.open()
            store.close()
        }
        try await Self.put(store, "first")
        // The idle writer starts a checkpoint an interval after the first commit; it stops in the gate.
        #expect(await eventually(seconds: 60) { gate.entered == 1 })
        try await Task.sleep(for: .milliseconds(100))  // past four intervals
        try await Self.put(store, "second")  // commits; a checkpoint is due and the last one lags
        let third = Task { try await Self.put(store, "third") }
        try await Task.sleep(for: .milliseconds(300))
        #expect(store.writer.pendingCount == 1, "the writer waits for the checkpoint before its next group")
        #expect(try store.value("third") == nil)
        gate.open()
        try await third.value
        #expect(try store.value("third") == [1])
        #expect(await eventually { gate.entered >= 2 }, "the next checkpoint started once the last one ended")
    }

    @Test func theMapGrowsWhileACheckpointIsPinned() async throws {
        let store = try TestStore {
            Self.journaled(&$0)
            $0.mapSize = 1 << 20
        }
        for index in 0..<3000 { try await Self.put(store, "key-\(index)-" + String(repeating: "x", count: 100)) }
        #expect(store.writer.mapGrowths > 0)
        #expect(try store.count() == 3000)
        store.close()
    }

    @Test func unjournaledWritesAreCheckpointedBeforeTheyResolve() async throws {
        let store = try TestStore(Self.journaled)
        defer { store.close() }
        let checkpointBefore = try #require(try Checkpoint.load(store.directory))
        try await store.put("definitions-like", [1])  // no journal entry
        let checkpointAfter = try #require(try Checkpoint.load(store.directory))
        #expect(checkpointAfter.metaPages != checkpointBefore.metaPages, "a checkpoint was taken")
        let onDisk = try MetaPages.read(store.directory, pageSize: store.environment.info.pageSize)
        #expect(onDisk == checkpointAfter.metaPages, "data.mdb's meta is the checkpoint's")
    }
}

/// Holds the checkpoint thread (``EnvironmentOptions/checkpointWriting``) until opened.
final class CheckpointGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false
    private var count = 0

    /// Checkpoints that reached the gate.
    var entered: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Called on the checkpoint thread: waits while the gate is shut.
    func pass() {
        condition.lock()
        count += 1
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}
