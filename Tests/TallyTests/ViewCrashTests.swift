import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally

/// SIGKILLs a child ingesting events at random moments; after each reopen every acknowledged event
/// is in the log at its LSN, and every view equals the oracle recomputed from the log: view state
/// commits with the events or not at all.
@Suite(.serialized) struct ViewCrashTests {
    @Test(arguments: ["durable", "journaled"])
    func afterSIGKILLEveryViewEqualsTheOracle(durability: String) async throws {
        let kills = Int(ProcessInfo.processInfo.environment["TALLY_CRASH_KILLS"] ?? "") ?? (isCI ? 8 : 16)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ackPath = directory.path + ".acks"
        let definitionsPath = directory.path + ".yaml"
        try ViewFixture.definitionsText.write(toFile: definitionsPath, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: ackPath)
            try? FileManager.default.removeItem(atPath: definitionsPath)
        }
        var generator = SystemRandomNumberGenerator()
        var checkedVectors = 0
        var eventsAtEnd = 0
        var journalRecoveries = 0
        for run in 0..<kills {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: crashProbePath)
            child.arguments = ["ingest", directory.path, definitionsPath, ackPath, "run\(run)", "4"]
            child.environment = ProcessInfo.processInfo.environment.merging(["TALLY_DURABILITY": durability]) { $1 }
            let output = Pipe()
            child.standardOutput = output
            try child.run()
            _ = try await waitForLine("acked", in: output)  // its first acknowledged event (or EOF if it died)
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...200, using: &generator)))
            kill(child.processIdentifier, SIGKILL)
            try await offPool { child.waitUntilExit() }

            let store = try Tally.open(
                directory: directory.path, definitions: ViewFixture.definitions,
                options: reopenOptions(durability, run: run))
            defer { store.close() }
            if store.environment.journalRecovery?.restoredMetaPages == true { journalRecoveries += 1 }
            var logged: [ViewFixture.Accepted] = []
            var byID: [String: UInt64] = [:]
            let head = try store.read { snapshot in
                try snapshot.forEachEvent { event in
                    guard case .string(let id)? = event.fields["id"], case .string(let card)? = event.fields["card"],
                        case .decimal(let amount)? = event.fields["amount"]
                    else { return true }
                    byID[id] = event.lsn.rawValue
                    logged.append(
                        .init(
                            lsn: event.lsn.rawValue, type: event.type, time: event.time, card: card,
                            merchant: event.fields["merchant"].flatMap {
                                if case .string(let m) = $0 { m } else { nil }
                            },
                            amount: Decimal(string: amount.description)!, n: 1, country: "FR", mcc: nil))
                    return true
                }
                return try snapshot.lsn
            }
            let acked = (try? String(contentsOfFile: ackPath, encoding: .utf8))?.split(separator: "\n") ?? []
            for line in acked.dropLast() {  // the last line may be torn
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { continue }
                #expect(
                    byID[String(parts[0])] == UInt64(parts[1]), "run \(run): acknowledged \(line) is not in the log")
            }
            eventsAtEnd = logged.count
            let latest = logged.map(\.time).max() ?? 0
            for at in [latest, latest - 500, latest + 60_000] {
                for key in ["c0", "c1", "c2"] {
                    let vector = try store.read { snapshot in
                        try snapshot.vector(entity: "card", key: key, at: try snapshot.token(at: at))
                    }
                    let expected = ViewFixture.oracle(logged, entity: "card", key: key, lsn: head.rawValue, at: at)
                    for (name, value) in vector.views where !ViewFixture.agree(name, value, expected[name]) {
                        Issue.record(
                            "run \(run): \(key) \(name) at \(at): \(value), oracle \(String(describing: expected[name]))"
                        )
                    }
                    checkedVectors += 1
                }
            }
        }
        #expect(checkedVectors == kills * 9)
        #expect(eventsAtEnd >= kills, "the probe ingested almost nothing: the test proved little")
        if durability == "journaled" {
            #expect(journalRecoveries >= kills / 2, "most reopens should recover from the journal")
        }
        print(
            "view crash test (\(durability)): \(kills) kills, \(eventsAtEnd) events, \(checkedVectors) vectors "
                + "equal to the oracle, \(journalRecoveries) journal recoveries")
    }
}
