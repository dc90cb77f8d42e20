import Foundation
import Testing

@testable import Tally

/// Focused checks of the definitions loader (SPEC §1). The schema/loader agreement over every
/// fixture is in DefinitionsSchemaTests.
@Suite struct DefinitionsLoaderTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let header = """
        entities:
          card: { key: string }
        events:
          auth: { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }

        """

    /// The issues loading `text` reports (none if it loads).
    static func issues(_ text: String) -> [DefinitionIssue] {
        do {
            _ = try DefinitionsLoader.load(text: text, source: "test.yaml")
            return []
        } catch {
            return error.issues
        }
    }

    @Test func theExampleLoadsWithEverything() throws {
        let definitions = try DefinitionsLoader.load(
            path: Self.packageRoot.appendingPathComponent("Examples/cards.yaml").path)
        #expect(definitions.entities.count == 2)
        #expect(definitions.events.count == 4)
        #expect(definitions.views.count == 10)
        #expect(definitions.views.flatMap(\.servedNames).count == 11)
        #expect(definitions.lists.count == 2)
        #expect(definitions.flags.count == 1)
        #expect(definitions.rules.count == 4)
        #expect(definitions.rules.map(\.name) == ["blocked", "hold", "big_exposure", "burst_abroad"])
        #expect(definitions.outcomes == Definitions.builtInOutcomes)
        #expect(definitions.settings.maxFuture == 300_000)
        #expect(definitions.settings.retention == 30 * 86_400_000)

        let authorization = try #require(definitions.eventType(named: "authorization"))
        #expect(authorization.idField == "txn_id")
        #expect(authorization.lateness == 3_600_000)
        #expect(authorization.field(named: "ts")?.type == FieldType(.timestamp))
        #expect(authorization.field(named: "mcc")?.type == FieldType(.string, nullable: true))
        #expect(authorization.catalog.owner == "payments")
        #expect(authorization.catalog.tags == ["core"])

        let exposure = try #require(definitions.view(named: "card_exposure"))
        #expect(exposure.aggregate == .sum)
        #expect(exposure.argument == nil)
        #expect(exposure.windows == [.lifetime])
        #expect(exposure.sources.map(\.eventType) == ["authorization", "settlement", "reversal"])
        #expect(exposure.sources.map(\.value) == ["+amount", "-amount", "-amount"])
        #expect(definitions.flags.first?.on == ["authorization"])
        #expect(definitions.flags.first?.duration == 3_600_000)
    }

    @Test func aRuleNamingAFlagWhenNoneIsDeclaredSaysSo() {
        let found = Self.issues(Self.header + "rules:\n  - { name: r, when: \"flag(nope)\", outcome: block }\n")
        #expect(
            found.count == 1 && found.first?.message.contains("unknown flag 'nope' (declared: none)") == true,
            "\(found)")
        let filter = Self.issues(
            Self.header
                + "views:\n  v: { entity: card, from: auth, where: \"flag(nope)\", aggregate: count, window: 1h }\n")
        #expect(filter.first?.message.contains("flag( ) is not available here") == true, "\(filter)")
    }

    @Test func anErrorCarriesItsPathLineAndColumn() {
        let issues = Self.issues(
            Self.header + """
                views:
                  v1: { entity: card, from: auth, aggregate: count, window: 5x }
                """)
        #expect(issues.count == 1)
        let issue = issues.first
        #expect(issue?.path == "views.v1.window")
        #expect(issue?.line == 6)
        #expect(issue?.column == 61)
        #expect(issue?.message.contains("'5x' is not a duration") == true)
        #expect(issue?.description.hasPrefix("views.v1.window:6:61: ") == true)
    }

    @Test func everyProblemIsReportedAtOnceInFileOrder() {
        let issues = Self.issues(
            """
            entities:
              card: { key: string, colour: red }
            events:
              auth:
                id: txn_id
                time: ts
                fields: { txn_id: string, card: string, amount: money }
            views:
              v1: { entity: card, from: auth, aggregate: count, window: 0s }
              v2: { entity: merchant, from: auth, aggregate: count, window: 1h }
            """)
        #expect(
            issues.map(\.path) == [
                "entities.card.colour", "events.auth.fields.amount", "views.v1.window", "views.v2.entity",
            ])
        #expect(issues.map(\.line) == [2, 7, 9, 10])
    }

    @Test func aViewsBadExpressionIsReportedBesideOtherProblems() {
        let issues = Self.issues(
            Self.header + """
                views:
                  v6: { entity: card, from: auth, where: "amount >", aggregate: count, window: 60s }
                  v8: { entity: card, from: auth, aggregate: count, window: 401d }
                """)
        #expect(issues.map(\.path) == ["views.v6.where", "views.v8.window"], "\(issues)")
        #expect(issues.map(\.line) == [6, 7])
    }

    @Test(arguments: ["401d", "[1h, 1h]", "1y"])
    func aViewsBadExpressionIsReportedBesideItsOwnBadWindow(window: String) {
        let issues = Self.issues(
            Self.header + """
                views:
                  v9: { entity: card, from: auth, where: "amount >", aggregate: sum(amount), window: \(window) }
                """)
        #expect(Set(issues.map(\.path)) == ["views.v9.window", "views.v9.where"], "\(issues)")
    }

    @Test func aLatenessLongerThanTheRetentionPointsAtTheLateness() {
        let issues = Self.issues(
            """
            settings: { retention: 1h }
            entities: { card: { key: string } }
            events:
              auth:
                id: txn_id
                time: ts
                lateness: 2h
                fields: { txn_id: string, card: string }
              settle: { id: txn_id, time: ts, lateness: 3h, fields: { txn_id: string, card: string } }
            """)
        #expect(issues.map(\.path) == ["events.auth.lateness", "events.settle.lateness"], "\(issues)")
        #expect(issues.map(\.line) == [7, 9])
    }

    @Test func aDuplicateKeyIsReportedWithItsPosition() {
        let issues = Self.issues(
            """
            entities:
              card: { key: string }
            events:
              auth: { id: txn_id, time: ts, fields: { txn_id: string, card: string } }
              auth: { id: txn_id, time: ts, fields: { txn_id: string, card: string } }
            """)
        #expect(issues.count == 1)
        #expect(issues.first?.line == 4 && issues.first?.column == 3, "\(issues)")
        #expect(issues.first?.message.contains("'auth'") == true)
    }

    @Test func unknownKeysAreErrorsNotIgnored() {
        let inEvent = Self.issues(
            """
            entities: { card: { key: string } }
            events:
              auth: { id: txn_id, time: ts, fields: { txn_id: string, card: string }, colour: red }
            """)
        #expect(inEvent.map(\.path) == ["events.auth.colour"])
        #expect(inEvent.first?.message.contains("unknown key 'colour' (allowed: id, time, lateness, fields") == true)

        let atTop = Self.issues(Self.header + "metrics: {}\n")
        #expect(atTop.map(\.path) == ["metrics"])
        #expect(atTop.first?.line == 5)

        let inView = Self.issues(
            Self.header + "views:\n  v: { entity: card, from: auth, aggregate: count, window: 1h, ttl: 5m }\n")
        #expect(inView.map(\.path) == ["views.v.ttl"])
    }

    @Test(arguments: [
        ("1500ms", Int64(1_500)), ("90s", 90_000), ("5m", 300_000), ("24h", 86_400_000), ("30d", 2_592_000_000),
        ("0s", 0), ("007s", 7_000),
    ])
    func durationsConvertToMilliseconds(text: String, milliseconds: Int64) {
        #expect(DurationLiteral.milliseconds(text) == milliseconds)
    }

    @Test(arguments: [
        "", "5", "ms", "1.5h", "-1s", "+1s", "5min", "5 m", "1_000s", "5M", "0000000000001s", "999999999999d",
    ])
    func nonDurationsAreRejected(text: String) {
        #expect(DurationLiteral.milliseconds(text) == nil)
    }

    @Test func windowsConvertAndAViewWithSeveralIsServedPerWindow() throws {
        let definitions = try DefinitionsLoader.load(
            text: Self.header + """
                views:
                  card_count: { entity: card, from: auth, aggregate: count, window: [1500ms, 90s, 5m, 24h, 30d, lifetime] }
                  card_sum_1h: { entity: card, from: auth, aggregate: sum(amount), window: 1h }
                """)
        let multi = try #require(definitions.view(named: "card_count"))
        #expect(multi.windows.map(\.milliseconds) == [1_500, 90_000, 300_000, 86_400_000, 2_592_000_000, nil])
        #expect(
            multi.servedNames == [
                "card_count_1500ms", "card_count_90s", "card_count_5m", "card_count_24h", "card_count_30d",
                "card_count_lifetime",
            ])
        #expect(definitions.view(named: "card_sum_1h")?.servedNames == ["card_sum_1h"])

        let example = try DefinitionsLoader.load(
            path: Self.packageRoot.appendingPathComponent("Examples/cards.yaml").path)
        #expect(example.view(named: "card_txn_count")?.servedNames == ["card_txn_count_5m", "card_txn_count_1h"])
    }

    @Test func windowsOutsideOneSecondToFourHundredDaysAreRejected() {
        for (window, valid) in [("999ms", false), ("1s", true), ("400d", true), ("401d", false), ("9601h", false)] {
            let issues = Self.issues(
                Self.header + "views:\n  v: { entity: card, from: auth, aggregate: count, window: \(window) }\n")
            #expect(issues.isEmpty == valid, "window \(window): \(issues)")
        }
    }

    @Test func yamlScalarsThatAreNotStringsAreRejectedButKeysAreTakenAsWritten() {
        // `on:` as a KEY is the text "on"; as a VALUE, plain `on` and `42` are not strings.
        let flag = "flags:\n  hold: { entity: card, set_when: \"true\", on: auth }\n"
        #expect(Self.issues(Self.header + flag).isEmpty)
        let boolean = Self.issues(Self.header + "flags:\n  hold: { entity: card, set_when: \"true\", on: on }\n")
        #expect(boolean.map(\.path) == ["flags.hold.on"])
        #expect(boolean.first?.message == "must be a string")
        let owner = Self.issues(Self.header + "lists:\n  l: { of: card, owner: 42, description: yes }\n")
        #expect(owner.map(\.path) == ["lists.l.owner", "lists.l.description"])
        #expect(Self.issues(Self.header + "lists:\n  l: { of: card, owner: \"42\", description: 'yes' }\n").isEmpty)
    }

    @Test func anEmptyFromMappingIsAnErrorNotADroppedView() {
        let issues = Self.issues(Self.header + "views:\n  v: { entity: card, from: {}, aggregate: sum, window: 1h }\n")
        #expect(issues.map(\.path) == ["views.v.from"])
        #expect(issues.first?.message == "must not be empty")
    }

    @Test func theReservedNameTypeCannotBeAFieldNorTheTimeField() {
        let field = Self.issues(
            "entities: { card: { key: string } }\nevents:\n  auth: { id: i, time: ts, fields: { i: string, card: string, type: string } }\n"
        )
        #expect(field.map(\.path) == ["events.auth.fields.type"])
        let time = Self.issues(
            "entities: { card: { key: string } }\nevents:\n  auth: { id: i, time: type, fields: { i: string, card: string } }\n"
        )
        #expect(time.map(\.path) == ["events.auth.time"])
        #expect(time.first?.message.contains("'type' is reserved") == true)
    }
}
