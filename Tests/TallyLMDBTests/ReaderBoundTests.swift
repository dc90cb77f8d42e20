import Foundation
import Synchronization
import Testing

@testable import TallyLMDB

@Suite struct ReaderBoundTests {
    @Test func concurrentReadersNeverExceedTheBoundAndAllSucceed() async throws {
        let store = try TestStore { $0.maxConcurrentReaders = 3 }
        defer { store.close() }
        try await store.put("k", [7])
        let environment = store.environment
        let data = store.data
        let successes = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<24 {
            group.enter()
            Thread {
                for _ in 0..<20 {
                    let ok = try? environment.read { txn -> Bool in
                        usleep(500)  // hold the snapshot so readers pile up at the gate
                        return try txn.value(data, Array("k".utf8)) == [7]
                    }
                    if ok == true { successes.add(1, ordering: .relaxed) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(successes.load(ordering: .relaxed) == 24 * 20)
        #expect(environment.peakConcurrentReaders <= 3)
        #expect(environment.peakConcurrentReaders >= 2, "the test did not create contention")
    }
}
