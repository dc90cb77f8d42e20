import Foundation
import Testing

@_spi(Testing) @testable import Tally

/// Window semantics at exact edges, empty windows, late corrections, token stability, keys.
@Suite struct ViewSemanticsTests {
    static let t0: Int64 = 1_780_000_000_000

    static func open(
        _ directory: TemporaryDirectory, definitions: Definitions = ViewFixture.definitions,
        clock: Int64 = t0 + 86_400_000
    ) throws -> Tally {
        var options = Tally.Options()
        options.durability = .relaxed(flushInterval: .seconds(5))
        options.wallClock = { clock }
        return try Tally.open(directory: directory.path, definitions: definitions, options: options)
    }

    static func auth(
        _ id: String, _ time: Int64, card: String = "c1", merchant: String = "m1", amount: String = "10",
        n: Int = 1, country: String = "FR"
    ) -> String {
        #"{"type":"auth","id":"\#(id)","ts":\#(time),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"n":\#(n),"country":"\#(country)"}"#
    }

    static func vector(_ store: Tally, _ key: String = "c1", at: Int64, lsn: UInt64? = nil) throws -> EntityVector {
        try store.read { snapshot in
            try snapshot.vector(
                entity: "card", key: key, at: try snapshot.token(lsn: lsn.map { LSN($0) }, at: at))
        }
    }

    @Test func slidingWindowsAreHalfOpenAtMillisecondResolution() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        _ = try await store.ingest(Self.auth("a", Self.t0))
        // (t − 60 s, t]: the event counts from t0 through t0 + 59 999, not at t0 − 1 or t0 + 60 000.
        #expect(try Self.vector(store, at: Self.t0 - 1)[view: "cnt_60s"] == .int(0))
        #expect(try Self.vector(store, at: Self.t0)[view: "cnt_60s"] == .int(1))
        #expect(try Self.vector(store, at: Self.t0 + 59_999)[view: "cnt_60s"] == .int(1))
        #expect(try Self.vector(store, at: Self.t0 + 60_000)[view: "cnt_60s"] == .int(0))
        #expect(try Self.vector(store, at: Self.t0 + 999)[view: "cnt_1s"] == .int(1))
        #expect(try Self.vector(store, at: Self.t0 + 1000)[view: "cnt_1s"] == .int(0))
        #expect(
            try Self.vector(store, at: Self.t0 + 1000)[view: "high_60s"] == .decimal(try ExactDecimal(parsing: "10")))
        #expect(try Self.vector(store, at: Self.t0 + 60_000)[view: "high_60s"] == .null)
        #expect(try Self.vector(store, at: Self.t0 + 10 * 86_400_000)[view: "cnt_lifetime"] == .int(1))
    }

    @Test func emptyWindowsAreZeroForCountsAndSumsAndNullOtherwise() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        let vector = try Self.vector(store, "never-seen", at: Self.t0)
        #expect(vector[view: "cnt_60s"] == .int(0))
        #expect(vector[view: "total_60s"] == .decimal(ExactDecimal(mantissa: 0, scale: 0)))
        #expect(vector[view: "units_60s"] == .int(0))
        #expect(vector[view: "merchants_60s"] == .int(0))
        for name in ["mean_60s", "spread_60s", "low_60s", "high_60s", "opening_60s", "latest_60s", "unit_max"] {
            #expect(vector[view: name] == .null, "\(name)")
        }
        #expect(vector.views.count == 33)
        #expect(!vector.recomputed)
    }

    @Test func aggregatesAreExact() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        let body = [
            Self.auth("a", Self.t0, merchant: "m1", amount: "0.1", n: 2, country: "FR"),
            Self.auth("b", Self.t0 + 1, merchant: "m2", amount: "0.2", n: -5, country: "DE"),
            Self.auth("c", Self.t0 + 1, merchant: "m1", amount: "60", n: 4, country: "US"),
            #"{"type":"settle","id":"s","ts":\#(Self.t0 + 2),"card":"c1","amount":20.05}"#,
        ]
        _ = try await store.ingest("[" + body.joined(separator: ",") + "]")
        let v = try Self.vector(store, at: Self.t0 + 10)
        func decimal(_ text: String) throws -> FeatureValue { .decimal(try ExactDecimal(parsing: text)) }
        #expect(v[view: "cnt_60s"] == .int(3))
        #expect(v[view: "total_60s"] == (try decimal("60.3")))
        #expect(v[view: "mean_60s"] == (try decimal("20.1")))
        #expect(v[view: "spread_60s"] == (try decimal("28.21359")))  // √((0.01+0.04+3600)/3 − 20.1²) = 28.2135897…
        #expect(v[view: "low_60s"] == (try decimal("0.1")))
        #expect(v[view: "high_60s"] == (try decimal("60")))
        #expect(v[view: "opening_60s"] == .string("FR"))
        #expect(v[view: "latest_60s"] == .string("US"))  // ties on time broken by LSN
        #expect(v[view: "merchants_60s"] == .int(2))
        #expect(v[view: "exposure"] == (try decimal("40.25")))
        #expect(v[view: "big"] == .int(1))
        #expect(v[view: "units_60s"] == .int(1))
        #expect(v[view: "unit_max"] == .int(4))
        #expect(v[view: "latest_mcc"] == .null)
    }

    /// Aggregates may need more digits than an event's 18 (SPEC §1: written back "with its exact
    /// digits"): sums, averages and deviations are never rounded or clamped to fit, and an int sum
    /// past the 64-bit range is the exact integer, not Int64.max.
    /// Per-view freshness reads the newest event time of each event type, kept in the ingest
    /// transaction: a late event does not move it back, and it survives a reopen.
    @Test func newestEventTimesArePerTypeAndIgnoreLateEvents() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try Self.open(directory)
            defer { store.close() }
            _ = try await store.ingest(Self.auth("a", Self.t0 + 5_000))
            _ = try await store.ingest(Self.auth("b", Self.t0))  // late, inside the bound
            #expect(try store.newestEventTimes() == ["auth": Self.t0 + 5_000])
            _ = try await store.ingest(#"{"type":"settle","id":"s","ts":\#(Self.t0 + 1),"card":"c1","amount":1}"#)
        }
        let store = try Self.open(directory)
        defer { store.close() }
        #expect(try store.newestEventTimes() == ["auth": Self.t0 + 5_000, "settle": Self.t0 + 1])
        let views = Dictionary(uniqueKeysWithValues: try store.viewNewestEventTimes().map { ($0.view, $0.time) })
        #expect(views["exposure"] == Self.t0 + 5_000, "the newest of its event types")
        #expect(views["cnt"] == Self.t0 + 5_000)
    }

    /// One entity, one name: a vector names its key in the one spelling the store keys it by.
    @Test func aVectorNamesItsKeyCanonically() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let definitions = try DefinitionsLoader.load(
            text: """
                entities: { shop: { key: int }, person: { key: string } }
                events:
                  sale: { id: sid, time: ts, fields: { sid: string, shop: int, person: string } }
                views:
                  shop_sales: { entity: shop, from: sale, aggregate: count, window: lifetime }
                  person_sales: { entity: person, from: sale, aggregate: count, window: lifetime }
                """)
        let store = try Self.open(directory, definitions: definitions)
        defer { store.close() }
        _ = try await store.ingest(#"{"type":"sale","sid":"s1","ts":\#(Self.t0),"shop":1,"person":"Zo\#u{00EB}"}"#)
        for (entity, spelling, canonical) in [
            ("shop", "01", "1"), ("shop", "+1", "1"), ("shop", "1", "1"),
            ("person", "Zoe\u{0308}", "Zo\u{00EB}"),  // decomposed ë reads the composed key
        ] {
            let vector = try store.read { snapshot in
                try snapshot.vector(entity: entity, key: spelling, at: try snapshot.token(at: Self.t0))
            }
            #expect(vector.key == canonical, "\(spelling)")
            #expect(vector.key.unicodeScalars.elementsEqual(canonical.unicodeScalars), "\(spelling)")
            #expect(vector.views.first?.value == .int(1), "\(spelling)")
        }
    }

    @Test func aggregatesPastEighteenDigitsOrSixtyFourBitsKeepEveryDigit() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // No stddev over amount here: its squares would overflow 128 bits for 18-digit amounts.
        let wide = try DefinitionsLoader.load(
            text: ViewFixture.eventsText + """
                views:
                  total: { entity: card, from: auth, aggregate: sum(amount), window: 60s }
                  mean: { entity: card, from: auth, aggregate: avg(amount), window: 60s }
                  units: { entity: card, from: auth, aggregate: sum(n), window: [60s, lifetime] }
                  spread: { entity: merchant, from: auth, where: "amount < 100000000000000", aggregate: stddev(amount), window: 60s }
                """)
        let store = try Self.open(directory, definitions: wide)
        defer { store.close() }
        let body = [
            Self.auth("a", Self.t0, card: "wide", merchant: "m", amount: "999999999999999999", n: Int(Int64.max)),
            Self.auth("b", Self.t0 + 1, card: "wide", merchant: "m", amount: "0.5", n: 1),
            Self.auth("c", Self.t0, card: "deep", merchant: "s", amount: "10000000000000", n: Int(Int64.min)),
            Self.auth("d", Self.t0 + 1, card: "deep", merchant: "s", amount: "1", n: -1),
        ]
        let result = try await store.ingest("[" + body.joined(separator: ",") + "]")
        #expect(result.accepted == 4)
        func text(_ entity: String, _ key: String, _ view: String) throws -> String {
            let vector = try store.read { snapshot in
                try snapshot.vector(entity: entity, key: key, at: try snapshot.token(at: Self.t0 + 10))
            }
            var json: [UInt8] = []
            vector[view: view]?.appendJSON(to: &json)
            return String(decoding: json, as: UTF8.self)
        }
        #expect(try text("card", "wide", "total") == "999999999999999999.5")
        #expect(try text("card", "wide", "mean") == "499999999999999999.75")
        #expect(try text("card", "wide", "units_60s") == "9223372036854775808")
        #expect(try text("card", "deep", "units_lifetime") == "-9223372036854775809")
        #expect(try text("card", "deep", "mean") == "5000000000000.5")
        // √(n·Σv² − (Σv)²)/n overflows 128 bits here; the 256-bit path keeps it exact.
        #expect(try text("merchant", "s", "spread") == "4999999999999.5")
    }

    @Test func lateEventsCorrectWindowsAndOldTokensKeepTheirAnswer() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        _ = try await store.ingest(Self.auth("a", Self.t0, amount: "5"))
        _ = try await store.ingest(Self.auth("b", Self.t0 + 30_000, amount: "7"))
        let token = try store.read { try $0.token(at: Self.t0 + 40_000) }
        let before = try store.read { try $0.vector(entity: "card", key: "c1", at: token) }
        #expect(before[view: "cnt_60s"] == .int(2))
        // 150 later commits, each with an event late into the token's windows (and one on time).
        for index in 0..<150 {
            let late = Self.auth("late\(index)", Self.t0 + 10_000 + Int64(index), amount: "1", country: "DE")
            let onTime = Self.auth("now\(index)", Self.t0 + 40_000 + Int64(index), amount: "2")
            _ = try await store.ingest("[\(late),\(onTime)]")
        }
        let after = try store.read { try $0.vector(entity: "card", key: "c1", at: token) }
        #expect(after.recomputed)
        #expect(after.views.map(\.name) == before.views.map(\.name))
        for (old, new) in zip(before.views, after.views) { #expect(old.value == new.value, "\(old.name)") }
        // The current state includes the late events exactly.
        let now = try Self.vector(store, at: Self.t0 + 40_000)
        #expect(now[view: "cnt_60s"] == .int(2 + 150 + 1))
        #expect(now[view: "latest_60s"] == .string("FR"))
        #expect(!now.recomputed)
    }

    @Test func aDistinctMemberTooLongForTheIndexFallsBackToScanningExactly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let definitions = try DefinitionsLoader.load(
            text: ViewFixture.eventsText + """
                views:
                  countries: { entity: card, from: auth, aggregate: count_distinct(country), window: 1h }
                """)
        let store = try Self.open(directory, definitions: definitions)
        defer { store.close() }
        // A 600-byte member does not fit an LMDB key with the index's prefix: c1's index is
        // marked unusable and its reads scan the window; c2 keeps its index.
        let long = String(repeating: "x", count: 600)
        let events = [
            Self.auth("a", Self.t0, country: "FR"), Self.auth("b", Self.t0 + 1, country: long),
            Self.auth("c", Self.t0 + 2, country: "DE"), Self.auth("d", Self.t0 + 3, country: "FR"),
            Self.auth("e", Self.t0, card: "c2", country: "FR"), Self.auth("f", Self.t0 + 1, card: "c2", country: "DE"),
        ]
        let result = try await store.ingest("[" + events.joined(separator: ",") + "]")
        #expect(
            result.outcomes.allSatisfy {
                if case .accepted = $0 { true } else { false }
            })
        #expect(try Self.vector(store, at: Self.t0 + 10)[view: "countries"] == .int(3))
        #expect(try Self.vector(store, at: Self.t0 + 1)[view: "countries"] == .int(2))
        #expect(try Self.vector(store, "c2", at: Self.t0 + 10)[view: "countries"] == .int(2))
        #expect(try Self.vector(store, at: Self.t0 + 3_600_002)[view: "countries"] == .int(1))
    }

    @Test func keysAndEntitiesAreChecked() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        #expect(throws: TallyError.self) {
            try store.read { try $0.vector(entity: "device", key: "d1", at: try $0.token()) }
        }
        let unknown = try? store.read { try $0.vector(entity: "device", key: "d1", at: try $0.token()) }
        #expect(unknown == nil)
        do {
            _ = try store.read { try $0.vector(entity: "device", key: "d1", at: try $0.token()) }
        } catch {
            #expect((error as? TallyError)?.code == .unknownEntity)
        }
        for bad in ["", String(repeating: "k", count: 257)] {
            do {
                _ = try store.read { try $0.vector(entity: "card", key: bad, at: try $0.token()) }
                Issue.record("key of \(bad.utf8.count) bytes was accepted")
            } catch {
                #expect((error as? TallyError)?.code == .invalidArgument)
            }
        }
        do {
            _ = try store.read { try $0.token(lsn: LSN(5)) }
            Issue.record("a token ahead of the store was accepted")
        } catch {
            #expect((error as? TallyError)?.code == .invalidArgument)
        }
        // A composed and a decomposed "é" are one key (NFC), as on ingest.
        _ = try await store.ingest(Self.auth("a", Self.t0, card: "caf\u{E9}"))
        #expect(try Self.vector(store, "cafe\u{301}", at: Self.t0)[view: "cnt_60s"] == .int(1))
    }

    @Test func aViewAddedLaterIsBackfilledFromTheLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var without = ViewFixture.definitions
        without.views.removeAll { $0.name == "total" || $0.name == "merchants" }
        do {
            let store = try Self.open(directory, definitions: without)
            defer { store.close() }
            _ = try await store.ingest(
                "[\(Self.auth("a", Self.t0, merchant: "m1", amount: "3")),\(Self.auth("b", Self.t0 + 5, merchant: "m2", amount: "4"))]"
            )
            #expect(try Self.vector(store, at: Self.t0 + 10)[view: "total_60s"] == nil)
        }
        let store = try Self.open(directory)
        defer { store.close() }
        let vector = try Self.vector(store, at: Self.t0 + 10)
        #expect(vector[view: "total_60s"] == .decimal(try ExactDecimal(parsing: "7")))
        #expect(vector[view: "merchants_lifetime"] == .int(2))
        #expect(vector[view: "cnt_60s"] == .int(2))
        #expect(try store.read { $0.definitionsVersion } == 2)
    }

    @Test func anEventWhoseRunningTotalsWouldOverflowIsRejectedAndChangesNothing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        // The square of 10^12 in micro-units (10^36) fits; three of them do not sum past 2^127 ≈ 1.7·10^38,
        // but 10^17.5 squared does overflow 128 bits: stddev rejects that event.
        let huge = "999999999999.999999"
        let first = try await store.ingest(Self.auth("a", Self.t0, amount: huge))
        #expect(first.accepted == 1)
        var outcomes: [String?] = []
        for index in 0..<200 {
            let result = try await store.ingest(Self.auth("x\(index)", Self.t0 + Int64(index), amount: huge))
            outcomes.append(result.outcomes[0].rejectionCode)
            if result.outcomes[0].rejectionCode != nil { break }
        }
        #expect(outcomes.last == "out_of_range")
        let lsn = try store.read { try $0.lsn }
        #expect(lsn.rawValue == UInt64(outcomes.count))  // the rejected one took no LSN
        // It was not remembered: a redelivery is judged again (and rejected again), not a duplicate.
        let again = try await store.ingest(
            Self.auth("x\(outcomes.count - 1)", Self.t0 + Int64(outcomes.count - 1), amount: huge))
        #expect(again.outcomes[0].rejectionCode == "out_of_range")
    }
}
