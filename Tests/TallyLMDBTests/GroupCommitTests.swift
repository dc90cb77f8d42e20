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

    @Test func theCommitObserverReportsEveryCommittedRequestAndItsCostOnce() async throws {
        let store = try TestStore()
        defer { store.close() }
        let reports = Mutex<[CommitTiming]>([])
        store.writer.observeCommits { timing in reports.withLock { $0.append(timing) } }
        let hold = store.writer.hold()
        let data = store.data
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<10 {
                group.addTask {
                    _ = try await store.writer.write(cost: i + 1) { txn in try txn.put(data, Array("k\(i)".utf8), [1]) }
                }
            }
            // One request that throws before writing fails alone and is not reported.
            group.addTask {
                await #expect(throws: Refusal.self) {
                    _ = try await store.writer.write { _ -> Void in throw Refusal() }
                }
            }
            #expect(await eventually(seconds: 120) { store.writer.pendingCount == 11 })
            hold.release()
            try await group.waitForAll()
        }
        store.writer.observeCommits(nil)
        _ = try await store.put("after", [2])
        let seen = reports.withLock { $0 }
        #expect(!seen.isEmpty)
        #expect(seen.map(\.requests).reduce(0, +) == 10, "\(seen)")
        #expect(seen.map(\.cost).reduce(0, +) == 55, "the costs 1…10, each counted once")
        #expect(seen.allSatisfy { $0.commit > .zero && $0.apply > .zero })
    }

    private struct Refusal: Error {}
}
