import Synchronization
import Testing

@testable import TallyLMDB

@Suite struct GroupCommitTests {
    @Test func hundredWritesQueuedBehindAHeldWriterCommitInAtMostTwoTransactions() async throws {
        let store = try TestStore()
        defer { store.close() }
        let before = store.writer.committedTransactions
        let hold = store.writer.hold()

        let observed = try await withThrowingTaskGroup(of: (UInt64, UInt64).self) { group in
            for i in 0..<100 {
                group.addTask {
                    let committed = try await store.put("key-\(i)", [UInt8(i)])
                    // What the writer has durably committed at the moment this caller resumed.
                    return (committed.commitSequence, store.writer.committedTransactions)
                }
            }
            // Generous: under the full suite, other tests' blocking process waits can hold the two
            // cooperative threads for seconds before these 100 tasks get to enqueue.
            #expect(
                await eventually(seconds: 120) { store.writer.pendingCount == 100 },
                "all 100 writes queue behind the hold")
            #expect(store.writer.committedTransactions == before, "nothing commits while the writer is held")
            hold.release()
            var results: [(UInt64, UInt64)] = []
            for try await result in group { results.append(result) }
            return results
        }

        #expect(observed.count == 100)
        let commits = store.writer.committedTransactions - before
        #expect(commits >= 1 && commits <= 2, "100 queued writes took \(commits) commits")
        for (sequence, durableAtResume) in observed {
            #expect(sequence > before, "every write reports the commit that holds it")
            #expect(durableAtResume >= sequence, "a caller resumed before its commit \(sequence) was done")
        }
        #expect(try store.count() == 100)
    }

    @Test func writesFromManyProducersAllLandAndShareCommits() async throws {
        let store = try TestStore()
        defer { store.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<16 {
                group.addTask {
                    for n in 0..<50 { try await store.put("p\(producer)-\(n)", [1]) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.count() == 800)
        #expect(store.writer.committedTransactions <= 800)
    }
}
