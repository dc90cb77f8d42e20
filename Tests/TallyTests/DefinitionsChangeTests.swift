import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// Definitions applied to a serving store (issue 6): new views backfilled in chunks and equal to
/// the oracle once served, never seen half built, removed views still answering old tokens, a
/// backfill resumed after the store is reopened, refused changes that change nothing.
@Suite struct DefinitionsChangeTests {
    static let t0: Int64 = 1_780_000_000_000
    static let clock: Int64 = t0 + 30 * 86_400_000

    /// The fixture's definitions without four views (a sum, a max and two distinct counts), which
    /// a change then adds.
    static let without: Definitions = {
        var definitions = ViewFixture.definitions
        definitions.views.removeAll { ["total", "high", "merchants", "recent_merchants"].contains($0.name) }
        return definitions
    }()

    static func open(_ directory: TemporaryDirectory, _ definitions: Definitions?, chunk: Int = 64) throws -> Tally {
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(5))
        options.wallClock = { clock }
        options.backfillChunk = chunk
        options.openBackfillChunk = chunk
        options.viewStageEntries = 24
        return try Tally.open(directory: directory.path, definitions: definitions, options: options)
    }

    /// Starts `CrashProbe apply` on the store with `definitionsPath`, 8 events per backfill
    /// transaction, and returns once it reports it stopped after backfill transaction `pause`
    /// (the caller SIGKILLs it). The wait, up to 300 durable commits of the child, runs off the
    /// concurrency pool (``offPool(_:)``).
    static func applyPaused(
        _ directory: TemporaryDirectory, _ definitionsPath: String, after pause: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: crashProbePath)
        child.arguments = ["apply", directory.path, definitionsPath, "8", String(pause)]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        let printed = try await waitForLine("paused", "served", in: output)
        #expect(
            printed.contains("paused"), "the child stopped after backfill step \(pause): \(printed)",
            sourceLocation: sourceLocation)
        return child
    }

    /// A stream of auth events over `cards` cards, some at equal times, with their oracle records
    /// once ingested.
    struct Stream {
        var accepted: [ViewFixture.Accepted] = []
        var next = 0

        mutating func ingest(_ store: Tally, count: Int, cards: Int = 12, lateBy: Int64 = 0) async throws {
            var lines: [String] = []
            var pending: [(time: Int64, card: String, merchant: String, amount: Decimal, n: Int64, country: String)] =
                []
            for _ in 0..<count {
                let index = next
                next += 1
                let time = DefinitionsChangeTests.t0 + Int64(index / 2) * 700 - (index % 5 == 0 ? lateBy : 0)
                let card = "c\(index * 7 % cards)"
                let merchant = "m\(index % 5)"
                let amount = Decimal(index % 97) + Decimal(string: "0.25")!
                let country = ["FR", "DE", "US"][index % 3]
                lines.append(
                    #"{"type":"auth","id":"e\#(index)","ts":\#(time),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"n":\#(index % 9),"country":"\#(country)"}"#
                )
                pending.append((time, card, merchant, amount, Int64(index % 9), country))
            }
            let result = try await store.ingest(json: Array("[\(lines.joined(separator: ","))]".utf8))
            for (outcome, event) in zip(result.outcomes, pending) {
                guard case .accepted(let lsn) = outcome else {
                    Issue.record("event not accepted: \(outcome)")
                    continue
                }
                accepted.append(
                    .init(
                        lsn: lsn.rawValue, type: "auth", time: event.time, card: event.card, merchant: event.merchant,
                        amount: event.amount, n: event.n, country: event.country, mcc: nil))
            }
        }

        var cards: [String] { Array(Set(accepted.map(\.card))).sorted() }
        var lastTime: Int64 { accepted.map(\.time).max() ?? DefinitionsChangeTests.t0 }
    }

    /// Every view of every card at (lsn, at) equals the oracle; returns the vectors' definitions
    /// version.
    @discardableResult
    static func expectOracle(
        _ store: Tally, _ stream: Stream, lsn: UInt64? = nil, at: Int64, served: Definitions,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> UInt32 {
        var version: UInt32 = 0
        try store.read { snapshot in
            let token = try snapshot.token(lsn: lsn.map { LSN($0) }, at: at)
            version = token.definitionsVersion
            let names = Set(served.views.flatMap(\.servedNames))
            for card in stream.cards {
                let vector = try snapshot.vector(entity: "card", key: card, at: token)
                let expected = ViewFixture.oracle(
                    stream.accepted, entity: "card", key: card, lsn: token.lsn.rawValue, at: at
                ).filter { names.contains($0.key) }
                #expect(Set(vector.views.map(\.name)) == Set(expected.keys), sourceLocation: sourceLocation)
                for (name, value) in expected where !ViewFixture.agree(name, vector[view: name], value) {
                    Issue.record(
                        "\(card) \(name) at lsn \(token.lsn) at \(at): \(String(describing: vector[view: name])) vs oracle \(value)",
                        sourceLocation: sourceLocation)
                }
            }
        }
        return version
    }

    @Test func aViewAddedWhileServingIsBackfilledAndEqualsTheOracle() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, Self.without)
        defer { store.close() }
        var stream = Stream()
        try await stream.ingest(store, count: 1_500)
        let before = try store.read { try $0.lsn }.rawValue

        let report = try await store.apply(ViewFixture.definitions)
        #expect(report.previousVersion == 1 && report.version == 2 && report.changed)
        #expect(report.servedFrom == LSN(before + 1), "the change is logged at the next LSN")
        // `total` (a sum) reads the running totals `mean` (an avg of the same field) already keeps.
        #expect(Set(report.backfilledViews) == ["high", "merchants", "recent_merchants"])
        #expect(report.replayedEvents == 1_500)
        #expect(store.definitionsChangeInProgress == nil)
        #expect(store.servedDefinitionsVersion == 2)

        // Events after the change, some late inside the bound, feed the new views at ingest.
        try await stream.ingest(store, count: 300, lateBy: 20 * 60_000)
        let at = stream.lastTime + 1
        #expect(try Self.expectOracle(store, stream, at: at, served: ViewFixture.definitions) == 2)
        #expect(try Self.expectOracle(store, stream, at: at - 61_000, served: ViewFixture.definitions) == 2)
        // Reads before the change keep the version served then, without the new views.
        #expect(try Self.expectOracle(store, stream, lsn: before, at: at, served: Self.without) == 1)
        #expect(try Self.expectOracle(store, stream, lsn: before + 1, at: at, served: ViewFixture.definitions) == 2)
    }

    @Test func readsDuringTheBackfillSeeTheOldVersionOrTheWholeNewOne() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, Self.without, chunk: 16)
        defer { store.close() }
        var stream = Stream()
        try await stream.ingest(store, count: 3_000, cards: 20)

        // The change begins, and its backfill runs beside the reads below (as
        // `apply(_:waitUntilServed: false)` runs it), so that a read of the old version is certain
        // to happen first however the backfill is scheduled.
        try await store.beginDefinitionsChange(ViewFixture.definitions)
        #expect(store.definitionsChangeInProgress?.version == 2)
        var oldReads = 0
        var newReads = 0
        func readCard() throws {
            let (version, names) = try store.read { snapshot in
                let token = try snapshot.token(at: Self.clock)
                let vector = try snapshot.vector(entity: "card", key: "c3", at: token)
                return (token.definitionsVersion, Set(vector.views.map(\.name)))
            }
            if version == 1 {
                oldReads += 1
                #expect(!names.contains("total_lifetime") && !names.contains("high_30d"))
            } else {
                newReads += 1
                #expect(names.contains("total_lifetime") && names.contains("merchants_lifetime"))
            }
        }
        try readCard()
        #expect(oldReads == 1, "a change not yet backfilled is not served")
        let backfill = Task { try await store.backfillPendingDefinitions() }
        // Ingest goes on during the backfill.
        let writer = Task { [stream] in
            var stream = stream
            for _ in 0..<10 { try await stream.ingest(store, count: 20, cards: 20, lateBy: 600_000) }
            return stream
        }
        while store.definitionsChangeInProgress != nil || newReads == 0 {
            try readCard()
            await Task.yield()
        }
        _ = try await backfill.value
        stream = try await writer.value
        try Self.expectOracle(store, stream, at: stream.lastTime + 1, served: ViewFixture.definitions)
        try Self.expectOracle(store, stream, at: Self.clock, served: ViewFixture.definitions)
    }

    @Test func aRemovedViewStillAnswersOldTokens() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, ViewFixture.definitions)
        defer { store.close() }
        var stream = Stream()
        try await stream.ingest(store, count: 200)
        let old = try store.read { try $0.token(at: stream.lastTime + 1) }
        let before = try store.read { try $0.vector(entity: "card", key: "c1", at: old) }
        #expect(before[view: "high_30d"] != nil)

        #expect(try await store.apply(Self.without).version == 2)
        try await stream.ingest(store, count: 50)
        let again = try store.read { try $0.vector(entity: "card", key: "c1", at: old) }
        #expect(again.views.map(\.name) == before.views.map(\.name))
        #expect(again.views.map(\.value) == before.views.map(\.value), "the old token gives the identical answer")
        let now = try store.read { try $0.vector(entity: "card", key: "c1", at: $0.token(at: stream.lastTime + 1)) }
        #expect(now[view: "high_30d"] == nil && now[view: "cnt_60s"] != nil)
        try Self.expectOracle(store, stream, at: stream.lastTime + 1, served: Self.without)
        try Self.expectOracle(store, stream, lsn: old.lsn.rawValue, at: old.at, served: ViewFixture.definitions)
    }

    @Test func aBackfillInterruptedByAStopResumesWhenTheStoreIsOpenedAgain() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var stream = Stream()
        do {
            let store = try Self.open(directory, Self.without)
            defer { store.close() }
            try await stream.ingest(store, count: 700)
            // The change begins (durably) but none of its backfill runs: what a kill right after
            // the first transaction leaves.
            try await store.beginDefinitionsChange(ViewFixture.definitions)
            #expect(store.definitionsChangeInProgress?.version == 2)
            try await stream.ingest(store, count: 40, lateBy: 60_000)
            #expect(try store.read { $0.definitionsVersion } == 1)
        }
        let store = try Self.open(directory, nil)
        defer { store.close() }
        #expect(store.definitionsChangeInProgress == nil, "opening finishes the backfill")
        #expect(store.servedDefinitionsVersion == 2)
        try Self.expectOracle(store, stream, at: stream.lastTime + 1, served: ViewFixture.definitions)
    }

    /// A child applies new definitions, backfilling 8 events per durable transaction (375 of
    /// them), stops after a random one of the first 300 and is SIGKILLed there: the store then
    /// still serves the old version whole, and the next writable open finishes the change, every
    /// view equal to the oracle.
    @Test func aBackfillKilledMidwayResumesCleanly() async throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(isCI ? 3 : 5) {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            let definitionsPath = directory.path + ".yaml"
            try ViewFixture.definitionsText.write(toFile: definitionsPath, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: definitionsPath) }
            var stream = Stream()
            do {
                let store = try Self.open(directory, Self.without)
                defer { store.close() }
                try await stream.ingest(store, count: 3_000)
            }
            let pause = Int.random(in: 1...300, using: &generator)
            let child = try await Self.applyPaused(directory, definitionsPath, after: pause)
            kill(child.processIdentifier, SIGKILL)
            try await offPool { child.waitUntilExit() }
            do {
                var options = Tally.Options()
                options.access = .readOnly
                let reader = try Tally.open(directory: directory.path, options: options)
                defer { reader.close() }
                #expect(reader.definitionsChangeInProgress != nil, "killed after step \(pause) of 375")
                #expect(reader.servedDefinitionsVersion == 1, "a half-built version is never served")
                try Self.expectOracle(reader, stream, at: stream.lastTime + 1, served: Self.without)
            }
            let store = try Self.open(directory, nil)
            defer { store.close() }
            #expect(store.definitionsChangeInProgress == nil)
            #expect(store.servedDefinitionsVersion == 2)
            for at in [stream.lastTime + 1, stream.lastTime - 30_000] {
                try Self.expectOracle(store, stream, at: at, served: ViewFixture.definitions)
            }
        }
    }

    /// Older layouts a store may hold states in: the fingerprint parts they lacked, and the
    /// fixture's views whose state that renames. Renaming keeps this build's data, so only
    /// structures an older reader reads alike are renamed: a distinct state's index (read
    /// without count tiles in `plainTiles`) and a min/max state's chain (which answers the
    /// read-only check below, at the newest event; older `at`s are checked after the rebuild).
    /// Reading 1-second tiles without or beside a chain is what lifetime min/max views do in
    /// every oracle test; `ViewStateLayoutTests` checks each layout's state.
    static let olderLayouts: [(layout: String, lacks: String, views: [String])] = [
        // A finite-window distinct count before count tiles.
        ("plainTiles", #"\|counts=\d+"#, ["recent_merchants"]),
        // Finite-window min/max with chains and tiles from 1 s.
        ("secondTiles", #"\|tiles_from=\w+"#, ["low", "unit_max"]),
    ]

    /// A store written in an older layout (before finite-window count_distinct states had count
    /// tiles, or before finite-window min/max tiles started at 16 s) holds those states under
    /// their old fingerprint: read-only it answers from them, and the next writable open, even
    /// without definitions, rebuilds them in the current layout from the log; every view equals
    /// the oracle before and after, at the head and at an older LSN (docs/VIEWS.md).
    @Test(arguments: olderLayouts.indices)
    func aStateWhoseLayoutChangedIsRebuiltOnTheNextWritableOpen(_ index: Int) async throws {
        let older = Self.olderLayouts[index]
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var stream = Stream()
        do {
            let store = try Self.open(directory, ViewFixture.definitions)
            defer { store.close() }
            try await stream.ingest(store, count: 600)
            // What an older store holds: the distinct and min/max states' codes under the
            // fingerprints of that layout.
            let meta = store.databases.meta
            let renamed = try await store.write { txn -> Int in
                // A lifetime and a finite distinct count of the same member were one state before
                // count tiles.
                func strip(_ codes: [String: UInt16]) -> [String: UInt16] {
                    Dictionary(
                        codes.map { print, code in
                            (print.replacingOccurrences(of: older.lacks, with: "", options: .regularExpression), code)
                        }, uniquingKeysWith: { kept, _ in kept })
                }
                let codes = try JSONDecoder().decode(
                    [String: UInt16].self, from: Data(try txn.value(meta, MetaKey.viewCodes) ?? []))
                try txn.put(meta, MetaKey.viewCodes, Array(try JSONEncoder().encode(strip(codes))))
                for record in try DefinitionsHistory.records(txn, meta: meta) {
                    let old = DefinitionsRecord(
                        version: record.version, definitions: record.definitions, viewCodes: strip(record.viewCodes),
                        servedFrom: record.servedFrom)
                    try DefinitionsHistory.write(old, in: txn, meta: meta)
                }
                return codes.keys.filter { $0.range(of: older.lacks, options: .regularExpression) != nil }.count
            }
            #expect(renamed == older.views.count, "\(older.layout): the fixture's states of its views")
        }
        let middle = stream.accepted[300].lsn
        do {
            // Read-only, the old state answers (counting index entries), exactly.
            var options = Tally.Options()
            options.access = .readOnly
            let reader = try Tally.open(directory: directory.path, options: options)
            defer { reader.close() }
            #expect(reader.definitionsState.current.newest?.views.legacy == older.views, "\(older.layout)")
            try Self.expectOracle(reader, stream, at: stream.lastTime + 1, served: ViewFixture.definitions)
        }
        do {
            // A writer stopped in the middle of the rebuild: readers get not_ready, never a
            // half-built state; the next writable open resumes it.
            let definitionsPath = directory.path + ".yaml"
            try ViewFixture.definitionsText.write(toFile: definitionsPath, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: definitionsPath) }
            let child = try await Self.applyPaused(directory, definitionsPath, after: 10)
            var options = Tally.Options()
            options.access = .readOnly
            let reader = try Tally.open(directory: directory.path, options: options)
            do {
                _ = try reader.read { try $0.vector(entity: "card", key: "c1", at: try $0.token(at: stream.lastTime)) }
                Issue.record("a read during the rebuild answered")
            } catch {
                #expect((error as? TallyError)?.code == .notReady, "\(error)")
            }
            reader.close()
            kill(child.processIdentifier, SIGKILL)
            try await offPool { child.waitUntilExit() }
        }
        let store = try Self.open(directory, nil)
        defer { store.close() }
        #expect(store.definitionsChangeInProgress == nil)
        #expect(
            store.definitionsState.current.newest?.views.legacy == [],
            "the writable open rebuilt the state in the current layout (\(older.layout))")
        for at in [stream.lastTime + 1, stream.lastTime - 30_000] {
            try Self.expectOracle(store, stream, at: at, served: ViewFixture.definitions)
        }
        try Self.expectOracle(store, stream, lsn: middle, at: stream.lastTime + 1, served: ViewFixture.definitions)
    }

    @Test func refusedChangesChangeNothing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, Self.without)
        defer { store.close() }
        var stream = Stream()
        try await stream.ingest(store, count: 100)
        let lsn = try store.read { try $0.lsn }

        var incompatible = ViewFixture.definitions
        let auth = incompatible.events.firstIndex { $0.name == "auth" }!
        let amount = incompatible.events[auth].fields.firstIndex { $0.name == "amount" }!
        incompatible.events[auth].fields[amount].type = FieldType(.int)
        await #expect(throws: TallyError.self) { try await store.apply(incompatible) }
        do {
            try await store.apply(incompatible)
        } catch {
            #expect(error.code == .incompatibleDefinitions)
        }
        #expect(store.servedDefinitionsVersion == 1)
        #expect(try store.read { try $0.lsn } == lsn)

        let same = try await store.apply(Self.without)
        #expect(!same.changed && same.version == 1 && same.servedFrom == LSN(0))
        #expect(try store.read { try $0.lsn } == lsn, "unchanged definitions log nothing")

        try await store.beginDefinitionsChange(ViewFixture.definitions)
        do {
            try await store.apply(Self.without)
            Issue.record("a second change during a backfill must be refused")
        } catch {
            #expect(error.code == .changeInProgress)
        }
        #expect(try await store.backfillPendingDefinitions() == 100)
        #expect(store.servedDefinitionsVersion == 2)
        try Self.expectOracle(store, stream, at: stream.lastTime + 1, served: ViewFixture.definitions)
    }
}
