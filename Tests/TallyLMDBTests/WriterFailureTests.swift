import CLMDB
import Testing

@testable import TallyLMDB

struct Refusal: Error, Equatable {}

@Suite struct WriterFailureTests {
    @Test func aRequestThatThrowsBeforeWritingFailsAloneInItsGroup() async throws {
        let store = try TestStore()
        defer { store.close() }
        let data = store.data
        let hold = store.writer.hold()
        let good1 = Task { try await store.put("a", [1]) }
        let bad = Task { () async throws -> Void in _ = try await store.writer.write { _ in throw Refusal() } }
        let good2 = Task { try await store.put("b", [2]) }
        #expect(await eventually { store.writer.pendingCount == 3 })
        hold.release()
        _ = try await (good1.value, good2.value)
        await #expect(throws: Refusal.self) { try await bad.value }
        #expect(try store.value("a") == [1])
        #expect(try store.value("b") == [2])
        _ = data
    }

    @Test func aRequestThatThrowsAfterWritingLeavesNothingAndTheOthersCommit() async throws {
        let store = try TestStore()
        defer { store.close() }
        let data = store.data
        let hold = store.writer.hold()
        let good1 = Task { try await store.put("a", [1]) }
        let bad = Task { () async throws -> Void in
            _ = try await store.writer.write { txn in
                try txn.put(data, Array("half".utf8), [9])
                throw Refusal()
            }
        }
        let good2 = Task { try await store.put("b", [2]) }
        #expect(await eventually { store.writer.pendingCount == 3 })
        hold.release()
        _ = try await (good1.value, good2.value)
        await #expect(throws: Refusal.self) { try await bad.value }
        #expect(try store.value("half") == nil, "a failed request's partial write must be rolled back")
        #expect(try store.value("a") == [1])
        #expect(try store.value("b") == [2])
    }

    @Test func anOversizedKeyFailsOnlyItsRequest() async throws {
        let store = try TestStore()
        defer { store.close() }
        let data = store.data
        let hold = store.writer.hold()
        let good = Task { try await store.put("ok", [1]) }
        let bad = Task { () async throws -> Void in
            _ = try await store.writer.write { txn in try txn.put(data, [UInt8](repeating: 1, count: 512), [1]) }
        }
        #expect(await eventually { store.writer.pendingCount == 2 })
        hold.release()
        _ = try await good.value
        await #expect { try await bad.value } throws: { ($0 as? LMDBError)?.isBadSize == true }
        #expect(try store.value("ok") == [1])
        #expect(try store.count() == 1)
    }

    @Test func aFailedCommitTurnsTheWriterReadOnlyWithoutRetry() async throws {
        let store = try TestStore()
        defer { store.close() }
        try await store.put("before", [1])
        store.writer.injectCommitFailure(status: 5)  // EIO
        await #expect(throws: WriterError.readOnly(cause: LMDBError(status: 5, operation: "mdb_txn_commit (injected)")))
        {
            try await store.put("lost", [2])
        }
        await #expect { try await store.put("after", [3]) } throws: { error in
            if case .readOnly = error as? WriterError { return true }
            return false
        }
        #expect(store.writer.readOnlyCause?.status == 5)
        // Reads still work and see exactly the durable state.
        #expect(try store.value("before") == [1])
        #expect(try store.value("lost") == nil)
        #expect(try store.value("after") == nil)
    }

    @Test func aFullQueueRefusesInsteadOfQueueingWithoutBound() async throws {
        let store = try TestStore { $0.maxPendingWrites = 2 }
        defer { store.close() }
        let hold = store.writer.hold()
        let first = Task { try await store.put("a", [1]) }
        async let second = store.put("b", [2])
        #expect(await eventually { store.writer.pendingCount == 2 })
        await #expect(throws: WriterError.overloaded(pending: 2)) { try await store.put("c", [3]) }
        hold.release()
        _ = try await (first.value, second.value)
        #expect(try store.count() == 2)
    }

    /// The queue is bounded by its summed cost too (an ingest request's events), so a few huge
    /// requests cannot queue without bound; one alone is taken whatever its cost.
    @Test func aQueueFullOfCostRefusesTooButTakesAnyRequestAlone() async throws {
        let store = try TestStore { $0.maxPendingCost = 4 }
        defer { store.close() }
        let hold = store.writer.hold()
        let huge = Task { try await store.put("huge", [1], cost: 10) }  // alone: taken
        #expect(await eventually { store.writer.pendingCount == 1 })
        await #expect(throws: WriterError.overloaded(pending: 1)) { try await store.put("more", [2], cost: 1) }
        hold.release()
        _ = try await huge.value
        let hold2 = store.writer.hold()
        let three = Task { try await store.put("three", [3], cost: 3) }
        #expect(await eventually { store.writer.pendingCount == 1 })
        let one = Task { try await store.put("one", [4], cost: 1) }  // 3 + 1 = 4: fits
        #expect(await eventually { store.writer.pendingCount == 2 })
        await #expect(throws: WriterError.overloaded(pending: 2)) { try await store.put("two", [5], cost: 1) }
        hold2.release()
        _ = try await (three.value, one.value)
        #expect(try store.count() == 3)
    }

    @Test func closeCommitsWhatIsQueuedThenRefuses() async throws {
        let store = try TestStore()
        let hold = store.writer.hold()
        let queued = Task { try await store.put("q", [1]) }
        #expect(await eventually { store.writer.pendingCount == 1 })
        hold.release()
        store.writer.close()
        _ = try await queued.value
        await #expect(throws: WriterError.closed) { try await store.put("late", [1]) }
        #expect(try store.value("q") == [1])
        store.close()
    }
}
