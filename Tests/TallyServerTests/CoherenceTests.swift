import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TallyServer

@Suite("coherence over HTTP")
struct CoherenceTests {
    @Test("while events stream in, every /v1/vectors answer is one snapshot: counts equal its LSN")
    func vectorsAreOneSnapshotUnderConcurrentIngest() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        let events = 150
        let at = baseTime + 1_000_000  // every event is inside the 1 h windows
        try await fixture.test { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for index in 0..<events {
                        let response = try await client.send(
                            "/v1/events", .post, headers: fixture.headers(.ingest),
                            body: authorization("co\(index)", time: baseTime + Int64(index)))
                        #expect(response.status == .ok)
                    }
                }
                for _ in 0..<2 {
                    group.addTask {
                        let body = #"""
                            {"entities":[{"entity":"card","key":"c1"},{"entity":"merchant","key":"m1"},{"entity":"card","key":"c1"}],"at":\#(at)}
                            """#
                        for _ in 0..<events {
                            let response = try await client.send(
                                "/v1/vectors", .post, headers: fixture.headers(.read), body: body)
                            let json = response.json
                            let vectors = json["vectors"] as? [[String: Any]] ?? []
                            let lsn = (json["snapshot"] as? [String: Any])?["lsn"] as? Int
                            let views = vectors.map { $0["views"] as? [String: Any] ?? [:] }
                            #expect(views.count == 3)
                            let cardCount = views.first?["card_txn_count_1h"] as? Int
                            let merchantCount = views.dropFirst().first?["merchant_txn_count_1h"] as? Int
                            let again = views.last?["card_txn_count_1h"] as? Int
                            #expect(cardCount == lsn && merchantCount == lsn && again == lsn, "\(response.text)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(fixture.lsn == UInt64(events))
    }
}
