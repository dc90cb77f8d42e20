import Foundation
import Testing

@_spi(Testing) @testable import Tally
@testable import TallyLMDB

/// The leveled id index (``IdIndex``): ids move from level to level as the store grows, and a
/// duplicate or a conflict is found wherever its id is.
@Suite struct IdIndexTests {
    /// Entries per level, counted by scanning `ids`, and the level record in `meta`.
    static func levels(_ store: Tally) async throws -> (scanned: [UInt64], recorded: [UInt64]) {
        let databases = store.databases
        return try await store.write { txn in
            var scanned = [UInt64](repeating: 0, count: IdIndexLevels.count)
            try txn.withCursor(databases.ids) { cursor in
                var entry = try cursor.first()
                while let current = entry {
                    #expect(current.key.count == IdIndex.keySize)
                    scanned[Int(current.key[0])] += 1
                    entry = try cursor.next()
                }
            }
            let recorded = try MetaKey.idIndexLevels.withUnsafeBytes { key in
                try txn.get(databases.meta, key).flatMap(IdIndexLevels.init(decoding:))
            }
            return (scanned, recorded?.entries ?? [])
        }
    }

    @Test func idsMoveThroughEveryLevelAndStayFoundAsDuplicatesAndConflicts() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        let base = clock.value
        // IngestFixture's id index has levels of 2, 20, 200 and 2,000 entries, then the rest.
        let store = try IngestFixture.open(directory, clock: clock)
        var sent: [String] = []
        var n = 0
        for size in [1, 7, 64, 500, 1, 1, 1, 900, 3, 1_000, 523] {
            var batch: [String] = []
            for _ in 0..<size {
                batch.append(IngestFixture.payment("id-\(n)", ts: base - 5_000 + Int64(n % 5_000)))
                n += 1
            }
            let result = try await store.ingest("[\(batch.joined(separator: ","))]")
            #expect(result.accepted == size)
            sent += batch
        }
        #expect(n == 3_001)
        var (scanned, recorded) = try await Self.levels(store)
        #expect(scanned == recorded, "the level record counts what each level holds")
        #expect(scanned.reduce(0, +) == 3_001)
        #expect(scanned.allSatisfy { $0 > 0 }, "every level holds ids: \(scanned)")
        #expect(scanned[0] < 2 + 1 && scanned[1] < 20 + 1 && scanned[2] < 200 + 1 && scanned[3] < 2_000 + 1)

        // Every id, wherever it is now: the same event is a duplicate, another payload a conflict.
        store.close()
        let reopened = try IngestFixture.open(directory, clock: clock)
        defer { reopened.close() }
        for chunk in stride(from: 0, to: sent.count, by: 700) {
            let slice = sent[chunk..<min(chunk + 700, sent.count)]
            let again = try await reopened.ingest("[\(slice.joined(separator: ","))]")
            #expect(again.duplicates == slice.count && again.accepted == 0)
            let changed = slice.map { $0.replacingOccurrences(of: #""amount":12.50"#, with: #""amount":13.50"#) }
            let conflicts = try await reopened.ingest("[\(changed.joined(separator: ","))]")
            #expect(conflicts.accepted == 0 && conflicts.duplicates == 0)
            #expect(conflicts.outcomes.allSatisfy { $0.rejectionCode == "conflict" })
        }
        #expect(try reopened.read { try $0.lsn } == LSN(3_001), "nothing resent was logged")
        (scanned, recorded) = try await Self.levels(reopened)
        #expect(scanned == recorded)
        #expect(scanned.reduce(0, +) == 3_001)
    }

    @Test func anEventRejectedAfterItsIdWasIndexedLeavesTheLevelCountsExact() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        // Inside one request: accepted, then a duplicate of it, then one past max_future.
        let now = clock.value
        let body = [
            IngestFixture.payment("a", ts: now), IngestFixture.payment("a", ts: now),
            IngestFixture.payment("b", ts: now + 3_600_000),
        ]
        let result = try await store.ingest("[\(body.joined(separator: ","))]")
        #expect(result.accepted == 1 && result.duplicates == 1 && result.rejected.count == 1)
        let (scanned, recorded) = try await Self.levels(store)
        #expect(scanned == recorded)
        #expect(scanned.reduce(0, +) == 1)
    }

    /// One single-event commit moves at most a chunk: when level 0's move pushes level 1 past its
    /// budget, level 1 moves in a later commit, not in the same one (a cascade through every level
    /// in one commit was the writer's longest apply in the small-commit benchmarks).
    @Test func aCascadeOfMovesIsSpreadOverSingleEventCommits() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        var options = Tally.Options()
        options.wallClock = { clock.value }
        options.idIndexLevelBase = 4  // levels of 4, 40, 400, 4,000, then the rest
        options.idIndexMoveChunk = 16  // more than a single insert's 8 moves
        let store = try Tally.open(directory: directory.path, definitions: IngestFixture.definitions, options: options)
        defer { store.close() }
        var before = [UInt64](repeating: 0, count: IdIndexLevels.count)  // no level record yet
        var largestMove = 0
        var commitsMovingFromLevel = [Int](repeating: 0, count: IdIndexLevels.count - 1)
        for n in 0..<900 {
            let result = try await store.ingest(IngestFixture.payment("id-\(n)", ts: clock.value - 1_000))
            #expect(result.accepted == 1)
            let after = try await Self.levels(store).recorded
            // What each level sent on: level 0 gained the new id; every other level gained what
            // the one above sent.
            var inflow: Int64 = 1
            var moved = 0
            for level in 0..<(IdIndexLevels.count - 1) {
                let outflow = inflow - (Int64(after[level]) - Int64(before[level]))
                #expect(outflow >= 0)
                if outflow > 0 { commitsMovingFromLevel[level] += 1 }
                moved += Int(outflow)
                inflow = outflow
            }
            largestMove = max(largestMove, moved)
            before = after
        }
        #expect(largestMove == 16, "a single-event commit moves one chunk, never a cascade")
        #expect(commitsMovingFromLevel[0] > 0 && commitsMovingFromLevel[1] > 0 && commitsMovingFromLevel[2] > 0)
        let (scanned, recorded) = try await Self.levels(store)
        #expect(scanned == recorded)
        #expect(scanned.reduce(0, +) == 900)
        // The levels keep up: at most one chunk more than a level moves on waits for the next commit.
        #expect(scanned[0] < 4 + 16 && scanned[1] < 40 + 2 * 16 && scanned[2] < 400 + 2 * 16, "levels \(scanned)")
    }

    @Test func aTransactionsMoveBudgetGrowsWithItsInserts() {
        let shape = IdIndexShape(base: 4_096, chunk: 64)
        #expect(shape.moveBudget(inserted: 0) == 64)
        #expect(shape.moveBudget(inserted: 1) == 64)
        #expect(shape.moveBudget(inserted: 1_024) == 1_024 * IdIndexShape.movesPerInsert)
        #expect(shape.moveBudget(inserted: 1_000_000) == shape.maxMovesPerTransaction)
    }

    @Test func theLevelRecordRoundTripsAndRefusesAWrongSize() {
        var levels = IdIndexLevels()
        levels.entries = [1, 20, 300, 4_000, 50_000]
        levels.positions[2] = [0, 7, 1, 2, 3, 4, 5, 6, 7, 8]
        let encoded = levels.encoded
        #expect(encoded.count == 5 * 8 + 4 * 10)
        #expect(encoded.withUnsafeBytes { IdIndexLevels(decoding: $0) } == levels)
        #expect(Array(encoded.dropLast()).withUnsafeBytes { IdIndexLevels(decoding: $0) } == nil)
        #expect(IdIndexShape(base: 2, chunk: 1).budget(level: 3) == 2_000)
    }
}
