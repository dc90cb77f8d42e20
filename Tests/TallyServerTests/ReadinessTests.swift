import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@_spi(Testing) @testable import Tally
@testable import TallyServer

@Suite("readiness")
struct ReadinessTests {
    @Test(
        "while the map grows, readyz answers 503 not_ready at once; after it, 200, and the ingest that needed it is committed"
    )
    func duringAMapResize() async throws {
        let growing = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        // Only the first growth after the test arms it is held (its ingest's).
        let armed = Atomic<Bool>(false)
        let held = Atomic<Int>(0)
        let fixture = try ServerFixture { options in
            options.initialMapSize = 1 << 20
            options.mapGrowing = {
                guard armed.exchange(false, ordering: .relaxed) else { return }
                held.add(1, ordering: .relaxed)
                growing.signal()
                // Held until the test has asked readyz. Bounded (a readyz that waited for the
                // resize would hang here), and long: under a loaded full suite this test's tasks
                // may not run for many seconds, and a hold that ends first fails it falsely.
                _ = resume.wait(timeout: .now() + 180)
            }
        }
        defer { fixture.remove() }
        try await fixture.test(.router) { client in
            #expect(try await client.send("/readyz", .get).status == .ok)
            // About 2 MB of events and views, more than the map has room for: it grows.
            let batch = (0..<6_000).map { authorization("e\($0)", card: "c\($0 % 500)") }
            let body = "[" + batch.joined(separator: ",") + "]"
            armed.store(true, ordering: .relaxed)
            let ingest = Task {
                try await client.send("/v1/events", .post, headers: fixture.headers(.ingest), body: body)
            }
            let grew = try await offPool { growing.wait(timeout: .now() + 120) == .success }
            #expect(grew, "the ingest grew the map")
            let during = try await client.send("/readyz", .get)
            resume.signal()
            #expect(during.status == .serviceUnavailable)
            #expect(during.errorCode == "not_ready")
            #expect(during.text.contains("resized"))
            let answer = try await ingest.value
            #expect(answer.status == .ok)
            #expect(answer.json["accepted"] as? Int == 6_000)
            #expect(try await client.send("/readyz", .get).status == .ok)
        }
        #expect(held.load(ordering: .relaxed) == 1)
        #expect(fixture.lsn == 6_000)
    }
}
