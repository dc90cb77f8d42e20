import Foundation
import Testing

@_spi(Testing) @testable import Tally

@Suite struct IngestTests {
    let clock = IngestFixture.Clock()
    let now: Int64 = 1_700_000_000_000

    @Test func everyFieldTypeRoundTrips() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let result = try await store.ingest(
            #"[{"type":"payment","txn_id":"t1","ts":"2023-11-14T22:13:20.123Z","card":"c\u00e9","amount":"-0.10","count":-9223372036854775808,"approved":false,"settled_at":1700000000456,"note":"a\"b\\c\nd"},"#
                + #"{"type":"transfer","seq":42,"at":1699999999000,"account":7,"value":null}]"#)
        #expect(result.accepted == 2, "\(result.outcomes)")
        try store.read { snapshot throws in
            let payment = try #require(try snapshot.event(at: LSN(1)))
            #expect(payment.type == "payment")
            #expect(payment.time == 1_699_999_999_999 + 124)  // 2023-11-14T22:13:20.123Z
            #expect(payment.ingestTime == now)
            #expect(payment.fields["txn_id"] == .string("t1"))
            #expect(payment.fields["card"] == .string("c\u{e9}"))
            #expect(payment.fields["amount"] == .decimal(try ExactDecimal(parsing: "-0.1")))
            #expect(payment.fields["count"] == .int(Int64.min))
            #expect(payment.fields["approved"] == .bool(false))
            #expect(payment.fields["settled_at"] == .timestamp(1_700_000_000_456))
            #expect(payment.fields["note"] == .string("a\"b\\c\nd"))
            #expect(payment.json.hasPrefix(#"{"type":"payment","ts":1700000000123,"txn_id":"t1""#))
            let transfer = try #require(try snapshot.event(at: LSN(2)))
            #expect(transfer.fields["seq"] == .int(42))
            #expect(transfer.fields["account"] == .int(7))
            #expect(transfer.fields["value"] == .null)
            #expect(try snapshot.lsn == LSN(2))
        }
    }

    @Test func decomposedUnicodeIsStoredNFCSoBothFormsAreOneKey() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let composed = try await store.ingest(IngestFixture.payment("caf\u{e9}", ts: now))
        let decomposed = try await store.ingest(IngestFixture.payment("cafe\u{301}", ts: now))
        #expect(composed.outcomes == [.accepted(LSN(1))])
        #expect(decomposed.outcomes == [.duplicate(of: LSN(1))])
    }

    @Test func duplicatesAcrossRequestsAndInsideOneAreAppliedOnce() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let first = try await store.ingest(
            "[\(IngestFixture.payment("a", ts: now)),\(IngestFixture.payment("a", ts: now))]")
        #expect(first.outcomes == [.accepted(LSN(1)), .duplicate(of: LSN(1))])
        // Same event again, written differently (member order, decimal spelling): same payload.
        let again = try await store.ingest(
            #"{"approved":true,"count":3,"amount":12.500,"card":"c1","ts":\#(now),"txn_id":"a","type":"payment"}"#)
        #expect(again.outcomes == [.duplicate(of: LSN(1))])
        #expect(again.lsn == LSN(1), "nothing new was logged")
        // Duplicates get no LSN: the next accepted event is LSN 2.
        let next = try await store.ingest(IngestFixture.payment("b", ts: now))
        #expect(next.outcomes == [.accepted(LSN(2))])
    }

    @Test func sameIdWithADifferentPayloadIsAConflict() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        _ = try await store.ingest(IngestFixture.payment("a", ts: now))
        let differentAmount = try await store.ingest(IngestFixture.payment("a", ts: now, amount: "99"))
        let differentTime = try await store.ingest(IngestFixture.payment("a", ts: now - 1))
        #expect(differentAmount.outcomes.first?.rejectionCode == "conflict")
        #expect(differentTime.outcomes.first?.rejectionCode == "conflict")
        // Same id under another event type is another event.
        let other = try await store.ingest(#"{"type":"transfer","seq":1,"at":\#(now),"account":1}"#)
        #expect(other.accepted == 1)
        #expect(try store.read { try $0.lsn } == LSN(2))
    }

    @Test func lateAndFutureBoundsAreExactToTheMillisecond() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let watermark = now - 60_000
        _ = try await store.ingest(IngestFixture.payment("w", ts: watermark))
        let lateness: Int64 = 10_000  // payment lateness 10s
        let maxFuture: Int64 = 60_000  // settings.max_future 1m
        let result = try await store.ingest(
            "["
                + [
                    IngestFixture.payment("late-edge", ts: watermark - lateness),
                    IngestFixture.payment("too-late", ts: watermark - lateness - 1),
                    IngestFixture.payment("future-edge", ts: now + maxFuture),
                    IngestFixture.payment("too-future", ts: now + maxFuture + 1),
                ].joined(separator: ",") + "]")
        #expect(result.outcomes.map(\.rejectionCode) == [nil, "late", nil, "future"])
        // The accepted future-edge event moved the watermark: the late bound follows it at once.
        let after = try await store.ingest(IngestFixture.payment("behind", ts: now + maxFuture - lateness - 1))
        #expect(after.outcomes.first?.rejectionCode == "late")
        #expect(try store.read { try $0.watermark } == now + maxFuture)
    }

    @Test func theWatermarkAdvancesEventByEventInsideARequest() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let result = try await store.ingest(
            "[\(IngestFixture.payment("a", ts: now)),\(IngestFixture.payment("b", ts: now - 10_001))]")
        #expect(result.outcomes.map(\.rejectionCode) == [nil, "late"])
    }

    @Test func theWatermarkSurvivesRestart() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var store = try IngestFixture.open(directory, clock: clock)
        _ = try await store.ingest(IngestFixture.payment("a", ts: now))
        store.close()
        store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        #expect(try store.read { try $0.watermark } == now)
        let late = try await store.ingest(IngestFixture.payment("b", ts: now - 10_001))
        #expect(late.outcomes.first?.rejectionCode == "late")
        let duplicate = try await store.ingest(IngestFixture.payment("a", ts: now))
        #expect(duplicate.outcomes == [.duplicate(of: LSN(1))], "the idempotency index survives restart too")
    }

    @Test func aDuplicateIsReportedAsSuchEvenWhenItIsOlderThanTheLatenessBound() async throws {
        // Order of checks: duplicate before lateness (SPEC §2).
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        _ = try await store.ingest(IngestFixture.payment("old", ts: now - 30_000))
        _ = try await store.ingest(IngestFixture.payment("new", ts: now))
        let redelivered = try await store.ingest(IngestFixture.payment("old", ts: now - 30_000))
        #expect(redelivered.outcomes == [.duplicate(of: LSN(1))])
    }

    @Test func rejectedEventsInsideABatchLeaveTheOthersAccepted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let result = try await store.ingest(
            "[\(IngestFixture.payment("a", ts: now)),{\"type\":\"nope\"},\(IngestFixture.payment("b", ts: now))]")
        #expect(result.accepted == 2)
        #expect(result.rejected.map(\.index) == [1])
        #expect(result.outcomes == [.accepted(LSN(1)), result.outcomes[1], .accepted(LSN(2))])
        #expect(result.lsn == LSN(2))
    }

    @Test func rejectedEventsAreNotRemembered() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let tooFuture = try await store.ingest(IngestFixture.payment("a", ts: now + 120_000))
        #expect(tooFuture.outcomes.first?.rejectionCode == "future")
        clock.set(now + 120_000)
        let later = try await store.ingest(IngestFixture.payment("a", ts: now + 120_000))
        #expect(later.outcomes == [.accepted(LSN(1))])
    }

    @Test func hashCollisionsInTheIdIndexStayExact() async throws {
        // Every id hashes alike: each hit must be confirmed against the stored event.
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock, idHash: { _ in 42 })
        defer { store.close() }
        let first = try await store.ingest(
            "[\(IngestFixture.payment("a", ts: now)),\(IngestFixture.payment("b", ts: now)),\(IngestFixture.payment("c", ts: now))]"
        )
        #expect(first.outcomes == [.accepted(LSN(1)), .accepted(LSN(2)), .accepted(LSN(3))])
        let again = try await store.ingest(
            "[\(IngestFixture.payment("a", ts: now)),\(IngestFixture.payment("c", ts: now)),\(IngestFixture.payment("b", ts: now, amount: "7"))]"
        )
        #expect(again.outcomes[0] == .duplicate(of: LSN(1)))
        #expect(again.outcomes[1] == .duplicate(of: LSN(3)))
        #expect(again.outcomes[2].rejectionCode == "conflict")
        let late = try await store.ingest(IngestFixture.payment("d", ts: now - 10_001))
        #expect(late.outcomes.first?.rejectionCode == "late")
        let lateDuplicate = try await store.ingest(IngestFixture.payment("c", ts: now))
        #expect(lateDuplicate.outcomes == [.duplicate(of: LSN(3))])
        // Ints ids of another type collide too, and are still distinct events.
        let transfers = try await store.ingest(
            #"[{"type":"transfer","seq":1,"at":\#(now),"account":1},{"type":"transfer","seq":2,"at":\#(now),"account":1},{"type":"transfer","seq":1,"at":\#(now),"account":1}]"#
        )
        #expect(transfers.outcomes == [.accepted(LSN(4)), .accepted(LSN(5)), .duplicate(of: LSN(4))])
    }

    @Test func openingAStoreReadsNoLogEntry() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try IngestFixture.open(directory, clock: clock)
        let events = (0..<2_000).map { IngestFixture.payment("e\($0)", ts: now) }
        _ = try await store.ingest("[" + events.joined(separator: ",") + "]")
        store.close()
        // Background retention is off here: its turn reads the oldest record (one entry, not a
        // replay), and it could run before the count below; opening itself must read none.
        let reopened = try IngestFixture.open(directory, clock: clock, countAccesses: true, backgroundRetention: false)
        defer { reopened.close() }
        #expect(reopened.entryAccesses(in: "log") == 0)
        #expect(reopened.entryAccesses(in: "ids") == 0)
        #expect(try reopened.read { try $0.lsn } == LSN(2_000))
        #expect(reopened.entryAccesses(in: "log") == 0, "reading the LSN touches only meta")
    }
}
