import ArgumentParser
import Foundation
import Histogram
@_spi(RawLog) import Tally

/// Release-mode benchmark of Tally's write path; docs/STORAGE.md and docs/VIEWS.md give what its cases measured.
///
/// Cases, each on a fresh store in the data directory:
/// - `batchN`: one producer appending N records per request, awaiting each ack;
/// - `producers16`: 16 producers each awaiting single-record writes (group commit at work);
/// - `openloopR`: single-record writes sent at R/s on a fixed schedule, not waiting for acks;
///   latency is measured from the *scheduled* send time, so queueing delay is counted;
/// - `lmdbN`: raw LMDB on the calling thread, one synced transaction per N records: the floor;
/// - `census`: no writes; where the bytes of the store named by `--reuse-store` are
///   (``StateCensus``).
@main
struct WriteBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-write-bench", abstract: "Benchmark Tally's durable write path.")

    @Option(help: "Directory for the benchmark stores (must not be tmpfs).")
    var dataDir = ".bench-data"

    @Option(help: "Seconds per case.")
    var duration: Double = 3

    @Option(help: "Record size in bytes.")
    var recordSize = 200

    @Option(
        help:
            "Comma-separated cases: batch1,batch64,batch1024,producers16,openloop1000,openloop5000,lmdb1,lmdb64,lmdb1024, ingest, backfill, retention, layout-stateMajor, layout-eventRecord, layout-eventMajor, layout-staged (issue 5 spike, raw LMDB), census (where --reuse-store's bytes are)."
    )
    var cases = "fsync,lmdb1,batch1,lmdb64,batch64,lmdb1024,batch1024,producers16,openloop1000,openloop5000"

    @Option(help: "durable, journaled or relaxed (TALLY_CHECKPOINT_MS sets the journaled checkpoint interval).")
    var durability = "durable"

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Events for the ingest case (the generator's stream).")
    var events = 10_000_000

    @Option(help: "Distinct cards for the ingest case.")
    var cards = 1_000_000

    @Option(help: "Events per request of the ingest case's fill (its row is ingestN).")
    var fillBatch = 1_024

    @Option(help: "Requests of the ingest case's fill in flight at once (1: each waits for the previous one's commit).")
    var fillConcurrency = 1

    @Option(
        help: "Run the ingest case's live phases (16 producers, open loop) on this already filled store; skip the fill."
    )
    var reuseStore: String?

    @Option(help: "Definitions of the ingest case (Tools/WriteBench/log-only.yaml: the log alone, no views).")
    var definitions = "Examples/cards.yaml"

    @Flag(help: "With --reuse-store: only the vector reads, no live ingest (the store is left unchanged).")
    var readsOnly = false

    @Option(help: "layout-staged: stage entries kept before each commit moves the excess into the views database.")
    var stageEntries = 1_000_000

    @Flag(help: "Keep the ingest case's store (its path is printed) for later --reuse-store runs.")
    var keepStore = false

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let filesystem = Filesystem.type(of: dataDir)
        guard filesystem != "tmpfs" else {
            throw ValidationError("\(dataDir) is on tmpfs: fsync is free there, the figures would be meaningless")
        }
        let checkpointEvery = ProcessInfo.processInfo.environment["TALLY_CHECKPOINT_MS"].flatMap(Int.init) ?? 1000
        let mode: Durability =
            switch durability {
            case "relaxed": .relaxed()
            case "journaled": .journaled(checkpointInterval: .milliseconds(checkpointEvery))
            case "durable": .durable
            default: throw ValidationError("--durability takes durable, journaled or relaxed")
            }
        print(
            "tally-write-bench  filesystem=\(filesystem)  durability=\(durability)  record=\(recordSize) B  "
                + "duration=\(duration) s/case  cores=\(ProcessInfo.processInfo.activeProcessorCount)  "
                + "git=\(ProcessInfo.processInfo.environment["GIT_SHA"] ?? "?")")
        print(Result.header)
        var results: [Result] = []
        var ingestFigures: IngestFigures?
        for name in cases.split(separator: ",").map(String.init) {
            let directory = "\(dataDir)/\(name)-\(UUID().uuidString.prefix(8))"
            defer {
                if keepStore && name == "ingest" {
                    print("  kept the ingest store at \(directory)")
                } else {
                    try? FileManager.default.removeItem(atPath: directory)
                }
                fflush(nil)  // a long run's finished cases reach a file as they end, not at exit
            }
            let bench = Case(directory: directory, seconds: duration, recordSize: recordSize, durability: mode)
            let result: Result
            switch name {
            case "fsync": result = try bench.fsyncBaseline()
            case let n where n.hasPrefix("lmdb"): result = try bench.rawLMDB(batch: Int(n.dropFirst(4))!)
            case let n where n.hasPrefix("batch"): result = try await bench.sequential(batch: Int(n.dropFirst(5))!)
            case let n where n.hasPrefix("producers"): result = try await bench.producers(Int(n.dropFirst(9))!)
            case let n where n.hasPrefix("openloop"): result = try await bench.openLoop(rate: Int(n.dropFirst(8))!)
            case "backfill":
                results.append(
                    contentsOf: try await BackfillCheck(
                        directory: directory, events: events, cards: cards, durability: mode
                    ).run())
                continue
            case "retention":
                results.append(
                    contentsOf: try await RetentionCases(
                        directory: directory, events: events, cards: cards, durability: mode
                    ).run())
                continue
            case "census":
                guard let store = reuseStore else { throw ValidationError("census reads the store of --reuse-store") }
                try StateCensus(directory: store).run()
                continue
            case let n where n.hasPrefix("layout-"):
                guard let layout = LayoutSpike.Layout(rawValue: String(n.dropFirst(7))) else {
                    throw ValidationError(
                        "unknown layout in \(n): layout-stateMajor, layout-eventRecord, layout-eventMajor or layout-staged"
                    )
                }
                let (row, figures) = try LayoutSpike(
                    directory: directory, events: events, cards: cards, layout: layout, stageEntries: stageEntries
                ).run()
                print(row.row)
                print(
                    String(
                        format: "  device writes %.0f B/event; store %.0f MB (%.0f B/event)",
                        figures.writeBytesPerEvent, Double(figures.storeBytes) / 1e6, figures.storeBytesPerEvent))
                results.append(row)
                continue
            case "ingest":
                let (rows, figures) = try await IngestCases(
                    directory: reuseStore ?? directory, events: events, cards: cards, seconds: duration,
                    durability: mode,
                    reuse: reuseStore != nil, readsOnly: readsOnly, definitionsPath: definitions,
                    fillBatch: max(1, fillBatch), fillConcurrency: max(1, fillConcurrency)
                ).run()
                for row in rows.dropLast() { print(row.row) }
                print(rows.last!.row)
                print(
                    String(
                        format:
                            "  ingest store: %d events, %d cards; NDJSON %.0f B/event; device writes %.0f B/event; store %.0f MB (%.0f B/event)",
                        figures.events, figures.cards, figures.ndjsonBytesPerEvent, figures.writeBytesPerEvent,
                        Double(figures.storeBytes) / 1e6, figures.storeBytesPerEvent))
                results.append(contentsOf: rows)
                ingestFigures = figures
                continue
            default: throw ValidationError("unknown case \(name)")
            }
            print(result.row)
            results.append(result)
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = Report(
                filesystem: filesystem, durability: durability, recordSize: recordSize, results: results,
                ingest: ingestFigures)
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }
}

struct Report: Codable {
    var filesystem: String
    var durability: String
    var recordSize: Int
    var results: [Result]
    var ingest: IngestFigures?
}

/// One row of the report.
struct Result: Codable {
    var name: String
    var records: Int
    var seconds: Double
    var commits: UInt64
    var p50Micros: Double?
    var p99Micros: Double?
    var p999Micros: Double?
    /// Open loop only: p99 of how late the generator sent behind its schedule.
    var sendLagP99Micros: Double?
    /// Ingest live cases: the store's own commit reports (``CommitRecorder``): the commit alone,
    /// applying the group before it, and requests per commit.
    var commitP50Micros: Double?
    var commitP99Micros: Double?
    var applyP50Micros: Double?
    var applyP99Micros: Double?
    var requestsPerCommit: Double?
    /// Ingest live cases: bytes the store's block device wrote during the case (every process's
    /// writes; run on a quiet machine), per second. What a flush waits behind (docs/STORAGE.md).
    var deviceBytesPerSecond: Double?

    var recordsPerSecond: Double { Double(records) / seconds }

    static let header = "case                  records/s    commits/s   recs/commit     p50 µs     p99 µs    p999 µs"

    var row: String {
        func f(_ value: Double?) -> String { value.map { String(format: "%10.0f", $0) } ?? "         -" }
        let commitsPerSecond = Double(commits) / seconds
        let perCommit = commits > 0 ? Double(records) / Double(commits) : 0
        return name.padding(toLength: 20, withPad: " ", startingAt: 0)
            + String(format: "%11.0f  %11.0f  %12.1f ", recordsPerSecond, commitsPerSecond, perCommit)
            + f(p50Micros) + " " + f(p99Micros) + " " + f(p999Micros)
            + (sendLagP99Micros.map { String(format: "   (generator lag p99 %.0f µs)", $0) } ?? "")
            + commitBreakdown
    }

    /// A second line: where the writer's time went, when the case recorded it.
    private var commitBreakdown: String {
        guard let commitP50Micros, let commitP99Micros, let applyP50Micros, let applyP99Micros, let requestsPerCommit
        else { return "" }
        return String(
            format: "\n    writer: commit p50 %.0f / p99 %.0f µs, apply p50 %.0f / p99 %.0f µs, %.1f requests/commit",
            commitP50Micros, commitP99Micros, applyP50Micros, applyP99Micros, requestsPerCommit)
            + (deviceBytesPerSecond.map {
                String(format: "; device writes %.1f MB/s, %.0f B/record", $0 / 1e6, $0 / recordsPerSecond)
            } ?? "")
    }

    init(name: String, records: Int, seconds: Double, commits: UInt64, latency: Histogram<UInt64>? = nil) {
        self.name = name
        self.records = records
        self.seconds = seconds
        self.commits = commits
        if let latency, latency.totalCount > 0 {
            p50Micros = Double(latency.valueAtPercentile(50)) / 1000
            p99Micros = Double(latency.valueAtPercentile(99)) / 1000
            p999Micros = Double(latency.valueAtPercentile(99.9)) / 1000
        }
    }
}

enum Filesystem {
    /// The filesystem type of `path` (ext4, xfs, tmpfs, ...).
    static func type(of path: String) -> String { mountColumn("FSTYPE", of: path) ?? "unknown" }

    /// One column of `findmnt` for the mount holding `path` (`FSTYPE`, `SOURCE`, …).
    static func mountColumn(_ column: String, of path: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/findmnt")
        process.arguments = ["-n", "-o", column, "--target", path]
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

func nanoseconds(_ duration: Duration) -> UInt64 {
    let (s, attos) = duration.components
    return UInt64(s) * 1_000_000_000 + UInt64(attos / 1_000_000_000)
}

func newHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}
