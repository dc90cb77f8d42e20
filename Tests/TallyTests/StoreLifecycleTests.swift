import Foundation
import Testing

@_spi(RawLog) @testable import Tally
@testable import TallyLMDB

@Suite struct StoreLifecycleTests {
    @Test func aNewStoreIsStampedWithTheFormatVersionAndReopens() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Tally.open(directory: directory.path).close()
        let store = try Tally.open(directory: directory.path)
        defer { store.close() }
        #expect(try store.statistics().formatVersion == StoreLayout.formatVersion)
        #expect(try store.read { try $0.lsn } == .zero)
    }

    @Test func aStoreOfAnotherFormatIsRefusedWithAClearError() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        let meta = store.databases.meta
        try await store.write { txn in try txn.put(meta, MetaKey.formatVersion, BigEndian.bytes(UInt32(99))) }
        store.close()
        #expect {
            try Tally.open(directory: directory.path)
        } throws: { error in
            guard let error = error as? TallyError else { return false }
            return error.code == .unsupportedFormat && error.message.contains("format 99")
        }
    }

    @Test func aSecondWriterIsRefusedButAReaderIsNot() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        defer { store.close() }
        #expect { try Tally.open(directory: directory.path) } throws: { ($0 as? TallyError)?.code == .storeBusy }
    }

    /// A child forked by another thread shares the lock's open file description until it execs;
    /// `dup` makes the same sharing deterministic. Closing the store must still free it at once.
    @Test func closingFreesTheWriterLockEvenWhileAForkedChildSharesIt() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        let shared = try #require(Self.descriptor(of: directory.path + "/tally.lock"))
        let child = dup(shared)
        #expect(child >= 0)
        defer { Glibc.close(child) }
        store.close()
        let reopened = try Tally.open(directory: directory.path)
        reopened.close()
    }

    /// The descriptor this process holds on `path`, found through /proc/self/fd.
    private static func descriptor(of path: String) -> Int32? {
        let target = (path as NSString).resolvingSymlinksInPath
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for entry in entries {
            guard let fd = Int32(entry),
                let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")
            else { continue }
            if link == target || link == path { return fd }
        }
        return nil
    }

    @Test func readOnlyOpenOfAMissingStoreSaysSo() {
        var options = Tally.Options()
        options.access = .readOnly
        #expect {
            try Tally.open(directory: NSTemporaryDirectory() + "no-such-store-\(UUID())", options: options)
        } throws: { ($0 as? TallyError)?.code == .storeNotFound }
    }

    @Test func writesToAReadOnlyHandleAreRefused() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try Tally.open(directory: directory.path).close()
        var options = Tally.Options()
        options.access = .readOnly
        let reader = try Tally.open(directory: directory.path, options: options)
        defer { reader.close() }
        await #expect { try await reader.appendRawRecords([[1]]) } throws: {
            ($0 as? TallyError)?.code == .openedReadOnly
        }
    }
}

@Suite struct RawLogTests {
    @Test func concurrentAppendsGetDenseLSNsAndSurviveReopen() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        let ranges = try await withThrowingTaskGroup(of: LSNRange.self) { group in
            for producer in 0..<8 {
                group.addTask {
                    var ranges: [LSNRange] = []
                    for n in 0..<25 {
                        let records = (0...(n % 3)).map { Array("\(producer)-\(n)-\($0)".utf8) }
                        ranges.append(try await store.appendRawRecords(records))
                    }
                    return ranges.first!
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(ranges.count == 8)
        let expected = 8 * (0..<25).reduce(0) { $0 + ($1 % 3) + 1 }
        #expect(try store.read { try $0.lsn } == LSN(UInt64(expected)))
        store.close()

        let reopened = try Tally.open(directory: directory.path)
        defer { reopened.close() }
        var seen: [LSN] = []
        try reopened.read { snapshot in
            try snapshot.forEachRawRecord { lsn, _ in
                seen.append(lsn)
                return true
            }
        }
        #expect(seen == (1...UInt64(expected)).map { LSN($0) }, "LSNs are dense, in order, from 1")
    }

    @Test func oneRequestBecomesVisibleAtOnce() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        defer { store.close() }
        let range = try await store.appendRawRecords((0..<100).map { [UInt8($0)] })
        #expect(range.count == 100)
        #expect(range.first == LSN(1) && range.last == LSN(100))
        try store.read { snapshot throws in
            #expect(try snapshot.lsn == LSN(100))
            #expect(try snapshot.rawRecord(at: LSN(57)) == [56])
        }
        await #expect { try await store.appendRawRecords([]) } throws: { ($0 as? TallyError)?.code == .invalidArgument }
    }

    @Test func theRelaxedModeStillAcknowledgesAndPersists() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .milliseconds(10))
        let store = try Tally.open(directory: directory.path, options: options)
        _ = try await store.appendRawRecords([[1], [2]])
        store.close()
        let reopened = try Tally.open(directory: directory.path)
        defer { reopened.close() }
        #expect(try reopened.read { try $0.lsn } == LSN(2))
    }
}
