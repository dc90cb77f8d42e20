import Foundation
import PropertyBased
import Testing

@_spi(Testing) @testable import Tally

/// Retention drops the log, the id index and view state, and no answer it still gives changes:
/// every view (lifetime and windows longer than the retention included) equals the oracle over
/// *every* accepted event, dropped ones too, at every answerable (lsn, at); older points fail
/// with `not_retained`.
@Suite struct RetentionTests {
    static let base: Int64 = 1_780_000_000_000
    static let hour: Int64 = 3_600_000
    /// Windows mostly no longer than the retention (and lifetime), so the sweep reclaims every
    /// kind of state within a stream of a few hours; `day_big` is longer than the log's retention.
    static let definitionsText =
        "settings: { retention: 1h }\n" + ViewFixture.eventsText + """
            views:
              cnt: { entity: card, from: auth, aggregate: count, window: [1s, 60s, 1h, lifetime] }
              total: { entity: card, from: auth, aggregate: sum(amount), window: [60s, lifetime] }
              spread: { entity: card, from: auth, aggregate: stddev(amount), window: [60s, lifetime] }
              low: { entity: card, from: auth, aggregate: min(amount), window: [1s, 60s, 1h] }
              high: { entity: card, from: auth, aggregate: max(amount), window: [60s, lifetime] }
              top: { entity: card, from: auth, aggregate: max(n), window: lifetime }
              opening: { entity: card, from: auth, aggregate: first(country), window: [60s, lifetime] }
              latest: { entity: card, from: auth, aggregate: last(country), window: [60s, lifetime] }
              merchants: { entity: card, from: auth, aggregate: count_distinct(merchant), window: [1s, 1h] }
              exposure:
                entity: card
                aggregate: sum
                from: { auth: +amount, settle: -amount }
                window: lifetime
              units: { entity: card, from: auth, aggregate: sum(n), window: [60s, lifetime] }
              merchant_cnt: { entity: merchant, from: auth, aggregate: count, window: [60s, 1h] }
              day_big: { entity: card, from: auth, where: "amount >= 50", aggregate: count, window: 24h }
            """
    static let definitions: Definitions = try! DefinitionsLoader.load(text: definitionsText)

    static let oracleViews: [ViewFixture.OracleView] = {
        typealias View = ViewFixture.OracleView
        let s: Int64 = 1000
        let amount = ViewFixture.auth { .decimal($0.amount) }
        let country = ViewFixture.auth { $0.country.map(View.Value.text) }
        return [
            View(
                name: "cnt", entity: "card", aggregate: .count, windows: [s, 60 * s, 3600 * s, nil],
                value: ViewFixture.auth { _ in .int(1) }, ints: true),
            View(name: "total", entity: "card", aggregate: .sum, windows: [60 * s, nil], value: amount, ints: false),
            View(
                name: "spread", entity: "card", aggregate: .stddev, windows: [60 * s, nil], value: amount, ints: false),
            View(
                name: "low", entity: "card", aggregate: .min, windows: [s, 60 * s, 3600 * s], value: amount, ints: false
            ),
            View(name: "high", entity: "card", aggregate: .max, windows: [60 * s, nil], value: amount, ints: false),
            View(
                name: "top", entity: "card", aggregate: .max, windows: [nil],
                value: ViewFixture.auth { $0.n.map(View.Value.int) }, ints: true),
            View(
                name: "opening", entity: "card", aggregate: .first, windows: [60 * s, nil], value: country, ints: false),
            View(
                name: "latest", entity: "card", aggregate: .last, windows: [60 * s, nil], value: country, ints: false),
            View(
                name: "merchants", entity: "card", aggregate: .distinct, windows: [s, 3600 * s],
                value: ViewFixture.auth { $0.merchant.map(View.Value.text) }, ints: false),
            View(
                name: "exposure", entity: "card", aggregate: .sum, windows: [nil],
                value: { .some(.decimal($0.type == "auth" ? $0.amount : -$0.amount)) }, ints: false),
            View(
                name: "units", entity: "card", aggregate: .sum, windows: [60 * s, nil],
                value: ViewFixture.auth { $0.n.map(View.Value.int) }, ints: true),
            View(
                name: "merchant_cnt", entity: "merchant", aggregate: .count, windows: [60 * s, 3600 * s],
                value: ViewFixture.auth { _ in .int(1) }, ints: true),
            // A window longer than the log's retention: its state outlives the dropped events.
            View(
                name: "day_big", entity: "card", aggregate: .count, windows: [86_400 * s],
                value: { $0.type == "auth" && $0.amount >= 50 ? .some(.int(1)) : nil }, ints: true),
        ]
    }()

    struct Outcome {
        var dropped = 0
        var reclaimed = 0
    }

    static func options() -> Tally.Options {
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(5))
        options.wallClock = { base + 400 * 86_400_000 }
        options.retentionInterval = nil  // driven by hand, between requests
        options.sweepEvery = 0
        options.viewStageEntries = 16  // sweeps delete through the stage
        options.idIndexLevelBase = 2  // every id-index level in use: retention forgets ids in all of them
        options.idIndexMoveChunk = 1
        return options
    }

    /// Runs retention until it finds nothing more to do, in small steps.
    static func drain(_ store: Tally, _ outcome: inout Outcome) async throws {
        while true {
            let step = try await store.reclaimRetained(limit: 7)
            outcome.dropped += step.droppedRecords
            outcome.reclaimed += step.reclaimedStateEntries
            if !step.didWork { return }
        }
    }

    @discardableResult
    static func check(seed: UInt64) async throws -> Outcome {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path, definitions: definitions, options: options())
        defer { store.close() }
        var outcome = Outcome()
        var accepted: [ViewFixture.Accepted] = []
        var watermark = base
        var heads: [UInt64] = [0]
        var sent: [String] = []
        for _ in 0..<Int(4 + random.next() % 6) {
            var events: [(json: String, accepted: (UInt64) -> ViewFixture.Accepted)] = []
            for _ in 0..<Int(1 + random.next() % 8) {
                // Resend an earlier event now and then: a retained one is a duplicate, a dropped
                // one is late; neither may be accepted twice.
                if !sent.isEmpty, random.next() % 8 == 0 {
                    let json = sent[Int(random.next() % UInt64(sent.count))]
                    events.append((json, { _ in fatalError("a resent event was accepted") }))
                    continue
                }
                var event = ViewOracleTests.randomEvent(&random, watermark: watermark)
                // Advance by up to 40 minutes per event too, so the hour of retention moves on.
                if random.next() % 3 == 0 {
                    let shifted = watermark + Int64(random.next() % UInt64(40 * 60_000))
                    event = Self.retimed(event, to: shifted, &random)
                }
                events.append(event)
            }
            let result = try await store.ingest(
                json: Array(("[" + events.map(\.json).joined(separator: ",") + "]").utf8))
            for (event, eventOutcome) in zip(events, result.outcomes) {
                guard case .accepted(let lsn) = eventOutcome else { continue }
                let record = event.accepted(lsn.rawValue)
                accepted.append(record)
                sent.append(event.json)
                watermark = max(watermark, record.time)
            }
            heads.append(result.lsn.rawValue)
            try await drain(store, &outcome)
        }
        let ids = accepted.map { "\($0.type)/\($0.lsn)" }
        #expect(Set(ids).count == ids.count)
        let floor = try store.retentionFloor
        try checkLog(store, floor: floor, seed: seed)
        try checkRefusals(store, floor: floor, seed: seed)
        // Answerable points: the floor's own time and LSN, event times ± 1 ms and window edges.
        let widths: [Int64] = [1000, 60_000, hour, 24 * hour]
        var times: Set<Int64> = [max(floor.time, 0), watermark + 1]
        for event in accepted.shuffled(using: &random).prefix(6) {
            times.formUnion([event.time, event.time - 1, event.time + 1])
            let width = widths[Int(random.next() % UInt64(widths.count))]
            times.formUnion([event.time + width - 1, event.time + width, event.time + width + 1])
        }
        let answerable = heads.filter { $0 >= floor.lsn.rawValue }
        let lsns = Set([heads.last!, floor.lsn.rawValue, answerable[Int(random.next() % UInt64(answerable.count))]])
        let keys = [("card", "c0"), ("card", "c1"), ("card", "c2"), ("merchant", "m0"), ("merchant", "m2")]
        for time in times.sorted() where time >= floor.time && time >= 0 {
            for lsn in lsns.sorted() {
                let vectors = try store.read { snapshot in
                    let token = try snapshot.token(lsn: LSN(lsn), at: time)
                    return try keys.map { try snapshot.vector(entity: $0.0, key: $0.1, at: token) }
                }
                for (vector, (entity, key)) in zip(vectors, keys) {
                    let expected = ViewFixture.oracle(
                        accepted, entity: entity, key: key, lsn: lsn, at: time, views: Self.oracleViews)
                    #expect(vector.views.count == expected.count, "seed \(seed)")
                    for (name, value) in vector.views where !ViewFixture.agree(name, value, expected[name]) {
                        Issue.record(
                            "seed \(seed): \(entity) \(key) \(name) at lsn \(lsn), t \(time) (floor \(floor.lsn), \(floor.time)): got \(value), oracle \(expected[name].map(String.init(describing:)) ?? "none")"
                        )
                    }
                }
            }
        }
        return outcome
    }

    /// `event` moved to `time` (same fields, fresh id so it is no duplicate).
    static func retimed(
        _ event: (json: String, accepted: (UInt64) -> ViewFixture.Accepted), to time: Int64,
        _ random: inout SplitMix64
    ) -> (json: String, accepted: (UInt64) -> ViewFixture.Accepted) {
        let template = event.accepted(0)
        let id = "r\(random.next())"
        let fields = event.json.replacingOccurrences(
            of: #""id":"[^"]*","ts":[0-9]+"#, with: #""id":"\#(id)","ts":\#(time)"#, options: .regularExpression)
        return (
            fields,
            { lsn in
                ViewFixture.Accepted(
                    lsn: lsn, type: template.type, time: time, card: template.card, merchant: template.merchant,
                    amount: template.amount, n: template.n, country: template.country, mcc: template.mcc)
            }
        )
    }

    /// The log holds nothing at or below the floor's LSN, and everything above it.
    static func checkLog(_ store: Tally, floor: RetentionFloor, seed: UInt64) throws {
        try store.read { snapshot in
            #expect(try snapshot.event(at: floor.lsn) == nil || floor.isEmpty, "seed \(seed)")
            var first: LSN?
            try snapshot.forEachEvent { event in
                first = event.lsn
                return false
            }
            if let first { #expect(first > floor.lsn, "seed \(seed)") }
        }
    }

    /// A point before the floor fails with `not_retained`, naming the floor.
    static func checkRefusals(_ store: Tally, floor: RetentionFloor, seed: UInt64) throws {
        guard !floor.isEmpty else { return }
        try store.read { snapshot in
            #expect { try snapshot.token(lsn: LSN(floor.lsn.rawValue - 1)) } throws: {
                ($0 as? TallyError)?.code == .notRetained
            }
            do {
                _ = try snapshot.token(at: floor.time - 1)
                Issue.record("seed \(seed): at before the floor was answered")
            } catch let error as TallyError {
                #expect(error.code == .notRetained)
                #expect(error.message.contains("lsn \(floor.lsn)"), "\(error.message)")
            }
            let stale = SnapshotToken(lsn: LSN(floor.lsn.rawValue - 1), at: floor.time, definitionsVersion: 1)
            #expect { try snapshot.vector(entity: "card", key: "c0", at: stale) } throws: {
                ($0 as? TallyError)?.code == .notRetained
            }
        }
    }

    @Test func everyViewEqualsTheOracleAfterRetentionDroppedEvents() async {
        let count = Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? (isCI ? 100 : 1000)
        await propertyCheck(count: count, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }

    /// Every id hashes alike: X holds the hash entry, Y and Z sit in `id_collisions`. Dropping X
    /// frees the hash entry, yet a resent Y (still retained) is a duplicate, not a new event.
    @Test func aCollidingIdKeepsItsDuplicateCheckAfterTheHashHolderIsDropped() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Self.options()
        options.idHash = { _ in 7 }
        let store = try Tally.open(directory: directory.path, definitions: Self.definitions, options: options)
        defer { store.close() }
        func auth(_ id: String, _ time: Int64) -> String {
            #"{"type":"auth","id":"\#(id)","ts":\#(time),"card":"c0","merchant":"m0","amount":1,"n":1,"country":"FR"}"#
        }
        let minute: Int64 = 60_000
        for (id, time) in [("x", Self.base), ("y", Self.base + 61 * minute), ("z", Self.base + 121 * minute)] {
            let result = try await store.ingest(json: Array(auth(id, time).utf8))
            #expect(result.accepted == 1)
        }
        var outcome = Outcome()
        try await Self.drain(store, &outcome)
        #expect(try store.retentionFloor.lsn == LSN(1))
        let again = try await store.ingest(json: Array(auth("y", Self.base + 61 * minute).utf8))
        #expect(again.outcomes == [.duplicate(of: LSN(2))])
        let conflict = try await store.ingest(json: Array(auth("y", Self.base + 62 * minute).utf8))
        #expect(conflict.accepted == 0)
    }

    /// A lifetime max read just after the floor needs the raw values of the floor's ragged second
    /// (a late event put one there), and its tiles for everything before.
    @Test func aLifetimeMaxJustAfterTheFloorKeepsItsRaggedSecond() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path, definitions: Self.definitions, options: Self.options())
        defer { store.close() }
        func auth(_ id: String, _ time: Int64, _ n: String) -> String {
            #"{"type":"auth","id":"\#(id)","ts":\#(time),"card":"c0","merchant":"m0","amount":1,"n":\#(n),"country":"FR"}"#
        }
        let t0 = Self.base
        for (id, time, amount) in [("a", t0 + Self.hour, "5"), ("b", t0 + 500, "9"), ("c", t0 + 3 * Self.hour, "1")] {
            #expect(try await store.ingest(json: Array(auth(id, time, amount).utf8)).accepted == 1)
        }
        var outcome = Outcome()
        try await Self.drain(store, &outcome)
        let floor = try store.retentionFloor
        #expect(floor.lsn == LSN(2) && floor.time == t0)
        let vector = try store.read { snapshot in
            try snapshot.vector(entity: "card", key: "c0", at: try snapshot.token(at: t0 + 600))
        }
        #expect(vector[view: "top"] == .int(9), "\(vector)")
        #expect(vector[view: "cnt_lifetime"] == .int(1))
    }

    /// Background retention under saturated ingest: four producers send back-to-back requests
    /// whose event times move the watermark on; the floor moves while they are still sending,
    /// and what is left at the end is exact.
    @Test func backgroundRetentionMakesProgressUnderSaturatedIngest() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Self.options()
        options.retentionInterval = .milliseconds(5)
        let store = try Tally.open(directory: directory.path, definitions: Self.definitions, options: options)
        defer { store.close() }
        let requests = 60
        let floorsSeen = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for producer in 0..<4 {
                group.addTask {
                    var floors: [UInt64] = []
                    for request in 0..<requests {
                        // Each request covers the next minute of event time, so 60 requests are
                        // an hour; with four producers interleaved the watermark passes 1 h
                        // (the retention) a quarter of the way in.
                        let minute = Int64(request * 4 + producer)
                        let lines = (0..<50).map { index in
                            let time = Self.base + minute * 60_000 + Int64(index) * 1000
                            return
                                #"{"type":"auth","id":"p\#(producer)-\#(request)-\#(index)","ts":\#(time),"card":"c\#(index % 7)","merchant":"m\#(index % 3)","amount":1,"n":1,"country":"FR"}"#
                        }
                        _ = try await store.ingest(json: Array("[\(lines.joined(separator: ","))]".utf8))
                        if request < requests - 1 { floors.append(try store.retentionFloor.lsn.rawValue) }
                    }
                    return floors
                }
            }
            var all: [UInt64] = []
            for try await floors in group { all += floors }
            return all
        }
        #expect(floorsSeen.contains { $0 > 0 }, "the floor never moved while ingest ran")
        let floor = try store.retentionFloor
        let vector = try store.read { snapshot in
            try snapshot.vector(entity: "card", key: "c0", at: try snapshot.token())
        }
        // 4 × 60 requests × 50 events, 1 in 7 for c0 (indices 0, 7, …, 49: 8 per request).
        #expect(vector[view: "cnt_lifetime"] == .int(4 * 60 * 8), "floor \(floor)")
    }

    /// The property above would hold vacuously if nothing were ever dropped: these seeds drop
    /// log records and reclaim view state.
    @Test func retentionReallyDropsLogAndState() async throws {
        var total = Outcome()
        for seed in UInt64(1)...20 {
            let outcome = try await Self.check(seed: seed)
            total.dropped += outcome.dropped
            total.reclaimed += outcome.reclaimed
        }
        #expect(total.dropped > 50)
        #expect(total.reclaimed > 20)
    }

    /// A window wider than any a swept state had would find a checkpoint where it needs entries
    /// (the lifetime total, served as the window's): such a change is refused, whether it adds a
    /// view that shares the state or widens a view's windows; a narrower window is fine.
    @Test func wideningASweptStatesWindowIsRefusedNotServedWrong() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let head = """
            settings: { retention: 1h }
            entities: { card: { key: string } }
            events:
              auth: { id: txn_id, time: ts, lateness: 10m, fields: { txn_id: string, card: string, amount: decimal } }
            views:
              sum_life: { entity: card, from: auth, aggregate: sum(amount), window: lifetime }

            """
        let store = try Tally.open(
            directory: directory.path,
            definitions: try DefinitionsLoader.load(
                text: head + "  avg_2h: { entity: card, from: auth, aggregate: avg(amount), window: 2h }"),
            options: Self.options())
        defer { store.close() }
        // Five hours of event time, one event a minute, then retention to its end.
        let lines = (0..<300).map { i in
            #"{"type":"auth","txn_id":"e\#(i)","ts":\#(Self.base + Int64(i) * 60_000),"card":"c1","amount":1}"#
        }
        _ = try await store.ingest(ndjson: Array(lines.joined(separator: "\n").utf8))
        var outcome = Outcome()
        try await Self.drain(store, &outcome)
        #expect(outcome.reclaimed > 0, "the sweep thinned the state")
        let version = try store.read { $0.definitionsVersion }
        for widened in [
            head + "  avg_2h: { entity: card, from: auth, aggregate: avg(amount), window: 2h }\n"
                + "  sum_4h: { entity: card, from: auth, aggregate: sum(amount), window: 4h }",
            head + "  avg_2h: { entity: card, from: auth, aggregate: avg(amount), window: [2h, 4h] }",
        ] {
            let definitions = try DefinitionsLoader.load(text: widened)
            do throws(TallyError) {
                try await store.apply(definitions)
                Issue.record("a window wider than the swept state keeps was served")
            } catch {
                #expect(error.code == .incompatibleDefinitions)
                #expect(error.message.contains("4h window"), "\(error.message)")
            }
            #expect(try store.read { $0.definitionsVersion } == version, "a refused change changes nothing")
        }
        // Narrower than what the sweep kept: served, and exact.
        try await store.apply(
            try DefinitionsLoader.load(
                text: head + "  avg_2h: { entity: card, from: auth, aggregate: avg(amount), window: 2h }\n"
                    + "  sum_1h: { entity: card, from: auth, aggregate: sum(amount), window: 1h }"))
        let at = Self.base + 299 * 60_000
        let vector = try store.read { try $0.vector(entity: "card", key: "c1", at: try $0.token(at: at)) }
        #expect(vector[view: "sum_1h"] == .decimal(ExactDecimal(mantissa: 60, scale: 0)))
        #expect(vector[view: "sum_life"] == .decimal(ExactDecimal(mantissa: 300, scale: 0)))
    }
}
