import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// With the view stage on, an entity that several events of one write transaction touch is
/// written past the stage from its `viewStageThroughEvents`-th event on (docs/VIEWS.md, "Busy
/// entities bypass the stage"): after the commit the stage holds none of its state, while an
/// entity of fewer events stays there. Either way every vector reads as without a stage.
@Suite struct ViewStageTests {
    static let start: Int64 = 1_780_000_000_000

    /// Events per card in the first request; the second request has one event of `busy`.
    static let firstRequest = ["busy": 3, "pair": 2, "quiet": 1]

    static func ndjson(_ cards: [(card: String, count: Int)], firstId: Int) -> [UInt8] {
        var body: [UInt8] = []
        var id = firstId
        for (card, count) in cards {
            for _ in 0..<count {
                let line =
                    #"{"type":"auth","id":\#(id),"ts":\#(start + Int64(id) * 1_000),"card":"\#(card)","amount":\#(id % 7).5}"#
                body.append(contentsOf: line.utf8)
                body.append(10)
                id += 1
            }
        }
        return body
    }

    /// Per card: entries the stage holds after each request, and the card's vector after both.
    static func ingest(stageEntries: Int?, throughEvents: Int?) async throws -> (
        staged: [[String: Int]], vectors: [String: [String]]
    ) {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let options = ViewReadCostTests.options(
            stageEntries: stageEntries, throughEvents: throughEvents, now: start + 86_400_000)
        let store = try Tally.open(
            directory: directory.path, definitions: ViewReadCostTests.definitions, options: options)
        defer { store.close() }
        func stagedPerCard() throws -> [String: Int] {
            try store.read { snapshot in
                var staged: [String: Int] = [:]
                for card in firstRequest.keys {
                    let entity = try Snapshot.entityKey(card, type: .string, entity: "card").encoded
                    staged[card] = try snapshot.transaction.stageEntryCount(snapshot.databases.views, prefix: entity)
                }
                return staged
            }
        }
        let first = firstRequest.sorted { $0.key < $1.key }.map { (card: $0.key, count: $0.value) }
        _ = try await store.ingest(ndjson: ndjson(first, firstId: 1))
        let afterFirst = try stagedPerCard()
        _ = try await store.ingest(ndjson: ndjson([("busy", 1)], firstId: 100))
        let afterSecond = try stagedPerCard()
        let vectors = try store.read { snapshot in
            let token = try snapshot.token(at: start + 200_000)
            var vectors: [String: [String]] = [:]
            for card in firstRequest.keys {
                let vector = try snapshot.vector(entity: "card", key: card, at: token)
                vectors[card] = vector.views.map { "\($0.name)=\($0.value)" }
            }
            return vectors
        }
        return ([afterFirst, afterSecond], vectors)
    }

    @Test(arguments: [nil, 1, 2, 3] as [Int?])
    func busyEntitiesBypassTheStage(throughEvents: Int?) async throws {
        let plain = try await Self.ingest(stageEntries: nil, throughEvents: throughEvents)
        let staged = try await Self.ingest(stageEntries: 1_000_000, throughEvents: throughEvents)
        #expect(staged.vectors == plain.vectors, "the stage changes no vector")
        #expect(plain.staged.allSatisfy { $0.values.allSatisfy { $0 == 0 } }, "staging off leaves the stage empty")
        for (card, events) in Self.firstRequest {
            let bypassed = throughEvents.map { events >= $0 } ?? false
            let held = staged.staged[0][card] ?? -1
            #expect(
                bypassed ? held == 0 : held > 0,
                "\(card), \(events) events, through \(String(describing: throughEvents)): \(held) staged")
        }
        // `busy`'s one event of the second request is staged (unless every event bypasses), on top of
        // nothing when its first request bypassed the stage.
        let busyAfter = staged.staged[1]["busy"] ?? -1
        if throughEvents == 1 {
            #expect(busyAfter == 0)
        } else if throughEvents == nil || throughEvents! > 3 {
            #expect(busyAfter > staged.staged[0]["busy"]!)
        } else {
            #expect(busyAfter > 0)
        }
    }
}
