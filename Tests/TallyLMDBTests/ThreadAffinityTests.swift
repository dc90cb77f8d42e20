import Foundation
import Testing

@testable import TallyLMDB

@Suite struct ThreadAffinityTests {
    @Test func committingOffTheWriterThreadStopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            let directory = NSTemporaryDirectory() + "tally-affinity-\(UUID().uuidString)"
            var options = EnvironmentOptions()
            options.mapSize = 1 << 20
            let environment = try Environment.open(path: directory, options: options, databases: [DatabaseSpec("d")])
            // This child dies on the precondition and cannot clean up after: unlink the store now
            // (its open files and map stay usable) so no directory is left behind.
            try? FileManager.default.removeItem(atPath: directory)
            let txn = try environment.beginWriteTransaction()
            try txn.put(environment.database("d"), [1], [1])
            let done = DispatchSemaphore(value: 0)
            let transaction = UncheckedBox(txn)
            let other = Thread {
                try? transaction.value.commit()  // must trip the precondition: wrong thread
                done.signal()
            }
            other.start()
            done.wait()
        }
    }

    @Test func committingOnTheSameThreadIsFine() throws {
        let directory = NSTemporaryDirectory() + "tally-affinity-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = EnvironmentOptions()
        options.mapSize = 1 << 20
        let environment = try Environment.open(path: directory, options: options, databases: [DatabaseSpec("d")])
        defer { environment.close() }
        let txn = try environment.beginWriteTransaction()
        try txn.put(environment.database("d"), [1], [1])
        try txn.commit()
        #expect(try environment.read { try $0.value(environment.database("d"), [1]) } == [1])
    }
}

/// Moves a non-Sendable value to another thread on purpose (the misuse under test).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
