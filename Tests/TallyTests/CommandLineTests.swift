import Foundation
import Testing

/// The `tally` executable, run as a user runs it.
@Suite struct CommandLineTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var tallyPath: String {
        URL(fileURLWithPath: crashProbePath).deletingLastPathComponent().appendingPathComponent("tally").path
    }

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs the built `tally` with `arguments` (from the package root) and waits for it off the pool.
    static func tally(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await offPool { try runBlocking(arguments, environment: environment) }
    }

    /// `tally ingest Examples/cards.yaml Examples/cards-sample.ndjson` into `directory`.
    static func ingestSample(into directory: TemporaryDirectory) async throws -> Run {
        try await tally(["ingest", "Examples/cards.yaml", "Examples/cards-sample.ndjson", "--data-dir", directory.path])
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tallyPath)
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// `tally demo` carries Examples/cards.yaml built in (ExampleDefinitions.swift): the two stay equal.
    @Test func theBuiltInExampleDefinitionsAreTheExampleFile() throws {
        let file = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Examples/cards.yaml"), encoding: .utf8)
        let swift = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Sources/TallyCommand/ExampleDefinitions.swift"),
            encoding: .utf8)
        let start = try #require(swift.range(of: "#\"\"\"\n"))
        let end = try #require(swift.range(of: "\n        \"\"\"#"))
        let lines = swift[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        let embedded = lines.map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }
            .joined(separator: "\n")
        #expect(embedded == file, "regenerate Sources/TallyCommand/ExampleDefinitions.swift from Examples/cards.yaml")
    }

    @Test func checkAcceptsTheExampleAndRejectsABadFileWithPositions() async throws {
        let good = try await Self.tally(["check", "Examples/cards.yaml"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("4 event types"))

        let bad = NSTemporaryDirectory() + "bad-\(UUID()).yaml"
        try
            "entities:\n  card: { key: string }\nevents:\n  auth: { id: t, time: ts, fields: { t: string }, colour: red }\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let run = try await Self.tally(["check", bad])
        #expect(run.status == 1)
        #expect(run.stderr.contains("events.auth.colour:4:"), "\(run.stderr)")
        #expect(run.stderr.contains("unknown key 'colour'"))
    }

    @Test func serveRefusesAnUnknownDurabilityBeforeTouchingTheStore() async throws {
        let directory = NSTemporaryDirectory() + "tally-durability-\(UUID().uuidString)"
        let result = try await Self.tally(["serve", "--durability", "fast", "--data-dir", directory])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--durability is durable, journaled or relaxed"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func aCommandWhoseOpenBackfillsPrintsItsProgressOnStandardError() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // The sample under the example definitions less one view; ingesting with the full file
        // backfills that view at the open.
        let full = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Examples/cards.yaml"), encoding: .utf8)
        let lacking = directory.path + "-lacking.yaml"
        defer { try? FileManager.default.removeItem(atPath: lacking) }
        try full.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("merchant_txn_count_1h:") }.joined(separator: "\n")
            .write(toFile: lacking, atomically: true, encoding: .utf8)
        let first = try await Self.tally(
            ["ingest", lacking, "Examples/cards-sample.ndjson", "--data-dir", directory.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stderr.contains("building view state"), "a new store has nothing to backfill")
        let again = try await Self.ingestSample(into: directory)
        #expect(again.status == 0, "\(again.stderr)")
        let line = again.stderr.split(separator: "\n").last { $0.contains("building view state") }
        #expect(
            line?.hasPrefix("tally ingest: building view state for definitions version 2") == true, "\(again.stderr)")
        #expect(line?.hasSuffix("(done)") == true)
        #expect(!again.stdout.contains("building view state"), "standard output keeps the summary only")
    }

    @Test func ingestReportsASummaryAndIsIdempotent() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try await Self.ingestSample(into: directory)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("events      3000"), "\(first.stdout)")
        #expect(first.stdout.contains("rejected    0"))
        let accepted = first.stdout.split(separator: "\n").first { $0.contains("accepted") }.flatMap {
            Int($0.split(separator: " ").last!)
        }
        #expect((accepted ?? 0) > 2_900)

        let again = try await Self.ingestSample(into: directory)
        #expect(again.stdout.contains("accepted    0"))
        #expect(again.stdout.contains("duplicates  3000"))

        let stats = try await Self.tally(["stats", "--data-dir", directory.path])
        #expect(stats.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(json?["lsn"] as? Int == accepted)
        #expect(json?["definitions_version"] as? Int == 1)
        #expect(json?["watermark"] as? Int != nil)
        #expect(json?["commits"] == nil, "a read-only process commits nothing: no counter that reads 0")
    }

    @Test func ingestRejectsBadLinesButKeepsTheRest() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.path + ".ndjson"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let lines = [
            #"{"type":"settlement","txn_id":"s1","ts":1793491200000,"card":"c1","amount":5}"#,
            #"{"type":"settlement","txn_id":"s2","ts":1793491200000,"card":"c1","amount":NaN}"#,
            #"{"type":"refund","txn_id":"r1","ts":1793491200000}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await Self.tally(["ingest", "Examples/cards.yaml", file, "--data-dir", directory.path])
        #expect(run.status == 0)
        #expect(run.stdout.contains("accepted    1"))
        #expect(run.stdout.contains("malformed_json: 1"), "\(run.stdout)")
        #expect(run.stdout.contains("unknown_type: 1"))
        #expect(run.stdout.contains("event 3: unknown_type"))
    }

    @Test func getPrintsAVectorWithItsTokenAndAnswersOldTokensExactly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ingest = try await Self.ingestSample(into: directory)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let at = "1793491205998"
        let run = try await Self.tally(["get", "card", "card_1", "--data-dir", directory.path, "--at", at])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let views = object?["views"] as? [String: Any]
        let snapshot = object?["snapshot"] as? [String: Any]
        #expect((snapshot?["lsn"] as? Int) == 2971)
        #expect((snapshot?["at"] as? Int) == 1_793_491_205_998)
        #expect((snapshot?["definitions_version"] as? Int) == 1)
        #expect(views?.count == 9, "every served card view: \(run.stdout)")
        // The sample stream's card_1 authorizations, counted from the file itself (redeliveries once).
        let sample = try String(
            contentsOfFile: Self.packageRoot.path + "/Examples/cards-sample.ndjson", encoding: .utf8)
        let card1 = sample.split(separator: "\n").filter {
            $0.contains(#""type":"authorization""#) && $0.contains(#""card":"card_1","#)
        }
        let ids = Set(card1.compactMap { $0.split(separator: ",").first { $0.hasPrefix(#""txn_id""#) } })
        #expect(ids.count < card1.count, "the sample redelivers some events")
        #expect((views?["card_txn_count_1h"] as? Int) == ids.count, "\(run.stdout)")
        // An older LSN with DEFS given (applied, unchanged) and an RFC 3339 time.
        let old = try await Self.tally([
            "get", "Examples/cards.yaml", "card", "card_1", "--data-dir", directory.path, "--lsn", "10", "--at",
            "2026-11-01T00:00:05.998Z",
        ])
        #expect(old.status == 0, "\(old.stderr)")
        #expect(
            old.stdout.contains(#""snapshot":{"lsn":10,"at":1793491205998,"definitions_version":1}"#), "\(old.stdout)")
        let unknown = try await Self.tally(["get", "device", "d1", "--data-dir", directory.path])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown_entity"), "\(unknown.stderr)")
    }

    /// An int key may be negative: `tally get acct -7` reads it, and `--lsn -1` / `--at -5` are
    /// refused by what they say rather than taken for missing values.
    @Test func getTakesKeysAndValuesThatStartWithADash() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let definitions = directory.path + "/accounts.yaml"
        let events = directory.path + "/events.ndjson"
        try """
        entities: { acct: { key: int } }
        events:
          payment: { id: pid, time: ts, fields: { pid: string, acct: int } }
        views:
          acct_payments: { entity: acct, from: payment, aggregate: count, window: lifetime }
        """.write(toFile: definitions, atomically: true, encoding: .utf8)
        try """
        {"type":"payment","pid":"p1","ts":1790000000000,"acct":-7}
        {"type":"payment","pid":"p2","ts":1790000000001,"acct":-7}
        {"type":"payment","pid":"p3","ts":1790000000002,"acct":7}

        """.write(toFile: events, atomically: true, encoding: .utf8)
        let store = ["--data-dir", directory.path + "/data"]
        let ingest = try await Self.tally(["ingest", definitions, events] + store)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let negative = try await Self.tally(["get", "acct", "-7", "--at", "1790000000005"] + store)
        #expect(negative.status == 0, "\(negative.stderr)")
        #expect(negative.stdout.contains(#""acct_payments":2"#), "\(negative.stdout)")
        // `--` ends the options, as in any POSIX command line, and is not itself an argument.
        let terminated = try await Self.tally(["get"] + store + ["--at", "1790000000005", "--", "acct", "-7"])
        #expect(terminated.status == 0, "\(terminated.stderr)")
        #expect(terminated.stdout.contains(#""acct_payments":2"#), "\(terminated.stdout)")
        let lsn = try await Self.tally(["get", "acct", "-7", "--lsn", "-1"] + store)
        #expect(lsn.status != 0)
        #expect(!lsn.stderr.contains("Missing value"), "\(lsn.stderr)")
        #expect(lsn.stderr.contains("-1"), "\(lsn.stderr)")
        let at = try await Self.tally(["get", "acct", "-7", "--at", "-5"] + store)
        #expect(at.status != 0)
        #expect(!at.stderr.contains("Missing value"), "\(at.stderr)")
        let typo = try await Self.tally(["get", "acct", "-7", "--dat-dir", directory.path])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown option '--dat-dir'"), "\(typo.stderr)")
    }

    @Test func applyBackfillsANewViewAndRefusesIncompatibleChanges() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ingest = try await Self.ingestSample(into: directory)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let cards = try String(contentsOfFile: Self.packageRoot.path + "/Examples/cards.yaml", encoding: .utf8)
        let added = cards.replacingOccurrences(
            of: "\nviews:\n",
            with:
                "\nviews:\n  card_auth_count_30d: { entity: card, from: authorization, where: \"amount > 0\", aggregate: count, window: 30d }\n"
        )
        let file = directory.path + "/cards2.yaml"
        try added.write(toFile: file, atomically: true, encoding: .utf8)
        let apply = try await Self.tally(["apply", file, "--data-dir", directory.path])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("definitions version 2 applied"), "\(apply.stdout)")
        #expect(apply.stdout.contains("served from LSN 2972"), "\(apply.stdout)")
        #expect(apply.stdout.contains("card_auth_count_30d (2971 events replayed)"), "\(apply.stdout)")
        let at = "1793491205998"
        let get = try await Self.tally(["get", "card", "card_1", "--data-dir", directory.path, "--at", at])
        let views =
            (try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [String: Any])?["views"]
            as? [String: Any]
        // Every sample amount is positive and the whole sample lies inside the hour before `at`
        // (see the get test), so the backfilled 30-day count equals the maintained 1-hour count.
        #expect((views?["card_auth_count_30d"] as? Int).map { $0 > 0 } == true, "\(get.stdout)")
        #expect(views?["card_auth_count_30d"] as? Int == views?["card_txn_count_1h"] as? Int, "\(get.stdout)")
        let catalog = try await Self.tally(["catalog", "--json", "--data-dir", directory.path])
        let entries =
            (try JSONSerialization.jsonObject(with: Data(catalog.stdout.utf8)) as? [String: Any])?["entries"]
            as? [[String: Any]] ?? []
        let versions = Dictionary(
            entries.compactMap { entry in (entry["name"] as? String).map { ($0, entry["version"] as? Int) } },
            uniquingKeysWith: { first, _ in first })
        #expect(versions["card_auth_count_30d"] == 2, "\(catalog.stdout)")
        #expect(versions["card_txn_count_60s"] == 1, "\(catalog.stdout)")
        let again = try await Self.tally(["apply", file, "--data-dir", directory.path])
        #expect(again.stdout.contains("definitions unchanged"), "\(again.stdout)")
        let bad = directory.path + "/bad.yaml"
        try added.replacingOccurrences(of: "amount: decimal", with: "amount: int").write(
            toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await Self.tally(["apply", bad, "--data-dir", directory.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("incompatible_definitions"), "\(refused.stderr)")
        let after = try await Self.tally(["get", "card", "card_1", "--data-dir", directory.path, "--at", at])
        #expect(after.stdout == get.stdout, "a refused change changes nothing")
    }

    @Test func backupIsAConsistentStoreAndIngestWithoutDefinitionsUsesTheStoredOnes() async throws {
        let directory = TemporaryDirectory()
        let copy = TemporaryDirectory()
        defer {
            directory.remove()
            copy.remove()
        }
        let first = try await Self.ingestSample(into: directory)
        #expect(first.status == 0, "\(first.stderr)")
        // Without DEFS: the store's definitions; everything is a duplicate the second time.
        let again = try await Self.tally(["ingest", "Examples/cards-sample.ndjson", "--data-dir", directory.path])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("duplicates  3000"), "\(again.stdout)")
        let backup = try await Self.tally(["backup", copy.path, "--compact", "--data-dir", directory.path])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("at lsn 2971"), "\(backup.stdout)")
        #expect(!FileManager.default.fileExists(atPath: copy.path + "/tokens.json"), "no token file to copy")
        let arguments = ["get", "card", "card_1", "--at", "1793491205998", "--lsn", "2000"]
        let original = try await Self.tally(arguments + ["--data-dir", directory.path])
        let restored = try await Self.tally(arguments + ["--data-dir", copy.path])
        #expect(original.status == 0 && restored.status == 0, "\(original.stderr) \(restored.stderr)")
        #expect(original.stdout == restored.stdout)
        #expect(original.stdout.contains(#""lsn":2000"#))
        let notEmpty = try await Self.tally(["backup", copy.path, "--data-dir", directory.path])
        #expect(notEmpty.status != 0)
        #expect(notEmpty.stderr.contains("not empty"), "\(notEmpty.stderr)")
    }

    @Test func generateRefusesImpossibleOptionsWithAUsageError() async throws {
        for options in [
            ["--rate", "0"], ["--rate", "nan"], ["--rate=-5"], ["--cards", "0"], ["--cards=-1"],
            ["--duplicates", "1.5"], ["--duplicates=-0.5"], ["--events=-1"],
        ] {
            let run = try await Self.tally(["generate", "--events", "3"] + options)
            #expect(run.status == 64, "\(options): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains("must"), "\(options): \(run.stderr)")
        }
        let fine = try await Self.tally(["generate", "--events", "3", "--duplicates", "1", "--rate", "0.5"])
        #expect(fine.status == 0 && fine.stdout.split(separator: "\n").count == 3, "\(fine.stderr)")
    }

    @Test func aFileGivenAsTheDataDirectoryIsAPlainError() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let file = directory.path + "/afile"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        for command in [["stats"], ["doctor"], ["get", "card", "c1"], ["backup", directory.path + "/copy"]] {
            let run = try await Self.tally(command + ["--data-dir", file])
            #expect(run.status == 1, "\(command): \(run.stderr)")
            #expect(run.stderr.contains("is a file, not a directory"), "\(command): \(run.stderr)")
        }
    }

    @Test func backupCopiesTheTokenFileOwnerOnly() async throws {
        let directory = TemporaryDirectory()
        let copy = TemporaryDirectory()
        defer {
            directory.remove()
            copy.remove()
        }
        let ingest = try await Self.ingestSample(into: directory)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let tokens = Data(#"{"tokens":[{"name":"ops","role":"admin","sha256":"00"}]}"#.utf8)
        try tokens.write(to: URL(fileURLWithPath: directory.path + "/tokens.json"))
        let backup = try await Self.tally(["backup", copy.path, "--data-dir", directory.path])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("copied the token file"), "\(backup.stdout)")
        let copied = copy.path + "/tokens.json"
        #expect(FileManager.default.contents(atPath: copied) == tokens)
        let mode = try FileManager.default.attributesOfItem(atPath: copied)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func catalogListsEveryDefinitionWithItsMetadataAndVersion() async throws {
        let fromFile = try await Self.tally(["catalog", "Examples/cards.yaml"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(fromFile.stdout.contains("owner: credit-risk"))
        #expect(fromFile.stdout.contains("Authorized minus settled minus reversed"))
        // A view's filter is part of what it is; long details are not cut.
        #expect(
            fromFile.stdout.contains("merchant count 10m from decline where reason != 'insufficient_funds'"),
            "\(fromFile.stdout)")
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        _ = try await Self.ingestSample(into: directory)
        let served = try await Self.tally(["catalog", "--json", "--data-dir", directory.path])
        #expect(served.status == 0, "\(served.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(served.stdout.utf8)) as? [String: Any]
        #expect((object?["definitions_version"] as? Int) == 1)
        let entries = object?["entries"] as? [[String: Any]] ?? []
        let kinds = Dictionary(grouping: entries, by: { $0["kind"] as? String ?? "" }).mapValues(\.count)
        #expect(kinds == ["entity": 2, "event": 4, "view": 10, "list": 2, "flag": 1, "rule": 4], "\(kinds)")
        let authorization = entries.first { ($0["name"] as? String) == "authorization" }
        #expect((authorization?["tags"] as? [String]) == ["core"])
        #expect((authorization?["owner"] as? String) == "payments")
    }
}
