import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// A vector read must not scan the window's events: for one key with many events in a 30-day
/// window, each count, sum, avg, min, max and last view touches a bounded number of LMDB entries,
/// and that number does not grow with the number of events; so does a count_distinct view (nearly
/// every event a new member) read at or after the key's newest event.
@Suite struct ViewReadCostTests {
    static let definitions = try! DefinitionsLoader.load(
        text: """
            entities: { card: { key: string } }
            events:
              auth: { id: id, time: ts, fields: { id: int, card: string, amount: decimal } }
            views:
              n: { entity: card, from: auth, aggregate: count, window: 30d }
              total: { entity: card, from: auth, aggregate: sum(amount), window: 30d }
              mean: { entity: card, from: auth, aggregate: avg(amount), window: 30d }
              low: { entity: card, from: auth, aggregate: min(amount), window: 30d }
              high: { entity: card, from: auth, aggregate: max(amount), window: 30d }
              latest: { entity: card, from: auth, aggregate: last(amount), window: 30d }
              amounts: { entity: card, from: auth, aggregate: count_distinct(amount), window: 30d }
            """)

    static let start: Int64 = 1_780_000_000_000
    static let span: Int64 = 30 * 86_400_000

    /// Options of a store with the view stage at `stageEntries` (nil: off) and busy entities
    /// bypassing it from `throughEvents` events in a request (nil: never), its clock at `now`.
    static func options(stageEntries: Int?, throughEvents: Int?, now: Int64) -> Tally.Options {
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(10))
        options.viewStageEntries = stageEntries
        options.viewStageThroughEvents = throughEvents
        options.wallClock = { now }
        return options
    }

    /// Entries of `views` (and its stage) touched by each view's read, for `count` events spread
    /// over 30 days, with the view stage at `stageEntries` (nil: off, the default), and busy
    /// entities bypassing it from `throughEvents` events in a request (nil: never).
    static func entriesPerView(events count: Int, stageEntries: Int?, throughEvents: Int?) async throws -> [String:
        Int]
    {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Self.options(stageEntries: stageEntries, throughEvents: throughEvents, now: start + span + 60_000)
        options.countEntryAccesses = true
        let store = try Tally.open(directory: directory.path, definitions: definitions, options: options)
        defer { store.close() }
        let step = span / Int64(count)
        var index = 0
        while index < count {
            var body: [UInt8] = []
            for i in index..<min(count, index + 10_000) {
                let amount = (i * 7919) % 100_000
                body.append(
                    contentsOf:
                        #"{"type":"auth","id":\#(i),"ts":\#(start + Int64(i) * step),"card":"hot","amount":\#(amount).25}"#
                        .utf8)
                body.append(10)
            }
            index += 10_000
            _ = try await store.ingest(ndjson: body)
        }
        // A last small request stays in the stage (a move takes the whole entity, so after each
        // large request the key's stage is empty): the reads below merge both levels. Its first
        // events repeat earlier amounts (members whose old occurrences and count tiles go), the
        // rest are lower than any earlier one (the min chain's entries go): deletes a forward
        // seek would step over if they left tombstones in the stage.
        var tail: [UInt8] = []
        for j in 0..<20 {
            let ts = start + Int64(count - 1) * step + 1 + Int64(j)
            let amount = j < 10 ? "\(((count + j) * 7919) % 100_000).25" : "0.\(j)"
            tail.append(
                contentsOf: #"{"type":"auth","id":\#(count + j),"ts":\#(ts),"card":"hot","amount":\#(amount)}"#.utf8)
            tail.append(10)
        }
        _ = try await store.ingest(ndjson: tail)
        if stageEntries != nil {
            // Without the bypass the last request stays in the stage; with it, the busy key has
            // nothing there.
            let staged = try store.read { snapshot in
                try snapshot.transaction.stageEntryCount(snapshot.databases.views)
            }
            #expect(throughEvents == nil ? staged > 0 : staged == 0, "the stage holds \(staged) entries")
        }
        // Read at an unaligned time inside the stream, so every tile level has ragged edges.
        let at = start + span - 12_345_677
        var touched: [String: Int] = [:]
        try store.read { snapshot in
            let token = try snapshot.token(at: at)
            let entity = try Snapshot.entityKey("hot", type: .string, entity: "card").encoded
            let cursor = try snapshot.transaction.openCursor(snapshot.databases.views)
            defer { cursor.close() }
            let reader = ViewReader(txn: snapshot.transaction, database: snapshot.databases.views, cursor: cursor)
            for view in snapshot.stored!.views.views {
                store.resetEntryAccesses()
                // A distinct count is bounded at or after the entity's newest event (the latest
                // occurrence index); inside the stream it counts the window's events.
                let readAt = view.aggregate == .countDistinct ? start + span + 1 : token.at
                let values = try reader.values(
                    view, snapshot.stored!.views.states[view.state], entity: entity, at: readAt, lsnLimit: nil)
                touched[view.name] = store.entryAccesses(in: "views") ?? -1
                #expect(values.first != .null, "\(view.name) read a value")
                if view.aggregate == .min || view.aggregate == .max {
                    // After the entity's newest event, min/max come from the chain: two seeks.
                    store.resetEntryAccesses()
                    let now = try reader.values(
                        view, snapshot.stored!.views.states[view.state], entity: entity, at: start + span + 1,
                        lsnLimit: nil)
                    touched[view.name + "_now"] = store.entryAccesses(in: "views") ?? -1
                    #expect(now.first != .null, "\(view.name) read a value after the newest event")
                }
            }
            // The whole vector, through the public API, is the sum of its views plus the entity head.
            store.resetEntryAccesses()
            let vector = try snapshot.vector(entity: "card", key: "hot", at: try snapshot.token(at: start + span + 1))
            touched["vector"] = store.entryAccesses(in: "views") ?? -1
            #expect(!vector.recomputed)
        }
        return touched
    }

    /// Without the stage (the default); with a small one whose busy key stays in it, so that
    /// reads merge both levels; and with the busy key bypassing it (docs/VIEWS.md, "The view
    /// stage").
    @Test(arguments: [(nil, nil), (1_000, nil), (1_000, 8)] as [(Int?, Int?)])
    func readsTouchBoundedEntriesWhateverTheEventCount(stageEntries: Int?, throughEvents: Int?) async throws {
        let large =
            Int(ProcessInfo.processInfo.environment["TALLY_READ_COST_EVENTS"] ?? "") ?? (isCI ? 40_000 : 200_000)
        let small = try await Self.entriesPerView(
            events: 4_000, stageEntries: stageEntries, throughEvents: throughEvents)
        let big = try await Self.entriesPerView(events: large, stageEntries: stageEntries, throughEvents: throughEvents)
        print(
            "entries touched per view read, stage \(stageEntries.map(String.init) ?? "off"), through \(throughEvents.map(String.init) ?? "never"): 4,000 events \(small.sorted { $0.key < $1.key }); \(large) events \(big.sorted { $0.key < $1.key })"
        )
        for (name, count) in big where name != "vector" {
            #expect(count <= 500, "\(name) touched \(count) entries for \(large) events")
            #expect(
                count <= (small[name] ?? 0) + 40,
                "\(name): \(small[name] ?? 0) entries at 4,000 events, \(count) at \(large)")
        }
        // Two seeks (or one); with the key in the stage, each also positions a cursor there (a
        // bypassing key has nothing there: its reads cost what they cost without a stage).
        let seeks = stageEntries == nil || throughEvents != nil ? 4 : 8
        for name in ["n", "total", "mean", "latest", "low_now", "high_now"] {
            #expect(
                (big[name] ?? 99) <= seeks, "\(name) is two seeks (or one) whatever the events: \(big[name] ?? -1)")
        }
    }
}
