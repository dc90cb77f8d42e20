import Foundation
import Testing

@_spi(Testing) @testable import Tally
@testable import TallyLMDB

/// Where an entity's head (its newest LSN that changed a view) lives in `views`: after the
/// entity's states in a new store, before them in a store created by an older build. Reads decide
/// between state and recomputation by the head, so a head looked for in the wrong place would
/// serve an old token from current state.
@Suite struct ViewHeadTests {
    static let t0 = ViewSemanticsTests.t0

    /// Every `views` key of card `c1`, in key order.
    static func keys(_ store: Tally, card: String = "c1") throws -> [[UInt8]] {
        let entity = ViewStateKey.entity(.string(card))!
        return try store.read { s in
            var cursor = try s.transaction.openCursor(s.databases.views)
            defer { cursor.close() }
            var keys: [[UInt8]] = []
            var entry = try entity.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            while let current = entry, ViewStateKey.hasPrefix(current.key, entity) {
                keys.append(Array(current.key))
                entry = try cursor.next()
            }
            return keys
        }
    }

    static func storedFormat(_ store: Tally) throws -> UInt32? {
        try store.read { s in
            try s.transaction.value(s.databases.meta, MetaKey.formatVersion).flatMap {
                $0.withUnsafeBytes(BigEndian.uint32)
            }
        }
    }

    static func storedHeadCode(_ store: Tally) throws -> UInt16 {
        try store.read { s in try ViewCodes.headCode(s.transaction, meta: s.databases.meta) }
    }

    /// Ingests three authorizations of `c1` (one per request) and checks reads at each LSN.
    static func ingestAndReadBack(_ store: Tally) async throws {
        for (index, amount) in ["10", "20", "40"].enumerated() {
            _ = try await store.ingest(
                ViewSemanticsTests.auth("h\(index)", Self.t0 + Int64(index), amount: amount))
        }
        let at = Self.t0 + 10
        let current = try ViewSemanticsTests.vector(store, at: at)
        #expect(current[view: "cnt_60s"] == .int(3))
        #expect(!current.recomputed)
        // The entity changed after LSN 1: a read at that token must recompute, not serve state.
        let old = try ViewSemanticsTests.vector(store, at: at, lsn: 1)
        #expect(old.recomputed)
        #expect(old[view: "cnt_60s"] == .int(1))
        #expect(old[view: "high_60s"] == .decimal(try ExactDecimal(parsing: "10")))
    }

    @Test func aNewStoreKeepsEachHeadAfterTheEntitysStates() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try ViewSemanticsTests.open(directory)
        defer { store.close() }
        #expect(try Self.storedHeadCode(store) == ViewStateKey.headAfterStates)
        try await Self.ingestAndReadBack(store)
        let keys = try Self.keys(store)
        let entity = ViewStateKey.entity(.string("c1"))!
        #expect(keys.last == entity + [0xFF, 0xFF], "the head sorts last")
        #expect(!keys.contains(entity + [0, 0]))
        #expect(keys.count > 3, "the entity has state besides its head")
    }

    @Test func aFormatThreeStoreKeepsItsHeadsBeforeTheStates() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store = try ViewSemanticsTests.open(directory)
        // A store created before heads sorted last: format 3, no head code in `meta`.
        let meta = store.databases.meta
        try await store.write { txn in
            _ = try txn.delete(meta, MetaKey.viewHeadCode)
            try txn.put(meta, MetaKey.formatVersion, BigEndian.bytes(UInt32(3)))
        }
        store.close()
        // Read-only, this build opens it as it is; a writable open stamps format 4 and changes
        // nothing else.
        var options = Tally.Options()
        options.access = .readOnly
        let reader = try Tally.open(directory: directory.path, options: options)
        #expect(try Self.storedFormat(reader) == 3)
        #expect(try reader.statistics().formatVersion == 3, "tally stats shows the stored format")
        reader.close()
        store = try ViewSemanticsTests.open(directory)
        defer { store.close() }
        #expect(try Self.storedFormat(store) == StoreLayout.formatVersion)
        #expect(try store.statistics().formatVersion == StoreLayout.formatVersion)
        #expect(try Self.storedHeadCode(store) == ViewStateKey.headBeforeStates)
        try await Self.ingestAndReadBack(store)
        let keys = try Self.keys(store)
        let entity = ViewStateKey.entity(.string("c1"))!
        #expect(keys.first == entity + [0, 0], "the head sorts first")
        #expect(!keys.contains(entity + [0xFF, 0xFF]))
    }
}
