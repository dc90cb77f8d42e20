import Foundation
import Synchronization

@_spi(Testing) @testable import Tally

/// Definitions with every field type, and a store on them with a pinned wall clock.
enum IngestFixture {
    static let definitionsText = """
        entities:
          card: { key: string }
          account: { key: int }
        events:
          payment:
            id: txn_id
            time: ts
            lateness: 10s
            fields:
              txn_id: string
              card: string
              amount: decimal
              count: int
              approved: bool
              settled_at: "timestamp?"
              note: "string?"
          transfer:
            id: seq
            time: at
            fields: { seq: int, account: int, value: "decimal?" }
        settings: { max_future: 1m }
        """

    static let definitions: Definitions = try! DefinitionsLoader.load(text: definitionsText)

    /// A mutable clock shared with the store.
    final class Clock: Sendable {
        let now = Atomic<Int64>(1_700_000_000_000)
        func set(_ value: Int64) { now.store(value, ordering: .relaxed) }
        var value: Int64 { now.load(ordering: .relaxed) }
    }

    static func open(
        _ directory: TemporaryDirectory, clock: Clock, countAccesses: Bool = false,
        idHash: (@Sendable ([UInt8]) -> UInt64)? = nil, relaxed: Bool = false, backgroundRetention: Bool = true
    ) throws -> Tally {
        var options = Tally.Options()
        if !backgroundRetention { options.retentionInterval = nil }
        if relaxed { options.durability = .relaxed(flushInterval: .seconds(1)) }
        options.wallClock = { clock.value }
        options.countEntryAccesses = countAccesses
        if let idHash { options.idHash = idHash }
        // A tiny id index (levels of 2, 20, 200, 2,000 entries, then the rest), so ingest tests
        // find duplicates and conflicts in every level and across moves.
        options.idIndexLevelBase = 2
        options.idIndexMoveChunk = 1
        options.viewStageEntries = 8  // view state in both the stage and `views`
        return try Tally.open(directory: directory.path, definitions: definitions, options: options)
    }

    /// A payment event as JSON text with overridable members.
    static func payment(_ id: String, ts: Int64, amount: String = "12.50", extra: String = "") -> String {
        #"{"type":"payment","txn_id":"\#(id)","ts":\#(ts),"card":"c1","amount":\#(amount),"count":3,"approved":true\#(extra)}"#
    }
}

extension Tally {
    /// Ingests one JSON text body (test convenience).
    func ingest(_ json: String) async throws -> IngestResult {
        try await ingest(json: Array(json.utf8))
    }
}

extension EventOutcome {
    var rejectionCode: String? {
        if case .rejected(let rejection) = self { return rejection.code.rawValue }
        return nil
    }
}
