import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// `decide` (docs/DECISIONS.md): vectors, lists, flags and rules on one snapshot, the scored event
/// ingested in the same transaction (or not), the record committed before the answer, and
/// replay at the recorded snapshot.
@Suite struct DecisionTests {
    static let t0: Int64 = 1_780_000_000_000

    static let definitions: Definitions = try! DefinitionsLoader.load(
        text: """
            entities:
              card: { key: string }
              merchant: { key: string }
            events:
              auth:
                id: id
                time: ts
                fields: { id: string, card: string, merchant: string, amount: decimal, country: string }
            views:
              card_count_60s: { entity: card, from: auth, aggregate: count, window: 60s }
              card_total: { entity: card, from: auth, aggregate: sum(amount), window: 1h }
              merchant_count: { entity: merchant, from: auth, aggregate: count, window: 1h }
            lists:
              blocked: { of: card }
              risky: { of: string }
            flags:
              hold: { entity: card, set_when: "card_count_60s > 3", on: auth, for: 1h }
            rules:
              - { name: blocked, when: "card in @blocked", outcome: block }
              - { name: held, when: "flag(hold)", outcome: review }
              - { name: big, when: "card_total + request.amount > 1000", outcome: review }
              - { name: risky_burst, when: "card_count_60s >= 2 and request.country in @risky", outcome: block }
              - { name: busy_merchant, when: "merchant_count > 100", outcome: review }
            """)

    static func open(_ directory: TemporaryDirectory, options: Tally.Options = Tally.Options()) throws -> Tally {
        var options = options
        options.wallClock = { t0 + 60_000 }
        return try Tally.open(directory: directory.path, definitions: definitions, options: options)
    }

    static func auth(_ n: Int, card: String = "c1", amount: String = "10", country: String = "FR", at time: Int64)
        -> [UInt8]
    {
        Array(
            #"{"type":"auth","id":"e\#(n)","ts":\#(time),"card":"\#(card)","merchant":"m1","amount":"\#(amount)","country":"\#(country)"}"#
                .utf8)
    }

    static func decide(
        _ store: Tally, _ payload: [UInt8], ingest: DecisionRequest.Ingest? = nil, at: Int64 = t0 + 30_000
    ) async throws -> Decision {
        try await store.decide(DecisionRequest(payload: payload, ingest: ingest, at: at))
    }

    @Test func includingAndBeforeTheEventDifferByItAndTheRecordIsTheAnswer() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        #expect(try await store.ingest(json: Self.auth(1, at: Self.t0)).accepted == 1)

        let including = try await Self.decide(store, Self.auth(2, at: Self.t0 + 1000), ingest: .including)
        #expect(including.ingest == .including && including.event == .accepted(LSN(2)))
        #expect(including.id == LSN(3) && including.token.lsn == LSN(2))
        #expect(including.vectors.map(\.entity) == ["card", "merchant"], "entities from the payload's fields")
        #expect(including.vectors[0][view: "card_count_60s"] == .int(2))
        #expect(try store.read { try $0.lsn } == LSN(3), "the event and the record")

        let before = try await Self.decide(store, Self.auth(3, at: Self.t0 + 2000), ingest: .before)
        #expect(before.token.lsn == LSN(3) && before.event == .accepted(LSN(4)) && before.id == LSN(5))
        #expect(before.vectors[0][view: "card_count_60s"] == .int(2), "not yet the scored event")
        let after = try store.read { s in
            try s.vector(entity: "card", key: "c1", at: try s.token(at: Self.t0 + 30_000))[view: "card_count_60s"]
        }
        #expect(after == .int(3), "but it was ingested in the same transaction")

        let none = try await Self.decide(store, Self.auth(4, at: Self.t0 + 3000), ingest: .notIngested)
        #expect(none.event == nil && none.token.lsn == LSN(5) && none.id == LSN(6))
        // An event payload's defaults: decided before it (then ingested), at its own time.
        let byDefault = try await store.decide(DecisionRequest(payload: Self.auth(5, at: Self.t0 + 4000)))
        #expect(byDefault.ingest == .before && byDefault.event == .accepted(LSN(7)) && byDefault.token.lsn == LSN(6))
        #expect(byDefault.token.at == Self.t0 + 4000 && byDefault.vectors[0][view: "card_count_60s"] == .int(3))

        // The record is the answer, kept under the decision's id.
        var answer: [UInt8] = []
        including.appendJSON(to: &answer)
        let recorded = try store.decision(including.id)
        #expect(recorded.json == answer && recorded.token == including.token)
        let text = String(decoding: answer, as: UTF8.self)
        #expect(text.hasPrefix(#"{"id":3,"outcome":"allow","reasons":[],"rules":[{"name":"blocked","#))
        #expect(text.contains(#""ingest":"including","event":{"outcome":"accepted","lsn":2},"request":{"type":"auth""#))
        do {
            _ = try store.decision(LSN(4))
            Issue.record("LSN 4 is an event, not a decision")
        } catch {
            #expect(error.code == .unknownDecision)
        }
    }

    @Test func theRecordNamesEachRulesVersionAsTheCatalogDoes() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        let first = try await Self.decide(store, Self.auth(1, at: Self.t0), ingest: .notIngested)
        #expect(first.rules.map(\.version) == [1, 1, 1, 1, 1])
        // Version 2 changes one rule's threshold and adds a view; the other rules stay version 1.
        var changed = Self.definitions
        changed.rules[2].when = "card_total + request.amount > 2000"
        changed.views.append(changed.views[0])
        changed.views[changed.views.count - 1].name = "card_count_60s_again"
        #expect(try await store.apply(changed).version == 2)
        let second = try await Self.decide(store, Self.auth(2, at: Self.t0), ingest: .notIngested)
        #expect(second.token.definitionsVersion == 2)
        #expect(second.rules.map(\.version) == [1, 1, 2, 1, 1])
        #expect(
            Dictionary(uniqueKeysWithValues: second.rules.map { ($0.name, $0.version) }) == store.catalogVersions.rules)
        let text = String(decoding: try store.decision(second.id).json, as: UTF8.self)
        #expect(text.contains(#"{"name":"big","outcome":"review","matched":false,"version":2}"#), "\(text)")
        // Replay recomputes the rules of the version served then, with the same versions.
        let replay = try store.replayDecision(first.id)
        #expect(replay.matches, "\(replay.differences)")
    }

    @Test func rulesReadListsFlagsRequestFieldsAndTheFirstMatchDecides() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        // big: card_total + request.amount > 1000, with the request's decimal amount.
        var decision = try await Self.decide(store, Self.auth(1, amount: "999.99", at: Self.t0), ingest: .notIngested)
        #expect(decision.outcome == "allow" && decision.reasons.isEmpty)
        decision = try await Self.decide(store, Self.auth(1, amount: "1000.01", at: Self.t0), ingest: .notIngested)
        #expect(decision.outcome == "review" && decision.reasons == ["big"])
        // Lists at the snapshot's time; the first matching rule's outcome wins, all are reported.
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0)
        decision = try await Self.decide(store, Self.auth(1, amount: "1000.01", at: Self.t0), ingest: .notIngested)
        #expect(decision.outcome == "block" && decision.reasons == ["blocked", "big"])
        decision = try await Self.decide(
            store, Self.auth(1, amount: "5", at: Self.t0), ingest: .notIngested, at: Self.t0 - 1)
        #expect(decision.outcome == "allow", "before the membership's interval")
        // risky_burst: a string list, the request's country.
        _ = try await store.addListMember("risky", member: "XX", from: Self.t0)
        for n in 1...2 { _ = try await store.ingest(json: Self.auth(n, card: "c2", at: Self.t0 + Int64(n))) }
        decision = try await Self.decide(
            store, Self.auth(9, card: "c2", country: "XX", at: Self.t0 + 3), ingest: .notIngested)
        #expect(decision.reasons == ["risky_burst"] && decision.outcome == "block")
        // A flag set by its rule: the fourth event in 60 s sets hold.
        for n in 3...4 { _ = try await store.ingest(json: Self.auth(n, card: "c2", at: Self.t0 + Int64(n))) }
        decision = try await Self.decide(store, Self.auth(9, card: "c2", at: Self.t0 + 5), ingest: .notIngested)
        #expect(decision.reasons == ["held"] && decision.vectors[0].flags.first?.holds == true)
        // A plain payload's fields are typed like the event fields of the same name.
        decision = try await store.decide(
            DecisionRequest(
                payload: Array(#"{"card":"c9","amount":"1000.5"}"#.utf8), ingest: .notIngested, at: Self.t0))
        #expect(decision.reasons == ["big"], "the string \"1000.5\" is the decimal amount")
        // Without a merchant key, merchant views are null and their rules do not hold.
        decision = try await store.decide(
            DecisionRequest(
                payload: Array(#"{"amount":"1","country":"FR"}"#.utf8), entities: [("card", "c3")], at: Self.t0))
        #expect(decision.vectors.map(\.entity) == ["card"] && decision.outcome == "allow")
    }

    @Test func rulesEvaluatedInAReadRecordNothingAndAgreeWithDecide() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0)
        for n in 1...2 { _ = try await store.ingest(json: Self.auth(n, amount: "600", at: Self.t0 + Int64(n))) }
        let payload = Self.auth(3, amount: "1", at: Self.t0 + 10)
        let lsn = try store.read { try $0.lsn }
        let read = try store.read { s in try s.evaluateRules(payload: payload, at: try s.token(at: Self.t0 + 10)) }
        #expect(read.outcome == "block" && read.rules.filter(\.matched).map(\.name) == ["blocked", "big"])
        #expect(try store.read { try $0.lsn } == lsn, "nothing recorded")
        let decision = try await Self.decide(store, payload, ingest: .notIngested, at: Self.t0 + 10)
        #expect(decision.rules == read.rules && decision.outcome == read.outcome)
        #expect(decision.vectors.map(\.views.count) == read.vectors.map(\.views.count))
    }

    @Test func aRejectedScoredEventRecordsNothing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        #expect(try await store.ingest(json: Self.auth(1, at: Self.t0)).accepted == 1)
        // Late: more than an hour behind the watermark.
        #expect(
            await errorCode { _ = try await Self.decide(store, Self.auth(2, at: Self.t0 - 3_700_000)) }
                == "event_rejected")
        // Conflict: the same id with another payload.
        #expect(
            await errorCode { _ = try await Self.decide(store, Self.auth(1, amount: "3", at: Self.t0)) }
                == "event_rejected")
        #expect(
            await errorCode { _ = try await Self.decide(store, Array(#"{"type":"auth"}"#.utf8)) } == "event_rejected")
        #expect(await errorCode { _ = try await Self.decide(store, Array("[1]".utf8)) } == "invalid_argument")
        #expect(await errorCode { _ = try await Self.decide(store, Array("{".utf8)) } == "malformed_json")
        #expect(
            await errorCode { _ = try await Self.decide(store, Array(#"{"amount":1}"#.utf8), ingest: .notIngested) }
                == "invalid_argument", "no entity named")
        #expect(
            await errorCode {
                _ = try await store.decide(DecisionRequest(payload: Array("{}".utf8), entities: [("shop", "s")]))
            } == "unknown_entity")
        // An event payload is checked as ingest checks it, also when it is not ingested.
        #expect(
            await errorCode {
                _ = try await Self.decide(store, Self.auth(3, amount: "abc", at: Self.t0), ingest: .notIngested)
            }
                == "event_rejected")
        // A plain payload's typed fields must be what they claim: never read as null.
        for amount in [#""abc""#, "1e400", "20000000000000000000", "10.0000001", "true"] {
            let payload = Array(#"{"card":"c1","amount":\#(amount)}"#.utf8)
            #expect(await errorCode { _ = try await Self.decide(store, payload) } == "invalid_argument", "\(amount)")
        }
        // One key per entity type, and an event's own keys.
        #expect(
            await errorCode {
                _ = try await store.decide(
                    DecisionRequest(payload: Array("{}".utf8), entities: [("card", "c1"), ("card", "c2")]))
            } == "invalid_argument")
        #expect(
            await errorCode {
                _ = try await store.decide(
                    DecisionRequest(payload: Self.auth(4, at: Self.t0), entities: [("card", "someone_else")]))
            } == "invalid_argument")
        #expect(
            await errorCode {
                _ = try await Self.decide(store, Self.auth(4, at: Self.t0), ingest: .including, at: Self.t0 - 1)
            }
                == "invalid_argument", "including an event after the read's time")
        #expect(try store.read { try $0.lsn } == LSN(1))
        // A duplicate is decided on the state that holds it.
        let duplicate = try await Self.decide(store, Self.auth(1, at: Self.t0), at: Self.t0)
        #expect(duplicate.event == .duplicate(of: LSN(1)) && duplicate.vectors[0][view: "card_count_60s"] == .int(1))
    }

    @Test func aReplayRecomputesTheRecordedSnapshotAfterLateEvents() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        defer { store.close() }
        for n in 1...3 { _ = try await store.ingest(json: Self.auth(n, amount: "400", at: Self.t0 + Int64(n) * 1000)) }
        let decision = try await Self.decide(
            store, Self.auth(4, amount: "1", at: Self.t0 + 5000), ingest: .including, at: Self.t0 + 6000)
        #expect(decision.reasons == ["held", "big"] && decision.outcome == "review")
        // Late events inside its windows change the state the decision read.
        for n in 5...8 { _ = try await store.ingest(json: Self.auth(n, amount: "7", at: Self.t0 + 500 + Int64(n))) }
        let now = try store.read { s in
            try s.vector(entity: "card", key: "c1", at: try s.token(at: Self.t0 + 6000))[view: "card_count_60s"]
        }
        #expect(now == .int(8))
        let replay = try store.replayDecision(decision.id)
        #expect(replay.matches && replay.differences.isEmpty && replay.outcome == decision.outcome)
        #expect(replay.token == decision.token)

        // A record that does not match what the log says is reported, value by value.
        let key = BigEndian.bytes(decision.id.rawValue)
        let decisions = store.databases.decisions
        var tampered = String(decoding: try store.decision(decision.id).json, as: UTF8.self)
        tampered = tampered.replacingOccurrences(of: #""card_count_60s":4"#, with: #""card_count_60s":5"#)
        let bytes = Array(tampered.utf8)
        try await store.write { txn in try txn.put(decisions, key, bytes) }
        let mismatch = try store.replayDecision(decision.id)
        #expect(!mismatch.matches)
        #expect(
            mismatch.differences == [.init(path: "vectors[0].views.card_count_60s", recorded: "5", recomputed: "4")])
    }

    @Test func aJournaledDecisionSurvivesACrashImage() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.durability = .journaled(checkpointInterval: .seconds(3600))
        let store = try Self.open(directory, options: options)
        defer { store.close() }
        let dataAtFirstCheckpoint = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/data.mdb"))
        _ = try await store.addListMember("blocked", member: "c1", from: Self.t0)
        let first = try await Self.decide(store, Self.auth(1, at: Self.t0 + 1000))
        let second = try await Self.decide(store, Self.auth(2, card: "c2", at: Self.t0 + 2000), ingest: .before)
        #expect(first.outcome == "block" && second.outcome == "allow" && second.id == LSN(5))
        let answers = try [first.id, second.id].map { try store.decision($0).json }

        let image = try JournaledDurabilityTests.crashImage(of: directory.path)
        defer { image.remove() }
        try dataAtFirstCheckpoint.write(to: URL(fileURLWithPath: image.path + "/data.mdb"))
        let recovered = try Tally.open(directory: image.path, options: options)
        defer { recovered.close() }
        #expect(try recovered.read { try $0.lsn } == LSN(5))
        #expect(try [first.id, second.id].map { try recovered.decision($0).json } == answers)
        #expect(try recovered.replayDecision(first.id).matches)
    }
}
