import Foundation
import Synchronization
import Testing

@_spi(Testing) @testable import Tally

/// The writes a writable open makes before its writer starts (a backfill of new views, a resumed
/// change, the rebuild of states in an older layout) reuse freed pages as any other writes do.
/// A journaled store's open used to hold the pin on its last checkpoint through them, so no page
/// they freed could be reused and the file grew by every page they wrote (4.7 GB for the rebuild
/// of one view on a 1M-event store).
@Suite struct OpenBackfillSpaceTests {
    static let added =
        ViewFixture.definitionsText
        + "\n  added_high: { entity: card, from: auth, aggregate: max(amount), window: 2h }\n"

    /// Fills a store in `durability`, reopens it with a view added (backfilled at the open in
    /// chunks of 1 event) and returns how many bytes the open added to the store.
    static func growthOfAnOpenThatBackfills(_ durability: Durability) async throws -> Int {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = JournaledDurabilityTests.options(checkpointEvery: .seconds(3600))
        options.durability = durability
        let store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        let accepted = try await JournaledDurabilityTests.ingest(
            store, requests: 120, perRequest: 9, start: 1_799_999_000_000, run: "a")
        #expect(accepted == 120 * 9)
        let before = try store.statistics().usedBytes
        store.close()
        options.openBackfillChunk = 1
        let reopened = try Tally.open(
            directory: directory.path, definitions: try DefinitionsLoader.load(text: added), options: options)
        defer { reopened.close() }
        let vector = try reopened.read { snapshot in
            try snapshot.vector(entity: "card", key: "c1", at: snapshot.token(at: 1_799_999_000_000 + 40_000))
        }
        #expect(vector[view: "added_high"].map { $0 != .null } == true, "the added view was backfilled")
        return try reopened.statistics().usedBytes - before
    }

    @Test func aJournaledStoresOpenReusesThePagesItsBackfillFrees() async throws {
        let durable = try await Self.growthOfAnOpenThatBackfills(.durable)
        let journaled = try await Self.growthOfAnOpenThatBackfills(.journaled(checkpointInterval: .seconds(3600)))
        // 1,080 chunk commits each copy a path of pages; kept from reuse they add a megabyte or more.
        #expect(journaled <= durable + (128 << 10), "journaled open grew \(journaled) B, durable \(durable) B")
    }

    @Test func anOpensBackfillReportsItsProgressUntilServed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = JournaledDurabilityTests.options(checkpointEvery: .seconds(3600))
        let store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        let accepted = try await JournaledDurabilityTests.ingest(
            store, requests: 30, perRequest: 9, start: 1_799_999_000_000, run: "p")
        let head = try store.read { try $0.lsn }
        store.close()
        let reports = Mutex<[DefinitionsProgress]>([])
        options.openBackfillChunk = 100
        options.openBackfillProgress = { progress in reports.withLock { $0.append(progress) } }
        let reopened = try Tally.open(
            directory: directory.path, definitions: try DefinitionsLoader.load(text: Self.added), options: options)
        defer { reopened.close() }
        let seen = reports.withLock { $0 }
        #expect(seen.count == (accepted + 99) / 100, "one report per transaction of 100 events")
        #expect(seen.allSatisfy { $0.version == 2 && $0.target == head })
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.next < $1.next && $0.replayedEvents < $1.replayedEvents })
        #expect(seen.last?.next == LSN(head.rawValue + 1) && seen.last?.replayedEvents == UInt64(accepted))
        #expect(reopened.definitionsChangeInProgress == nil, "served when the open returns")
    }
}
