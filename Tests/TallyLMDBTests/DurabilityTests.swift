import CLMDB
import Testing

@testable import TallyLMDB

@Suite struct DurabilityTests {
    @Test func defaultModeSyncsEveryCommit() throws {
        let store = try TestStore()
        defer { store.close() }
        let flags = store.environment.flags
        #expect(flags & UInt32(MDB_NOSYNC) == 0)
        #expect(flags & UInt32(MDB_NOMETASYNC) == 0)
        #expect(flags & UInt32(MDB_MAPASYNC) == 0)
        #expect(flags & UInt32(MDB_NOTLS) != 0, "read transactions must not be bound to threads")
    }

    @Test func relaxedModeSkipsSyncOnCommitAndStillPersists() async throws {
        let store = try TestStore { $0.sync = .relaxed(flushInterval: .milliseconds(20)) }
        defer { store.close() }
        #expect(store.environment.flags & UInt32(MDB_NOSYNC) != 0)
        try await store.put("a", [42])
        #expect(try store.value("a") == [42])
    }
}
