import Foundation
import TallyLMDB
import Testing

@_spi(Testing) @testable import Tally
@testable import TallyServer

/// `tally decide` and `tally replay`: on the store directly, and through a running `tally serve`.
@Suite("tally decide and tally replay")
struct DecisionCommandLineTests {
    static func tally(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await CommandLineServerTests.tally(arguments)
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test("without a server, decide opens the store; replay exits 0 when it matches, 1 when not, 2 when it cannot")
    func decideAndReplayOnTheStore() async throws {
        let directory = NSTemporaryDirectory() + "tally-cli-decide-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let data = directory + "/data"
        let events = directory + "/events.ndjson"
        try (1...2).map { authorization("s\($0)", time: baseTime + Int64($0) * 1000) }.joined(separator: "\n")
            .write(toFile: events, atomically: true, encoding: .utf8)
        #expect(try await Self.tally(["ingest", "Examples/cards.yaml", events, "--data-dir", data]).status == 0)

        let at = String(baseTime + 3000)
        let decided = try await Self.tally([
            "decide", authorization("s3", time: baseTime + 3000), "--at", at, "--ingest", "including", "--data-dir",
            data,
        ])
        #expect(decided.status == 0, "\(decided.output)")
        let decision = Self.json(decided.output)
        #expect(decision["id"] as? Int == 4 && decision["outcome"] as? String == "allow", "\(decided.output)")
        #expect(decided.output.contains(#""card_txn_count_60s":3"#), "including: \(decided.output)")

        // @FILE, --entity, --ingest: a plain payload on an explicit key.
        let payload = directory + "/payload.json"
        try #"{"amount":6000}"#.write(toFile: payload, atomically: true, encoding: .utf8)
        let named = try await Self.tally([
            "decide", "@" + payload, "--entity", "card=c1", "--ingest", "none", "--at", at, "--data-dir", data,
        ])
        #expect(named.status == 0, "\(named.output)")
        #expect(Self.json(named.output)["outcome"] as? String == "review", "big_exposure: \(named.output)")
        #expect(Self.json(named.output)["id"] as? Int == 5)

        // A late event is refused with its message; nothing is written.
        let late = try await Self.tally([
            "decide", authorization("old", time: baseTime - 7_200_000), "--at", at, "--data-dir", data,
        ])
        #expect(late.status == 1 && late.output.isEmpty)
        for bad in [["decide", "{", "--data-dir", data], ["decide", "[]", "--data-dir", data]] {
            #expect(try await Self.tally(bad).status != 0, "\(bad)")
        }
        let vector = try await Self.tally(["get", "card", "c1", "--at", at, "--data-dir", data])
        #expect(vector.output.contains(#""lsn":5"#), "\(vector.output)")

        let replay = try await Self.tally(["replay", "4", "--data-dir", data])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(Self.json(replay.output)["matches"] as? Bool == true)
        #expect(try await Self.tally(["replay", "99", "--data-dir", data]).status == 2, "unknown decision")
        #expect(try await Self.tally(["replay", "3", "--data-dir", data]).status == 2, "LSN 3 is an event")
        for id in ["abc", "0", "1.5"] {
            #expect(try await Self.tally(["replay", id, "--data-dir", data]).status == 2, "\(id) names no decision")
        }

        // A record that no longer matches the log: exit 1, with the difference.
        let store = try Tally.open(directory: data)
        let key = BigEndian.bytes(UInt64(4))
        let tampered = Array(
            String(decoding: try store.decision(LSN(4)).json, as: UTF8.self)
                .replacingOccurrences(of: #""card_txn_count_60s":3"#, with: #""card_txn_count_60s":9"#).utf8)
        let decisions = store.databases.decisions
        try await store.write { txn in try txn.put(decisions, key, tampered) }
        store.close()
        let differs = try await Self.tally(["replay", "4", "--data-dir", data])
        #expect(differs.status == 1, "\(differs.output)")
        let differences = Self.json(differs.output)["differences"] as? [[String: Any]] ?? []
        #expect(differences.count == 1, "\(differs.output)")
        #expect(differences.first?["path"] as? String == "vectors[0].views.card_txn_count_60s")
        #expect(differences.first?["recorded"] as? Int == 9 && differences.first?["recomputed"] as? Int == 3)

        let missing = try await Self.tally(["decide", #"{"card":"c1"}"#, "--data-dir", directory + "/nothing"])
        #expect(missing.status != 0)
        #expect(!FileManager.default.fileExists(atPath: directory + "/nothing"), "no store is created")
    }

    @Test("decide goes through a running server (found from the data directory, or --url); replay --url")
    func decideThroughTheServer() async throws {
        let directory = NSTemporaryDirectory() + "tally-cli-decide-server-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tokens = TokenFile()
        let decider = tokens.add(name: "decider", role: .decide)
        let auditor = tokens.add(name: "auditor", role: .audit)
        let reader = tokens.add(name: "reader", role: .read)
        try tokens.save(to: directory + "/tokens.json")
        let data = directory + "/data"
        let server = try await ServeProcess.start(directory: data, tokenFile: directory + "/tokens.json", port: 0)
        defer { _ = try? server.stopBlocking() }
        let url = "http://127.0.0.1:\(server.port)"
        let at = String(baseTime + 1000)

        let first = authorization("v1", time: baseTime)
        #expect(try await Self.tally(["decide", first, "--at", at, "--data-dir", data]).status != 0, "no token")
        let refused = try await Self.tally(["decide", first, "--at", at, "--data-dir", data, "--token", reader])
        #expect(refused.status != 0, "a read token may not decide")
        let found = try await Self.tally(["decide", first, "--at", at, "--data-dir", data, "--token", decider])
        #expect(found.status == 0, "\(found.output)")
        #expect(Self.json(found.output)["id"] as? Int == 2, "\(found.output)")
        let second = try await Self.tally([
            "decide", authorization("v2", time: baseTime + 1000), "--at", at, "--ingest", "before",
            "--entity", "card=c1", "--url", url, "--token", decider,
        ])
        #expect(second.status == 0, "\(second.output)")
        let decision = Self.json(second.output)
        #expect(decision["id"] as? Int == 4 && decision["ingest"] as? String == "before", "\(second.output)")
        #expect(second.output.contains(#""card_txn_count_60s":1"#), "before v2: \(second.output)")
        #expect((decision["vectors"] as? [Any])?.count == 1)
        let late = try await Self.tally([
            "decide", authorization("old", time: baseTime - 7_200_000), "--url", url, "--token", decider,
        ])
        #expect(late.status == 1 && late.output.isEmpty, "422 event_rejected")

        let remote = try await Self.tally(["replay", "4", "--url", url, "--token", auditor])
        #expect(remote.status == 0 && Self.json(remote.output)["matches"] as? Bool == true, "\(remote.output)")
        #expect(try await Self.tally(["replay", "4", "--url", url, "--token", decider]).status == 2, "403")
        #expect(try await Self.tally(["replay", "9", "--url", url, "--token", auditor]).status == 2, "404")
        let local = try await Self.tally(["replay", "4", "--data-dir", data])
        #expect(local.status == 0 && local.output == remote.output, "read-only beside the server, the same answer")
    }
}
