import Foundation
import TallyLMDB
import Testing

@_spi(RawLog) @testable import Tally

/// SIGKILLs a writing child process at random moments; after each kill, every write the child
/// acknowledged (and recorded, fsync'd, in its ack file) must be in the store exactly once, at the
/// LSN it was acknowledged with, and the log must stay dense.
@Suite(.serialized) struct CrashDurabilityTests {
    /// The journaled mode reopens each time in the durable mode or its own, alternately: both recover.
    @Test(arguments: ["durable", "journaled"])
    func everyAcknowledgedWriteSurvivesSIGKILLExactlyOnce(durability: String) async throws {
        let kills = Int(ProcessInfo.processInfo.environment["TALLY_CRASH_KILLS"] ?? "") ?? (isCI ? 20 : 40)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ackPath = directory.path + ".acks"
        defer { try? FileManager.default.removeItem(atPath: ackPath) }
        var generator = SystemRandomNumberGenerator()
        var totalAcked = 0
        var killsWithAcks = 0
        var journalRecoveries = 0

        for run in 0..<kills {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: crashProbePath)
            child.arguments = ["write", directory.path, ackPath, "run\(run)", "8"]
            child.environment = ProcessInfo.processInfo.environment.merging(["TALLY_DURABILITY": durability]) { $1 }
            let output = Pipe()
            child.standardOutput = output
            try child.run()
            _ = try await waitForLine("acked", in: output)  // its first acknowledged write (or EOF if it died)
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...150, using: &generator)))
            kill(child.processIdentifier, SIGKILL)
            try await offPool { child.waitUntilExit() }
            #expect(child.terminationReason == .uncaughtSignal, "run \(run): the probe exited by itself")

            let acked = try acknowledgedRecords(ackPath)
            let store = try Tally.open(directory: directory.path, options: reopenOptions(durability, run: run))
            var stored: [String: [LSN]] = [:]
            var lsns: [LSN] = []
            try store.read { snapshot in
                try snapshot.forEachRawRecord { lsn, bytes in
                    stored[String(decoding: bytes, as: UTF8.self), default: []].append(lsn)
                    lsns.append(lsn)
                    return true
                }
                #expect(try snapshot.lsn == lsns.last ?? .zero)
            }
            if store.environment.journalRecovery?.restoredMetaPages == true { journalRecoveries += 1 }
            store.close()

            #expect(lsns == (0..<lsns.count).map { LSN(UInt64($0 + 1)) }, "run \(run): the log is dense")
            for (record, lsn) in acked {
                #expect(
                    stored[record] == [lsn],
                    "run \(run): acknowledged \(record) at \(lsn), stored at \(stored[record] ?? [])")
            }
            #expect(stored.values.allSatisfy { $0.count == 1 }, "run \(run): a record is stored twice")
            let newAcks = acked.count - totalAcked
            if newAcks > 0 { killsWithAcks += 1 }
            totalAcked = acked.count
        }
        #expect(totalAcked > 0, "the probe acknowledged nothing: the test proved nothing")
        #expect(killsWithAcks >= kills / 2, "most kills should land after some acknowledged writes")
        if durability == "journaled" {
            #expect(journalRecoveries >= kills / 2, "most reopens should recover from the journal")
        }
        print(
            "crash test (\(durability)): \(kills) kills, \(totalAcked) acknowledged writes verified, "
                + "\(journalRecoveries) journal recoveries")
    }

    /// Complete lines of the ack file: "RECORD LSN". A torn last line (killed mid-write) is ignored.
    private func acknowledgedRecords(_ path: String) throws -> [(String, LSN)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last != "" { lines.removeLast() }  // not newline-terminated: torn
        return lines.compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let lsn = UInt64(parts[1]) else { return nil }
            return (String(parts[0]), LSN(lsn))
        }
    }
}

/// A second process reading while this one grows the map gets `MDB_MAP_RESIZED` and must adopt
/// the new size without errors or torn reads.
@Suite struct CrossProcessReaderTests {
    @Test func aReaderProcessAdoptsMapGrowthByTheWriter() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = Tally.Options()
        options.initialMapSize = 256 << 10
        let store = try Tally.open(directory: directory.path, options: options)
        defer { store.close() }
        _ = try await store.appendRawRecords([record(1)])

        let stopFile = directory.path + ".stop"
        defer { try? FileManager.default.removeItem(atPath: stopFile) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: crashProbePath)
        child.arguments = ["read", directory.path, stopFile]
        let output = Pipe()
        let started = Pipe()
        child.standardOutput = output
        child.standardError = started
        try child.run()
        _ = started.fileHandleForReading.availableData  // "reading": the child has opened the store

        // Count-based, not time-based: grow the map four times whatever the machine's load, with
        // the reader reading all along.
        var lsn: UInt64 = 1
        while try store.statistics().mapGrowths < 4 && lsn < 2_000_000 {
            let records = (1...20).map { record(lsn + UInt64($0)) }
            _ = try await store.appendRawRecords(records)
            lsn += 20
        }
        FileManager.default.createFile(atPath: stopFile, contents: nil)
        child.waitUntilExit()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(child.terminationStatus == 0, "reader failed: \(report)")
        let fields = Dictionary(
            uniqueKeysWithValues: report.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pair in
                let kv = pair.split(separator: "=")
                return kv.count == 2 ? (String(kv[0]), Int(kv[1]) ?? -1) : nil
            })
        #expect(try store.statistics().mapGrowths >= 4, "the writer should have grown the map several times")
        #expect(fields["errors"] == 0, "reader report: \(report)")
        #expect((fields["resizes"] ?? 0) >= 1, "the reader never saw the map grow: \(report)")
        #expect((fields["reads"] ?? 0) >= 64, "reader report: \(report)")
    }

    private func record(_ lsn: UInt64) -> [UInt8] {
        let head = Array("r\(lsn)|".utf8)
        return head + [UInt8](repeating: UInt8(ascii: "x"), count: 1000 - head.count)
    }
}
