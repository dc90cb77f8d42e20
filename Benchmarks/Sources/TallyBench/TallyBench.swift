import ArgumentParser
import BenchTransport
import Foundation
import Tally

/// The side-by-side benchmark (issue 8). Run through `Tools/bench-compare`, which generates the
/// stream with `tally generate`, builds everything and passes the paths.
@main
struct TallyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-bench",
        abstract: "Tally (embedded, HTTP) vs Redis vs SQLite on one generated card stream.",
        discussion: "Exits 1 when a hard gate fails: a wrong value or a torn vector for Tally in any mode.")

    @Option(help: "The NDJSON stream written by `tally generate`.") var stream: String
    @Option(help: "Definitions (Examples/cards.yaml).") var definitions: String
    @Option(help: "The release `tally` binary (for `tally serve`).") var tally: String
    @Option(help: "The redis-server binary.") var redisServer = "/usr/bin/redis-server"
    @Option(help: "Scratch directory for stores and server logs (emptied first).") var workDirectory: String
    @Option(help: "Events per request / pipeline / transaction.") var batch = 1_000
    @Option(help: "Seconds of each read measurement.") var readSeconds = 4.0
    @Option(help: "Random (card, t) points checked against the recomputation.") var points = 1_000
    @Option(help: "Events of the stream ingested during each skew run.") var skewEvents = 60_000
    @Option(help: "Reader threads during each skew run.") var skewReaders = 2
    @Option(help: "Freshness probes per system.") var probes = 200
    @Option(help: "Seed of the points and read keys.") var seed: UInt64 = 8
    @Option(help: "Comma-separated systems to run: tally,tally4 (4 views only),http,redis,sqlite.") var systems =
        "tally,tally4,http,redis,sqlite"
    @Option(help: "JSON results file.") var json: String?
    @Option(help: "SVG chart file.") var svg: String?
    @Option(help: "Markdown figures file (for docs/PERFORMANCE.md).") var markdown: String?

    func run() async throws {
        let selected = Set(systems.split(separator: ",").map(String.init))
        let events = try StreamFile.load(path: stream)
        let reference = Reference(stream: events)
        guard reference.endTime - reference.firstTime < Window.oneHour - 120_000 else {
            throw ValidationError(
                "the stream spans more than 58 minutes of event time: the skew check needs all of it inside the 1 h window"
            )
        }
        let defs = try DefinitionsLoader.load(path: definitions)
        let batches = stride(from: 0, to: events.count, by: batch).map {
            EventBatch(events[$0..<min($0 + batch, events.count)])
        }
        let skewStream = Array(events.prefix(skewEvents))
        let skewBatches = stride(from: 0, to: skewStream.count, by: batch).map {
            EventBatch(skewStream[$0..<min($0 + batch, skewStream.count)])
        }
        let skewReference = Reference(stream: skewStream)
        let hotCards = skewReference.byCard.map { ($0.key, $0.value.count) }.sorted { $0.1 > $1.1 }.prefix(8).map(\.0)
        let states = skewReference.committedStates(cards: hotCards)
        var random = SeededRandom(seed: seed)
        let cards = reference.byCard.keys.sorted()
        // Half the points on cards weighted by traffic (the hot ones), half uniform over cards.
        let checkPoints: [(card: String, at: Int64)] = (0..<points).map { i in
            let card =
                i % 2 == 0
                ? events[Int.random(in: 0..<events.count, using: &random)].card : cards.randomElement(using: &random)!
            let at = Int64.random(in: reference.firstTime...(reference.endTime + 90_000), using: &random)
            return (card, at)
        }
        // Read keys as scoring traffic picks them: the card of a random event.
        let readKeys = (0..<20_000).map { _ in events[Int.random(in: 0..<events.count, using: &random)].card }
        let at = reference.endTime

        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        say(
            "stream: \(events.count) events (\(reference.accepted.count) distinct, \(reference.duplicates) duplicates), "
                + "\(reference.byCard.count) cards, \(Double(reference.endTime - reference.firstTime) / 1000) s of event time; "
                + "batches of \(batch)")

        var report = Report(
            streamEvents: events.count, distinctEvents: reference.accepted.count, cards: reference.byCard.count,
            batch: batch, readSeconds: readSeconds, skewEvents: skewStream.count, skewReaders: skewReaders,
            hotCards: hotCards)
        let runner = Runner(
            reference: reference, batches: batches, points: checkPoints, readKeys: readKeys, at: at,
            readSeconds: readSeconds, probes: probes)
        let skew = SkewRunner(
            batches: skewBatches, hotCards: hotCards, states: states, at: at, readers: skewReaders)

        if selected.contains("tally") {
            for durable in [true, false] {
                let name = durable ? "durable" : "relaxed"
                let store = try TallyEmbeddedStore(
                    directory: "\(work)/tally-\(name)", definitions: defs, durable: durable)
                report.systems.append(try await runner.run(store))
                store.close()
                let fresh = try TallyEmbeddedStore(
                    directory: "\(work)/skew-tally-\(name)", definitions: defs, durable: durable)
                report.skew.append(try await skew.run(fresh, writer: "ingest(ndjson:)", mode: .snapshot))
                fresh.close()
            }
        }
        if selected.contains("tally4") {
            let four = try DefinitionsLoader.load(text: FourViewDefinitions.yaml, source: "four-views.yaml")
            let store = try TallyEmbeddedStore(
                directory: "\(work)/tally-four-views", definitions: four, durable: true, variant: ", 4 views")
            report.systems.append(try await runner.run(store))
            store.close()
        }
        if selected.contains("http") {
            let store = try startTallyServer(name: "tally-http", work: work)
            report.systems.append(try await runner.run(store))
            store.close()
            let fresh = try startTallyServer(name: "skew-tally-http", work: work)
            report.skew.append(try await skew.run(fresh, writer: "POST /v1/events", mode: .snapshot))
            fresh.close()
        }
        if selected.contains("redis") {
            let (none, port) = try startRedis(name: "redis-none", work: work, aof: false)
            defer { none.stop() }
            let plain = try RedisStore(
                port: port, persistence: "none", transactionalWriter: false, readModes: [.pipelined, .multiExec])
            report.systems.append(try await runner.run(plain))
            try plain.flush()
            let transactional = try RedisStore(
                port: port, persistence: "none", transactionalWriter: true, readModes: [.multiExec])
            report.systems.append(try await runner.run(transactional, reads: false))
            for (writer, mode) in [(false, ReadMode.pipelined), (true, .multiExec), (true, .pipelined)] {
                try plain.flush()
                let store = try RedisStore(
                    port: port, persistence: "none", transactionalWriter: writer, readModes: [mode])
                report.skew.append(
                    try await skew.run(store, writer: writer ? "MULTI/EXEC pipeline" : "pipeline", mode: mode))
            }
            none.stop()
            let (aof, aofPort) = try startRedis(name: "redis-aof", work: work, aof: true)
            defer { aof.stop() }
            let durableStore = try RedisStore(
                port: aofPort, persistence: "aof-everysec", transactionalWriter: false, readModes: [.pipelined])
            report.systems.append(try await runner.run(durableStore))
            aof.stop()
        }
        if selected.contains("sqlite") {
            for full in [false, true] {
                let name = full ? "full" : "normal"
                try FileManager.default.createDirectory(
                    atPath: "\(work)/sqlite-\(name)", withIntermediateDirectories: true)
                let store = try SQLiteStore(
                    path: "\(work)/sqlite-\(name)/features.sqlite", synchronousFull: full,
                    readModes: full ? [.oneTransaction] : [.separateStatements, .oneTransaction])
                report.systems.append(try await runner.run(store))
                store.close()
            }
            for mode in [ReadMode.separateStatements, .oneTransaction] {
                try FileManager.default.createDirectory(
                    atPath: "\(work)/skew-sqlite-\(mode.rawValue)", withIntermediateDirectories: true)
                let store = try SQLiteStore(
                    path: "\(work)/skew-sqlite-\(mode.rawValue)/features.sqlite", synchronousFull: false,
                    readModes: [mode])
                report.skew.append(try await skew.run(store, writer: "one transaction per batch", mode: mode))
                store.close()
            }
        }

        report.evaluate()
        print(report.table())
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if let svg { try Chart(report: report).svg().write(toFile: svg, atomically: true, encoding: .utf8) }
        if let markdown { try report.markdown().write(toFile: markdown, atomically: true, encoding: .utf8) }
        if !report.gateFailures.isEmpty {
            for failure in report.gateFailures { say("GATE FAILED: \(failure)") }
            throw ExitCode(1)
        }
        say("all hard gates passed")
    }

    private func startTallyServer(name: String, work: String) throws -> TallyHTTPStore {
        let server = try ChildProcess(
            name: name, executable: tally,
            arguments: [
                "serve", "--definitions", definitions, "--data-dir", "\(work)/\(name)", "--host", "127.0.0.1", "--port",
                "0",
                "--log-level", "warning", "--max-events", String(max(batch, 10_000)),
            ], workDirectory: work)
        do {
            let log = try server.waitForOutput(matching: #"listening on http://127\.0\.0\.1:[0-9]+"#)
            guard let port = firstCapture(#"listening on http://127\.0\.0\.1:([0-9]+)"#, in: log).flatMap({ Int($0) }),
                let token = firstCapture(#"\b(tally_[A-Za-z0-9_\-]+)"#, in: log)
            else { throw BenchError("cannot read the port and admin token from \(server.logPath)") }
            return try TallyHTTPStore(server: server, port: port, token: token)
        } catch {
            server.stop()
            throw error
        }
    }

    private func startRedis(name: String, work: String, aof: Bool) throws -> (ChildProcess, Int) {
        let port = try freeLoopbackPort()
        let directory = "\(work)/\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var arguments = [
            "--bind", "127.0.0.1", "--port", String(port), "--dir", directory, "--daemonize", "no", "--save", "",
            "--loglevel", "warning",
        ]
        arguments += aof ? ["--appendonly", "yes", "--appendfsync", "everysec"] : ["--appendonly", "no"]
        let server = try ChildProcess(name: name, executable: redisServer, arguments: arguments, workDirectory: work)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let client = try? RedisClient(port: port), case .simple("PONG")? = try? client.command("PING") {
                return (server, port)
            }
            usleep(50_000)
        }
        server.stop()
        throw BenchError("redis-server did not answer PING on port \(port); see \(server.logPath)")
    }

}

func say(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// The per-system sequence on a fresh store: ingest (timed), correctness, reads, freshness.
struct Runner {
    let reference: Reference
    let batches: [EventBatch]
    let points: [(card: String, at: Int64)]
    let readKeys: [String]
    let at: Int64
    let readSeconds: Double
    let probes: Int

    func run(_ store: any FeatureStore, reads: Bool = true) async throws -> SystemReport {
        say("\(store.label): ingest")
        let ingest = try await measureIngest(store, batches)
        say("  \(Int(ingest.eventsPerSecond)) events/s, \(ingest.accepted) accepted")
        var result = SystemReport(
            label: store.label, durability: store.durability, networked: store.networked, ingest: ingest)
        for mode in store.readModes {
            let check = try checkCorrectness(store, mode: mode, reference: reference, points: points)
            say("  correctness \(mode.rawValue): \(check.wrong) wrong of \(check.points)")
            for example in check.examples { say("    \(example)") }
            result.correctness.append(check)
        }
        guard reads else { return result }
        for mode in store.readModes {
            for clients in [1, 4] {
                let figures = try measureReads(
                    store, mode: mode, clients: clients, seconds: readSeconds, keys: readKeys, at: at)
                say(
                    "  reads \(mode.rawValue) ×\(clients): \(Int(figures.readsPerSecond))/s p50 \(figures.latency.p50) µs "
                        + "p99 \(figures.latency.p99) µs p999 \(figures.latency.p999) µs")
                result.reads.append(figures)
            }
        }
        result.freshness = try await measureFreshness(store, probes: probes, at: at)
        return result
    }
}

struct SkewRunner {
    let batches: [EventBatch]
    let hotCards: [String]
    let states: [String: Set<CoherentTriple>]
    let at: Int64
    let readers: Int

    func run(_ store: any FeatureStore, writer: String, mode: ReadMode) async throws -> SkewFigures {
        let figures = try await measureSkew(
            store, writer: writer, mode: mode, batches: batches, hotCards: hotCards, states: states, at: at,
            readers: readers, minimumChanges: 20)
        say(
            "\(store.label) skew (\(writer) / \(mode.rawValue)): \(figures.torn) torn of \(figures.reads) reads, "
                + "\(figures.changesSeen) changes seen\(figures.valid ? "" : " — INVALID: the writer did not visibly change the state")"
        )
        for example in figures.examples { say("    \(example)") }
        return figures
    }
}
