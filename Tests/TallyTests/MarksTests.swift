import Foundation
import PropertyBased
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// Lists and flags (docs/LISTS.md): logged changes with validity intervals of event time, read
/// exactly at any (lsn, at), in the entity's vector and on their own.
@Suite struct MarksTests {
    static let t0: Int64 = 1_780_000_000_000
    static let hour: Int64 = 3_600_000

    static let definitions: Definitions = try! DefinitionsLoader.load(
        text: """
            entities:
              card: { key: string }
              account: { key: int }
            events:
              auth: { id: id, time: ts, fields: { id: string, card: string, account: int } }
            views:
              cnt: { entity: card, from: auth, aggregate: count, window: 1h }
            lists:
              blocked: { of: card }
              watched: { of: card }
              frozen_accounts: { of: account }
              countries: { of: string }
            flags:
              hold: { entity: card, set_when: "cnt > 5", on: auth, for: 1h }
              review: { entity: card, set_when: "cnt > 50", on: auth }
              listed: { entity: card, set_when: "card in @blocked and not flag(hold)", on: auth, for: 10m }
              manual: { entity: card, for: 1h }
            """)

    static func open(_ directory: TemporaryDirectory, clock: Int64 = t0, options: Tally.Options = Tally.Options())
        throws -> Tally
    {
        var options = options
        options.wallClock = { clock }
        return try Tally.open(directory: directory.path, definitions: definitions, options: options)
    }

    static func auth(_ store: Tally, _ n: Int, card: String = "c1", at time: Int64) async throws {
        let event = #"{"type":"auth","id":"e\#(n)","ts":\#(time),"card":"\#(card)","account":7}"#
        #expect(try await store.ingest(json: Array(event.utf8)).accepted == 1)
    }

    static func membership(_ store: Tally, _ member: String, lsn: LSN? = nil, at: Int64) throws -> Bool {
        try store.read { snapshot in
            try snapshot.listMembership("blocked", member: member, at: try snapshot.token(lsn: lsn, at: at)).holds
        }
    }

    static func vectorMarks(_ store: Tally, _ key: String, lsn: LSN? = nil, at: Int64) throws -> [String: Bool] {
        try store.read { snapshot in
            let vector = try snapshot.vector(entity: "card", key: key, at: try snapshot.token(lsn: lsn, at: at))
            var marks: [String: Bool] = [:]
            for flag in vector.flags { marks["flag." + flag.name] = flag.holds }
            for list in vector.lists { marks["list." + list.name] = list.holds }
            return marks
        }
    }

    @Test func aMembershipIsALoggedChangeReadExactlyAtEveryToken() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        try await Self.auth(store, 1, at: Self.t0 - 1000)

        let added = try await store.addListMember("blocked", member: "c1", from: Self.t0)
        #expect(added.changed && added.lsn == LSN(2) && added.member == "c1")
        #expect(added.state == MarkState(changedAt: LSN(2), from: Self.t0, until: nil, added: true))
        #expect(try Self.membership(store, "c1", at: Self.t0))
        #expect(try !Self.membership(store, "c1", at: Self.t0 - 1), "before its interval")
        #expect(try !Self.membership(store, "c1", lsn: LSN(1), at: Self.t0), "before its change")
        #expect(try !Self.membership(store, "c2", at: Self.t0))
        #expect(
            try Self.vectorMarks(store, "c1", at: Self.t0) == [
                "list.blocked": true, "list.watched": false, "flag.hold": false, "flag.review": false,
                "flag.listed": false, "flag.manual": false,
            ])

        let again = try await store.addListMember("blocked", member: "c1", from: Self.t0)
        #expect(!again.changed && again.lsn == nil && again.state.changedAt == LSN(2))
        #expect(try store.read { try $0.lsn } == LSN(2), "an unchanged request takes no LSN")

        let removed = try await store.removeListMember("blocked", member: "c1", at: Self.t0 + Self.hour)
        #expect(removed.changed && removed.lsn == LSN(3))
        #expect(removed.state == MarkState(changedAt: LSN(3), from: Self.t0 + Self.hour, until: nil, added: false))
        #expect(try !Self.membership(store, "c1", at: Self.t0 + Self.hour))
        #expect(try Self.membership(store, "c1", at: Self.t0 + Self.hour - 1), "a removal keeps the past")
        #expect(try Self.membership(store, "c1", lsn: LSN(2), at: Self.t0 + Self.hour), "the token before it")
        let twice = try await store.removeListMember("blocked", member: "c1", at: Self.t0 + 2 * Self.hour)
        #expect(!twice.changed && twice.lsn == nil, "already ended before then")
        // Re-adding a later interval keeps the earlier one at every later LSN.
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0 + 3 * Self.hour)
        #expect(try Self.membership(store, "c1", at: Self.t0) && !Self.membership(store, "c1", at: Self.t0 + Self.hour))
        #expect(try Self.membership(store, "c1", at: Self.t0 + 3 * Self.hour))

        let never = try await store.removeListMember("blocked", member: "c9", at: Self.t0)
        #expect(!never.changed && never.lsn == nil && never.state == .never)
        // A removal changes something only where the key still holds at or after its time.
        _ = try await store.addListMember("blocked", member: "c5", from: Self.t0)
        let ended = try await store.removeListMember("blocked", member: "c5", at: Self.t0 + 2 * Self.hour)
        #expect(ended.changed)
        let earlier = try await store.removeListMember("blocked", member: "c5", at: Self.t0 + Self.hour)
        #expect(earlier.changed, "it held from t0 + 1h to t0 + 2h")
        #expect(try !Self.membership(store, "c5", at: Self.t0 + Self.hour))
        let lsn = try store.read { try $0.lsn }
        let before = try await store.removeListMember("blocked", member: "c5", at: Self.t0 - 1000)
        #expect(before.changed, "it held from t0 to t0 + 1h")
        let nothing = try await store.removeListMember("blocked", member: "c5", at: Self.t0 - 2000)
        #expect(!nothing.changed && nothing.lsn == nil, "nothing holds at or after t0 - 2 s any more")
        #expect(try store.read { try $0.lsn } == LSN(lsn.rawValue + 1))
        // The log holds the change: kind 3 at its LSN.
        let kind = try store.read { s in try s.transaction.value(s.databases.log, BigEndian.bytes(UInt64(2)))?.first }
        #expect(kind == LogRecord.markKind)
    }

    @Test func aFlagExpiresInEventTimeAfterItsFor() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        let set = try await store.setFlag("hold", key: "c1")
        #expect(set.state.from == Self.t0 && set.state.until == Self.t0 + Self.hour, "from the wall clock, for 1h")
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0 + Self.hour - 1)["flag.hold"] == true)
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0 + Self.hour)["flag.hold"] == false)
        let open = try await store.setFlag("review", key: "c1", from: Self.t0 + 5)
        #expect(open.state.until == nil, "a flag without for stays set until cleared")
        _ = try await store.clearFlag("review", key: "c1", at: Self.t0 + 10)
        let reading = try store.read { s in try s.flag("review", key: "c1", at: try s.token(at: Self.t0 + 9)) }
        #expect(reading.holds && reading.state.from == Self.t0 + 5 && reading.state.added, "the set decides t0 + 9")
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0 + 10)["flag.review"] == false)
    }

    @Test func aTimeLeftOutIsTheWallClock() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        // A historical stream: the watermark is a day behind the clock; "now" is still now.
        try await Self.auth(store, 1, card: "c9", at: Self.t0 - 86_400_000)
        let added = try await store.addListMember("blocked", member: "c1")
        #expect(added.state.from == Self.t0)
        let removed = try await store.removeListMember("blocked", member: "c1", at: nil)
        #expect(removed.state.from == Self.t0 && removed.state.until == nil && !removed.state.added)
        let flag = try await store.setFlag("hold", key: "c2")
        #expect(flag.state.from == Self.t0 && flag.state.until == Self.t0 + Self.hour)
        #expect(try Self.vectorMarks(store, "c2", at: Self.t0)["flag.hold"] == true, "a hold set now holds now")
    }

    @Test func aFlagWithoutARuleIsSetOnlyThroughTheAPI() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        for n in 1...8 { try await Self.auth(store, n, at: Self.t0 - 10_000 + Int64(n)) }
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0)["flag.manual"] == false, "no rule sets it")
        let set = try await store.setFlag("manual", key: "c1")
        #expect(set.state.until == Self.t0 + Self.hour, "its for still applies")
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0)["flag.manual"] == true)
    }

    @Test func badRequestsAreRefusedAndChangeNothing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        #expect(await errorCode { _ = try await store.addListMember("nope", member: "c1") } == "unknown_list")
        #expect(await errorCode { _ = try await store.setFlag("nope", key: "c1") } == "unknown_flag")
        #expect(
            await errorCode { _ = try await store.addListMember("frozen_accounts", member: "x1") } == "invalid_argument"
        )
        #expect(await errorCode { _ = try await store.addListMember("blocked", member: "") } == "invalid_argument")
        #expect(
            await errorCode { _ = try await store.addListMember("blocked", member: String(repeating: "k", count: 257)) }
                == "invalid_argument")
        #expect(
            await errorCode { _ = try await store.addListMember("blocked", member: "c1", from: 10, until: 10) }
                == "invalid_argument")
        #expect(
            await errorCode { _ = try await store.addListMember("blocked", member: "c1", from: -1) }
                == "invalid_argument")
        #expect(try store.read { try $0.lsn } == LSN(0))
        // Int keys are canonical: 007 is 7; scalar lists take any string.
        #expect(try await store.addListMember("frozen_accounts", member: "007").member == "7")
        #expect(try await store.addListMember("countries", member: "Cafe\u{301}").member == "Caf\u{E9}")
        let reading = try store.read { s in try s.listMembership("frozen_accounts", member: "7", at: try s.token()) }
        #expect(reading.holds)
    }

    @Test func listingPagesThroughTheMembersThatHold() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        for n in 0..<7 { _ = try await store.addListMember("blocked", member: "c\(n)", from: Self.t0) }
        _ = try await store.removeListMember("blocked", member: "c3", at: Self.t0 + 5)
        _ = try await store.addListMember("watched", member: "c1", from: Self.t0)
        let (first, second, old) = try store.read { s in
            let token = try s.token(at: Self.t0 + 5)
            let first = try s.listMembers("blocked", at: token, limit: 4)
            let second = try s.listMembers("blocked", at: token, after: first.members.last?.member, limit: 4)
            let old = try s.listMembers("blocked", at: try s.token(lsn: LSN(7), at: Self.t0 + 5), limit: 10)
            return (first, second, old)
        }
        #expect(first.members.map(\.member) == ["c0", "c1", "c2", "c4"] && first.more)
        #expect(second.members.map(\.member) == ["c5", "c6"] && !second.more)
        #expect(old.members.map(\.member) == ["c0", "c1", "c2", "c3", "c4", "c5", "c6"], "before the removal")
    }

    @Test func aFormatTwoStoreIsUpgradedByAWritableOpen() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store = try Self.open(directory)
        let meta = store.databases.meta
        try await store.write { txn in try txn.put(meta, MetaKey.formatVersion, BigEndian.bytes(UInt32(2))) }
        store.close()
        store = try Self.open(directory)
        #expect(try store.statistics().formatVersion == StoreLayout.formatVersion)
        let stamped = try store.read { s in
            try s.transaction.value(s.databases.meta, MetaKey.formatVersion).flatMap {
                $0.withUnsafeBytes(BigEndian.uint32)
            }
        }
        #expect(stamped == StoreLayout.formatVersion)
        store.close()
    }

    /// A crash image of a journaled store (no page written after the first checkpoint landed)
    /// recovers every acknowledged list and flag change from the journal, at its LSN.
    @Test func journaledChangesSurviveACrashImage() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.durability = .journaled(checkpointInterval: .seconds(3600))
        let store = try Self.open(directory, options: options)
        defer { store.close() }
        let dataAtFirstCheckpoint = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/data.mdb"))
        try await Self.auth(store, 1, at: Self.t0 - 10)
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0 - 100)
        try await Self.auth(store, 2, at: Self.t0 - 5)
        _ = try await store.setFlag("review", key: "c1", from: Self.t0 - 50)
        _ = try await store.removeListMember("blocked", member: "c1", at: Self.t0 - 20)
        let lsn = try store.read { try $0.lsn }
        #expect(lsn == LSN(5))
        let expected = try (Self.t0 - 100...Self.t0 - 15).map { try Self.vectorMarks(store, "c1", at: $0) }

        let image = try JournaledDurabilityTests.crashImage(of: directory.path)
        defer { image.remove() }
        try dataAtFirstCheckpoint.write(to: URL(fileURLWithPath: image.path + "/data.mdb"))
        let recovered = try Tally.open(directory: image.path, options: options)
        defer { recovered.close() }
        #expect(try recovered.read { try $0.lsn } == lsn)
        #expect(try (Self.t0 - 100...Self.t0 - 15).map { try Self.vectorMarks(recovered, "c1", at: $0) } == expected)
        #expect(try Self.membership(recovered, "c1", lsn: LSN(3), at: Self.t0 - 20))
        #expect(try !Self.membership(recovered, "c1", at: Self.t0 - 20))
        // A flag its rule set is derived again by the replayed ingest, under the same LSN.
        for n in 10..<16 { try await Self.auth(recovered, n, card: "c5", at: Self.t0 - 1) }
        let held = try recovered.read { s in try s.flag("hold", key: "c5", at: try s.token(at: Self.t0 - 1)) }
        #expect(held.holds && held.state.changedAt == LSN(11))
    }

    @Test func aRuleSetsItsFlagUnderTheEventsLSNForItsDuration() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, clock: Self.t0 + 4 * Self.hour)
        defer { store.close() }
        for n in 1...6 { try await Self.auth(store, n, at: Self.t0 + Int64(n) * 1000) }
        let sixth = Self.t0 + 6000
        func hold(lsn: LSN? = nil, at: Int64) throws -> MarkReading {
            try store.read { s in try s.flag("hold", key: "c1", at: try s.token(lsn: lsn, at: at)) }
        }
        // cnt > 5 first holds after the sixth event: set for [ts, ts + 1h) under its LSN.
        #expect(
            try hold(at: sixth).state
                == MarkState(changedAt: LSN(6), from: sixth, until: sixth + Self.hour, added: true))
        #expect(try hold(at: sixth).holds && !hold(at: sixth - 1).holds && !hold(at: sixth + Self.hour).holds)
        #expect(try !hold(lsn: LSN(5), at: sixth).holds, "not before the event that set it")
        #expect(try store.read { try $0.lsn } == LSN(6), "the rule takes no LSN of its own")
        // Another event while it holds paints its own hour; the earlier times keep theirs.
        try await Self.auth(store, 7, at: Self.t0 + 9000)
        #expect(
            try hold(at: Self.t0 + 9000).state
                == MarkState(changedAt: LSN(7), from: Self.t0 + 9000, until: Self.t0 + 9000 + Self.hour, added: true))
        #expect(try hold(at: sixth).holds && hold(at: sixth).state.changedAt == LSN(6))
        #expect(try hold(at: sixth + Self.hour).holds, "extended by the seventh")
        // A burst after a gap does not erase the first one at any later LSN.
        for n in 10...15 { try await Self.auth(store, n, at: Self.t0 + 3 * Self.hour + Int64(n)) }
        #expect(try hold(at: sixth).holds && !hold(at: Self.t0 + 2 * Self.hour).holds)
        #expect(try hold(at: Self.t0 + 3 * Self.hour + 15).holds)
        #expect(try Self.vectorMarks(store, "c1", at: Self.t0 + 9000)["flag.hold"] == true)
        #expect(try Self.vectorMarks(store, "c2", at: Self.t0 + 9000)["flag.hold"] == false)
    }

    /// A rule reads the views its request's earlier events changed, whichever level of the view
    /// stage holds them: with a budget of 0 every commit empties the stage, so a request starts
    /// with an empty one and fills it as it goes.
    @Test(arguments: [0, 3, 262_144])
    func aRuleSeesTheEarlierEventsOfItsOwnRequest(stageEntries: Int) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.viewStageEntries = stageEntries
        let store = try Self.open(directory, clock: Self.t0 + 4 * Self.hour, options: options)
        defer { store.close() }
        try await Self.auth(store, 0, card: "c9", at: Self.t0)  // a commit before: the stage moved
        let batch = (1...7).map { n in
            #"{"type":"auth","id":"e\#(n)","ts":\#(Self.t0 + Int64(n) * 1000),"card":"c1","account":7}"#
        }
        let result = try await store.ingest(json: Array(("[" + batch.joined(separator: ",") + "]").utf8))
        #expect(result.accepted == 7)
        let sixth = Self.t0 + 6000
        let state = try store.read { s in try s.flag("hold", key: "c1", at: try s.token(at: sixth)).state }
        #expect(state == MarkState(changedAt: LSN(7), from: sixth, until: sixth + Self.hour, added: true))
    }

    @Test func aRuleSeesListsAndOtherFlagsAtTheEventsTime() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0 + 5000)
        try await Self.auth(store, 1, at: Self.t0 + 4999)  // before the membership begins
        func listed(_ key: String = "c1", at: Int64) throws -> Bool {
            try store.read { s in try s.flag("listed", key: key, at: try s.token(at: at)).holds }
        }
        #expect(try !listed(at: Self.t0 + 4999))
        try await Self.auth(store, 2, at: Self.t0 + 5000)
        #expect(try listed(at: Self.t0 + 5000) && !listed(at: Self.t0 + 5000 + 600_000))
        try await Self.auth(store, 3, card: "c2", at: Self.t0 + 5000)
        #expect(try !listed("c2", at: Self.t0 + 5000))
        // `not flag(hold)`: with hold set on c3, listing c3 sets nothing.
        _ = try await store.addListMember("blocked", member: "c3", from: Self.t0)
        _ = try await store.setFlag("hold", key: "c3", from: Self.t0)
        try await Self.auth(store, 4, card: "c3", at: Self.t0 + 6000)
        #expect(try !listed("c3", at: Self.t0 + 6000))
    }

    // MARK: Against a model

    /// One change as the model keeps it.
    /// A change as the model keeps it: an interval painted true (add, set) or false (remove, clear).
    struct Change {
        let lsn: UInt64
        let added: Bool
        let from: Int64
        let until: Int64

        func same(as other: Change?) -> Bool {
            other.map { $0.added == added && $0.from == from && $0.until == until } ?? false
        }
    }

    /// A random run of list and flag changes between events; every membership and flag at every
    /// LSN and at the edges of every interval equals a model that keeps each key's changes. (The
    /// flag's rule, `cnt > 50`, never holds here: only API changes set it.)
    static func check(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        var model: [String: [Change]] = [:]  // "list/c1", "flag/c1"
        var lsn: UInt64 = 0
        var times: Set<Int64> = [Self.t0]
        func time() -> Int64 { Self.t0 + Int64(random.next() % 20) * 1000 - 10_000 }
        for step in 0..<30 {
            let member = "c\(random.next() % 3)"
            let isFlag = random.next() % 2 == 0
            let slot = (isFlag ? "flag/" : "list/") + member
            let current = model[slot]?.last
            let report: MarkChangeReport
            var next: Change?
            switch random.next() % 5 {
            case 0:
                try await Self.auth(store, step, card: member, at: Self.t0)
                lsn += 1
                continue
            case 1, 2:
                let from = time()
                let until: Int64? = random.next() % 3 == 0 ? nil : from + 1000 * Int64(1 + random.next() % 8)
                report =
                    isFlag
                    ? try await store.setFlag("review", key: member, from: from, until: until)
                    : try await store.addListMember("blocked", member: member, from: from, until: until)
                let end = until ?? Int64.max
                next = Change(lsn: lsn + 1, added: true, from: from, until: end)
            default:
                let at = time()
                report =
                    isFlag
                    ? try await store.clearFlag("review", key: member, at: at)
                    : try await store.removeListMember("blocked", member: member, at: at)
                // A removal changes something only where the key holds at some time ≥ `at` (holding
                // changes only at the edges of the changes' intervals, so those are the times to try).
                let history = model[slot] ?? []
                func holds(_ t: Int64) -> Bool { history.last { $0.from <= t && t < $0.until }?.added ?? false }
                let edges = [at] + history.flatMap { [$0.from, $0.until] }.filter { $0 >= at && $0 < Int64.max }
                next =
                    edges.contains(where: holds) ? Change(lsn: lsn + 1, added: false, from: at, until: Int64.max) : nil
            }
            let expected = next?.same(as: current) == true ? nil : next
            #expect(report.changed == (expected != nil), "seed \(seed) step \(step)")
            if let expected {
                lsn += 1
                model[slot, default: []].append(expected)
                times.formUnion([expected.from, expected.from - 1, expected.until, expected.until - 1])
            }
        }
        let head = lsn
        try store.read { snapshot in
            #expect(try snapshot.lsn == LSN(head), "seed \(seed)")
            for at in times where at >= 0 && at <= Timestamp.maximum {
                for readLSN in 0...head {
                    let token = try snapshot.token(lsn: LSN(readLSN), at: at)
                    for member in ["c0", "c1", "c2"] {
                        // The newest change at or before the LSN whose interval holds `at` decides.
                        func oracle(_ slot: String) -> Bool {
                            model[slot]?.last(where: { $0.lsn <= readLSN && $0.from <= at && at < $0.until })?.added
                                ?? false
                        }
                        let vector = try snapshot.vector(entity: "card", key: member, at: token)
                        let list = try snapshot.listMembership("blocked", member: member, at: token).holds
                        let flag = try snapshot.flag("review", key: member, at: token).holds
                        let context = "seed \(seed): \(member) at lsn \(readLSN), t \(at)"
                        #expect(list == oracle("list/" + member), "\(context) list")
                        #expect(flag == oracle("flag/" + member), "\(context) flag")
                        #expect(vector.lists.first { $0.name == "blocked" }?.holds == list, "\(context) vector list")
                        #expect(vector.flags.first { $0.name == "review" }?.holds == flag, "\(context) vector flag")
                    }
                }
            }
        }
    }

    @Test func everyMembershipEqualsTheModelOnRandomChanges() async {
        let count = Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? (isCI ? 100 : 1000)
        await propertyCheck(count: count, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }
}
