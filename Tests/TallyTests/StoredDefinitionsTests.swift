import Foundation
import Testing

@_spi(Testing) @testable import Tally

/// Definitions are stored and versioned: the same definitions keep their version, compatible
/// changes get the next one, incompatible event-type changes are refused.
@Suite struct StoredDefinitionsTests {
    static let base = """
        entities: { card: { key: string } }
        events:
          payment: { id: txn_id, time: ts, fields: { txn_id: string, card: string, amount: decimal } }
        """
    let now: Int64 = 1_700_000_000_000

    func open(_ directory: TemporaryDirectory, _ text: String) throws -> Tally {
        var options = Tally.Options()
        options.wallClock = { 1_700_000_000_000 }
        return try Tally.open(
            directory: directory.path, definitions: try DefinitionsLoader.load(text: text), options: options)
    }

    func payment(_ id: String, extra: String = "") -> String {
        #"{"type":"payment","txn_id":"\#(id)","ts":\#(now),"card":"c","amount":1\#(extra)}"#
    }

    @Test func sameDefinitionsKeepTheirVersionACompatibleChangeGetsTheNext() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store = try open(directory, Self.base)
        #expect(try store.read { $0.definitionsVersion } == 1)
        _ = try await store.ingest(payment("a"))
        store.close()

        store = try open(directory, Self.base)
        #expect(try store.read { $0.definitionsVersion } == 1, "reopening with the same definitions changes nothing")
        store.close()

        // A nullable field and a new event type are compatible: version 2, old events still read.
        let extended =
            Self.base.replacingOccurrences(of: "amount: decimal }", with: "amount: decimal, note: \"string?\" }")
            + "\n  refund: { id: rid, time: ts, fields: { rid: string, card: string } }\n"
        store = try open(directory, extended)
        defer { store.close() }
        #expect(try store.read { $0.definitionsVersion } == 2)
        let old = try store.read { try $0.event(at: LSN(1)) }
        #expect(old?.type == "payment")
        let result = try await store.ingest(payment("b", extra: #","note":"hi""#))
        #expect(result.accepted == 1)
        #expect(try await store.ingest(payment("a")).outcomes == [.duplicate(of: LSN(1))], "old ids are still known")
    }

    @Test(arguments: [
        ("amount: decimal }", "amount: int }", "changes type"),
        ("amount: decimal }", "amount: decimal, region: string }", "must be nullable"),
        ("id: txn_id", "id: card", "id field changes"),
        ("amount: decimal }", "amount: \"int?\" }", "changes type"),
    ])
    func incompatibleEventTypeChangesAreRefused(_ from: String, _ to: String, _ fragment: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try open(directory, Self.base).close()
        #expect {
            try open(directory, Self.base.replacingOccurrences(of: from, with: to))
        } throws: { error in
            guard let error = error as? TallyError else { return false }
            return error.code == .incompatibleDefinitions && error.message.contains(fragment)
        }
        // The store still opens with its definitions.
        let store = try open(directory, Self.base)
        defer { store.close() }
        #expect(try store.read { $0.definitionsVersion } == 1)
    }

    @Test func eventTypeCodesSurviveRemovalAndReturn() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let two = Self.base + "\n  refund: { id: rid, time: ts, fields: { rid: string, card: string } }\n"
        var store = try open(directory, two)
        _ = try await store.ingest(#"{"type":"refund","rid":"r1","ts":\#(now),"card":"c"}"#)
        store.close()
        store = try open(directory, Self.base)  // refund removed: allowed
        #expect(
            try await store.ingest(#"{"type":"refund","rid":"r2","ts":\#(now),"card":"c"}"#).outcomes.first?
                .rejectionCode == "unknown_type")
        store.close()
        store = try open(directory, two)  // back again: same code, so r1 is still known
        defer { store.close() }
        #expect(
            try await store.ingest(#"{"type":"refund","rid":"r1","ts":\#(now),"card":"c"}"#).outcomes == [
                .duplicate(of: LSN(1))
            ])
    }

    /// A type or field dropped and declared again must still read the events stored before the
    /// drop: the change is checked against every version, not only the newest.
    @Test(arguments: [
        ("refund: { id: rid, time: ts, fields: { rid: string, card: string, amount: int } }", "changes type"),
        ("refund: { id: card, time: ts, fields: { rid: string, card: string, amount: decimal } }", "id field changes"),
        (
            "refund: { id: rid, time: ts, fields: { rid: string, card: string, amount: decimal, memo: string } }",
            "must be nullable"
        ),
    ])
    func aTypeDroppedAndDeclaredAgainMustReadItsStoredEvents(_ again: String, _ fragment: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let refund = "refund: { id: rid, time: ts, fields: { rid: string, card: string, amount: decimal } }"
        var store = try open(directory, Self.base + "\n  " + refund + "\n")
        _ = try await store.ingest(#"{"type":"refund","rid":"r1","ts":\#(now),"card":"c","amount":3.5}"#)
        store.close()
        try open(directory, Self.base).close()  // refund dropped: allowed, version 2
        #expect {
            try open(directory, Self.base + "\n  " + again + "\n")
        } throws: { error in
            guard let error = error as? TallyError else { return false }
            return error.code == .incompatibleDefinitions && error.message.contains(fragment)
        }
        // Declared as it was, it is accepted (version 3) and its stored event reads again.
        store = try open(directory, Self.base + "\n  " + refund + "\n")
        defer { store.close() }
        #expect(try store.read { $0.definitionsVersion } == 3)
        #expect(try store.read { try $0.event(at: LSN(1)) }?.type == "refund")
    }

    @Test func aProblemEveryVersionSharesIsReportedOnce() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try open(directory, Self.base).close()
        for extra in ["note", "memo"] {  // versions 2 and 3, each still with amount: decimal
            let text = Self.base.replacingOccurrences(
                of: "amount: decimal }", with: "amount: decimal, \(extra): \"string?\" }")
            try open(directory, text).close()
        }
        #expect {
            try open(directory, Self.base.replacingOccurrences(of: "amount: decimal }", with: "amount: int }"))
        } throws: { error in
            guard let error = error as? TallyError, error.code == .incompatibleDefinitions else { return false }
            return error.message.components(separatedBy: "changes type from decimal").count == 2
        }
    }

    @Test func aFieldDroppedAndDeclaredAgainKeepsItsType() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store = try open(directory, Self.base)
        _ = try await store.ingest(payment("a"))
        store.close()
        let withoutAmount = Self.base.replacingOccurrences(of: ", amount: decimal }", with: " }")
        try open(directory, withoutAmount).close()
        #expect {
            try open(directory, Self.base.replacingOccurrences(of: "amount: decimal }", with: "amount: \"int?\" }"))
        } throws: { error in
            guard let error = error as? TallyError else { return false }
            return error.code == .incompatibleDefinitions && error.message.contains("changes type from decimal")
                && error.message.contains("events stored under version 1")
        }
        // Events stored while it was dropped lack it: it comes back nullable, with its old type.
        store = try open(
            directory, Self.base.replacingOccurrences(of: "amount: decimal }", with: "amount: \"decimal?\" }"))
        store.close()
    }

    /// A history that already disagrees with itself (an older binary accepted a re-declared
    /// type with another field type) is checked back to where it disagrees, so the store can
    /// still move on.
    @Test func aHistoryThatAlreadyDisagreesIsCheckedBackToItsNewestClash() throws {
        func definitions(_ refund: String?) throws -> Definitions {
            try DefinitionsLoader.load(text: Self.base + (refund.map { "\n  refund: \($0)\n" } ?? ""))
        }
        let decimal = "{ id: rid, time: ts, fields: { rid: string, amount: decimal } }"
        let int = "{ id: rid, time: ts, fields: { rid: string, amount: int } }"
        let history = [(UInt32(1), try definitions(decimal)), (2, try definitions(nil)), (3, try definitions(int))]
        #expect(StoredDefinitions.incompatibilities(history: history, to: try definitions(int)).isEmpty)
        let back = StoredDefinitions.incompatibilities(history: history, to: try definitions(decimal))
        #expect(back == ["refund.amount changes type from int to decimal"], "\(back)")
        // A consistent history is checked all the way: version 1 still binds a re-declaration.
        let consistent = [(UInt32(1), try definitions(decimal)), (2, try definitions(nil))]
        let problems = StoredDefinitions.incompatibilities(history: consistent, to: try definitions(int))
        #expect(problems == ["refund.amount changes type from decimal to int"], "\(problems)")
    }

    @Test func aStoreWithoutDefinitionsRefusesIngestClearly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Tally.open(directory: directory.path)
        defer { store.close() }
        await #expect { try await store.ingest(payment("a")) } throws: { ($0 as? TallyError)?.code == .noDefinitions }
    }

    @Test func requestsOverTheEventLimitAreRefusedWhole() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.maxEventsPerRequest = 3
        let store = try Tally.open(
            directory: directory.path, definitions: try DefinitionsLoader.load(text: Self.base), options: options)
        defer { store.close() }
        let body = "[" + (0..<4).map { payment("e\($0)") }.joined(separator: ",") + "]"
        await #expect { try await store.ingest(body) } throws: { ($0 as? TallyError)?.code == .tooManyEvents }
        #expect(try store.read { try $0.lsn } == .zero)
    }
}
