import Foundation
import Synchronization
import Testing

@testable import TallyLMDB

@Suite struct MapGrowthTests {
    /// Values are 2 KiB filled with the low byte of their index, so a reader can tell a torn or
    /// dangling read from a good one.
    static func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 2048) }
    static func key(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) } }

    @Test func growsFromATinyMapAcrossResizesWhileFourReadersRead() async throws {
        let store = try TestStore { $0.mapSize = 256 << 10 }
        defer { store.close() }
        let data = store.data
        let environment = store.environment
        let stop = Atomic<Bool>(false)
        let reads = Atomic<Int>(0)
        let violations = Atomic<Int>(0)
        let finished = Atomic<Int>(0)

        let readers = (0..<4).map { _ in
            let thread = Thread {
                defer { finished.add(1, ordering: .relaxed) }
                while !stop.load(ordering: .relaxed) {
                    do {
                        try environment.read { txn in
                            let count = try txn.entryCount(data)
                            guard count > 0 else { return }
                            // The newest and a middle record must be whole in this snapshot.
                            for i in [count - 1, count / 2] {
                                let stored = try txn.value(data, Self.key(i))
                                if stored != Self.value(i) { violations.add(1, ordering: .relaxed) }
                            }
                        }
                        reads.add(1, ordering: .relaxed)
                    } catch {
                        violations.add(1, ordering: .relaxed)
                    }
                    // A pause between snapshots: four readers spinning on 2 cores starved the
                    // writer (and the rest of the suite), which made them spin longer still.
                    usleep(200)
                }
            }
            thread.start()
            return thread
        }

        var next = 0
        while store.environment.resizeCount < 4 || next < 4000 {
            let start = next
            try await store.writer.write(cost: 50) { txn in
                for i in start..<(start + 50) { try txn.put(data, Self.key(i), Self.value(i)) }
            }
            next += 50
            #expect(next < 200_000, "the map never grew")
            if next >= 200_000 { break }
        }
        let readsDuringGrowth = reads.load(ordering: .relaxed)
        stop.store(true, ordering: .relaxed)
        // Every reader has left its loop before the store closes (a reader paused between its
        // check of `stop` and its read would otherwise read a closed environment).
        let deadline = ContinuousClock.now + .seconds(120)
        while finished.load(ordering: .relaxed) < readers.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(finished.load(ordering: .relaxed) == readers.count, "the readers did not stop")

        #expect(store.environment.resizeCount >= 3)
        #expect(store.writer.mapGrowths >= 3)
        #expect(violations.load(ordering: .relaxed) == 0)
        #expect(readsDuringGrowth > 0)
        #expect(try store.count() == next)
        #expect(store.environment.mapSize > 256 << 10)
    }
}
