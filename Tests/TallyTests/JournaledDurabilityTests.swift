import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @_spi(RawLog) @testable import Tally

/// The journaled mode (docs/STORAGE.md): acknowledged writes survive a crash that lost every page
/// written after the last checkpoint, because the checkpoint's meta pages are written back, its
/// pages were never reused (the pin), and the journal replays the rest.
@Suite struct JournaledDurabilityTests {
    static let cards = 7

    /// Ingests `requests` requests of `perRequest` events of the view fixture, concurrently from 4
    /// tasks (so groups hold several requests), at event times from `start`.
    static func ingest(_ store: Tally, requests: Int, perRequest: Int, start: Int64, run: String) async throws
        -> Int
    {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for producer in 0..<4 {
                group.addTask {
                    var accepted = 0
                    for request in stride(from: producer, to: requests, by: 4) {
                        var body = ""
                        for index in 0..<perRequest {
                            let n = request * perRequest + index
                            let time = start + Int64(n) * 37
                            body +=
                                #"{"type":"auth","id":"\#(run)-\#(n)","ts":\#(time),"card":"c\#(n % cards)","merchant":"m\#(n % 5)","amount":"\#(n % 97).\#(n % 10)","n":\#(n % 4),"country":"FR"}"#
                                + "\n"
                        }
                        accepted += try await store.ingest(ndjson: Array(body.utf8)).accepted
                    }
                    return accepted
                }
            }
            return try await group.reduce(0, +)
        }
    }

    static func options(checkpointEvery interval: Duration) -> Tally.Options {
        var options = Tally.Options()
        options.durability = .journaled(checkpointInterval: interval)
        options.wallClock = { 1_800_000_000_000 }
        options.idIndexLevelBase = 4  // several id-index levels, so moves are replayed too
        options.idIndexMoveChunk = 2
        options.retentionInterval = nil
        return options
    }

    /// Every card's vector as JSON at `(lsn, at)`.
    static func vectors(_ store: Tally, lsn: LSN, at: Int64) throws -> [String] {
        try store.read { snapshot in
            let token = try snapshot.token(lsn: lsn, at: at)
            return try (0..<cards).map { card in
                var bytes: [UInt8] = []
                try snapshot.vector(entity: "card", key: "c\(card)", at: token).appendJSON(to: &bytes, token: token)
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    /// Copies what a crash leaves of the store: `data.mdb` as the page cache holds it, the
    /// checkpoint and the journal; not LMDB's lock file.
    static func crashImage(of directory: String) throws -> TemporaryDirectory {
        let image = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: image.path, withIntermediateDirectories: true)
        for name in ["data.mdb", "checkpoint", "journal-0", "journal-1"] {
            try FileManager.default.copyItem(atPath: directory + "/" + name, toPath: image.path + "/" + name)
        }
        return image
    }

    @Test(arguments: [Duration.seconds(3600), .milliseconds(5)])
    func aCrashImageRecoversEveryAcknowledgedEventAndEveryView(checkpointEvery interval: Duration) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(
            directory: directory.path, definitions: ViewFixture.definitions,
            options: Self.options(checkpointEvery: interval))
        defer { store.close() }
        // With no checkpoint after the first, this copy is what a power loss that kept none of
        // the later page writes leaves of data.mdb.
        let dataAtFirstCheckpoint = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/data.mdb"))
        let start: Int64 = 1_799_999_000_000
        var accepted = try await Self.ingest(store, requests: 120, perRequest: 9, start: start, run: "a")
        // A late batch inside the bound rewrites state the earlier groups wrote.
        accepted += try await Self.ingest(store, requests: 40, perRequest: 3, start: start + 100, run: "late")
        #expect(accepted == 120 * 9 + 40 * 3)
        let lsn = try store.read { try $0.lsn }
        let at = start + 2_000_000
        let expected = try Self.vectors(store, lsn: lsn, at: at)

        // Every page write landed, or (long interval) none after the first checkpoint did.
        let image = try Self.crashImage(of: directory.path)
        defer { image.remove() }
        let nothingLanded = try Self.crashImage(of: directory.path)
        defer { nothingLanded.remove() }
        try dataAtFirstCheckpoint.write(to: URL(fileURLWithPath: nothingLanded.path + "/data.mdb"))
        // A long interval leaves every group in the journal after the first checkpoint; a short
        // one checkpoints mid-run, so the image holds groups in both journal files.
        let images = interval > .seconds(60) ? [image, nothingLanded] : [image]
        for (durability, source) in [Durability.journaled(), .durable].flatMap({ d in images.map { (d, $0) } }) {
            let copy = TemporaryDirectory()
            defer { copy.remove() }
            try FileManager.default.copyItem(atPath: source.path, toPath: copy.path)
            var options = Self.options(checkpointEvery: .seconds(1))
            options.durability = durability
            let recovered = try Tally.open(directory: copy.path, options: options)
            #expect(try recovered.read { try $0.lsn } == lsn)
            #expect(try Self.vectors(recovered, lsn: lsn, at: at) == expected)
            // Every acknowledged id is a duplicate now, at its original LSN.
            let again = try await Self.ingest(recovered, requests: 120, perRequest: 9, start: start, run: "a")
            #expect(again == 0)
            recovered.close()
            let journalLeft = FileManager.default.fileExists(atPath: copy.path + "/checkpoint")
            #expect(journalLeft == (durability != .durable), "the durable mode retires the journal")
        }
    }

    @Test func aCleanCloseNeedsNoRecoveryAndReopensInEveryMode() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Self.options(checkpointEvery: .seconds(3600))
        var store = try Tally.open(directory: directory.path, definitions: ViewFixture.definitions, options: options)
        let accepted = try await Self.ingest(store, requests: 20, perRequest: 5, start: 1_799_999_000_000, run: "a")
        let lsn = try store.read { try $0.lsn }
        store.close()
        #expect(accepted == 100)

        store = try Tally.open(directory: directory.path, options: options)
        #expect(store.environment.journalRecovery?.restoredMetaPages == false)
        #expect(store.environment.journalRecovery?.records.isEmpty == true)
        #expect(try store.read { try $0.lsn } == lsn)
        store.close()

        options.durability = .durable
        store = try Tally.open(directory: directory.path, options: options)
        #expect(try store.read { try $0.lsn } == lsn)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/checkpoint"))
        store.close()
    }

    @Test func retentionStepsAreReplayedToo() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Self.options(checkpointEvery: .seconds(3600))
        options.sweepEvery = 60_000
        let store = try Tally.open(directory: directory.path, definitions: RetentionTests.definitions, options: options)
        defer { store.close() }
        let start: Int64 = 1_799_980_000_000
        var dropped = 0
        for request in 0..<20 {
            var body = ""
            for index in 0..<30 {
                let n = request * 30 + index
                body +=
                    #"{"type":"auth","id":"e\#(n)","ts":\#(start + Int64(n) * 18_000),"card":"c\#(n % Self.cards)","merchant":"m\#(n % 5)","amount":"\#(n % 97)","n":\#(n % 4),"country":"FR"}"#
                    + "\n"
            }
            #expect(try await store.ingest(ndjson: Array(body.utf8)).accepted == 30)
            dropped += try await store.reclaimRetained(limit: 40).droppedRecords
        }
        #expect(dropped > 0, "the stream spans 3 hours of a 1-hour retention")
        let lsn = try store.read { try $0.lsn }
        let floor = try store.retentionFloor
        let at = start + 600 * 18_000
        let expected = try Self.vectors(store, lsn: lsn, at: at)
        let image = try Self.crashImage(of: directory.path)
        defer { image.remove() }
        let recovered = try Tally.open(directory: image.path, options: options)
        defer { recovered.close() }
        #expect(recovered.environment.journalRecovery?.records.count == 40)
        #expect(try recovered.retentionFloor == floor)
        #expect(try Self.vectors(recovered, lsn: lsn, at: at) == expected)
    }

    @Test func aReadOnlyOpenOfAnUnrecoveredStoreIsRefusedUntilAWritableOpenRecoversIt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let options = Self.options(checkpointEvery: .seconds(3600))
        let store = try Tally.open(directory: directory.path, options: options)
        defer { store.close() }
        let dataAtCheckpoint = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/data.mdb"))
        _ = try await store.appendRawRecords([[1], [2], [3]])
        let image = try Self.crashImage(of: directory.path)
        defer { image.remove() }
        // Its meta pages are the checkpoint's: only the journal's records tell it is not clean.
        let nothingLanded = try Self.crashImage(of: directory.path)
        defer { nothingLanded.remove() }
        try dataAtCheckpoint.write(to: URL(fileURLWithPath: nothingLanded.path + "/data.mdb"))
        var readOnly = Tally.Options()
        readOnly.access = .readOnly
        for unrecovered in [image, nothingLanded] {
            #expect {
                try Tally.open(directory: unrecovered.path, options: readOnly)
            } throws: { error in
                (error as? TallyError)?.code == .notReady && "\(error)".contains("open it for writing once")
            }
        }
        try Tally.open(directory: nothingLanded.path, options: options).close()
        let recoveredReader = try Tally.open(directory: nothingLanded.path, options: readOnly)
        #expect(try recoveredReader.read { try $0.lsn } == LSN(3))
        recoveredReader.close()
        try Tally.open(directory: image.path, options: options).close()
        let reader = try Tally.open(directory: image.path, options: readOnly)
        defer { reader.close() }
        #expect(try reader.read { try $0.lsn } == LSN(3))
    }

    @Test func rawAppendsAreJournaledToo() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let options = Self.options(checkpointEvery: .seconds(3600))
        let store = try Tally.open(directory: directory.path, options: options)
        defer { store.close() }
        var ranges: [LSNRange] = []
        for index in 0..<50 { ranges.append(try await store.appendRawRecords([Array("r\(index)".utf8), [1, 2]])) }
        let image = try Self.crashImage(of: directory.path)
        defer { image.remove() }
        let recovered = try Tally.open(directory: image.path, options: options)
        defer { recovered.close() }
        #expect(recovered.environment.journalRecovery?.restoredMetaPages == true)
        #expect(recovered.environment.journalRecovery?.records.count == 50)
        let (lsn, records) = try recovered.read { snapshot in
            (try snapshot.lsn, try ranges.map { try snapshot.rawRecord(at: $0.first) })
        }
        #expect(lsn == LSN(100))
        #expect(records == (0..<50).map { Array("r\($0)".utf8) })
    }
}
