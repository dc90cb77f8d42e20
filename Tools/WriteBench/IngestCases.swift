import CardStream
import Foundation
import Histogram
import Synchronization
@_spi(RawLog) @_spi(Testing) import Tally

/// The ingest benchmark (issue 4): the generator's stream through the real NDJSON path, on one
/// store that the first case fills.
struct IngestCases {
    let directory: String
    let events: Int
    let cards: Int
    let seconds: Double
    let durability: Durability
    /// Reuse a store an earlier run filled: skip the fill, run only the live cases.
    var reuse = false
    /// With `reuse`: only the vector reads.
    var readsOnly = false
    /// The definitions (Examples/cards.yaml: 10 views; Tools/WriteBench/log-only.yaml: none).
    var definitionsPath = "Examples/cards.yaml"
    /// Events per request of the fill.
    var fillBatch = 1_024
    /// Requests of the fill in flight at once: with more than one, a request is parsed and decoded
    /// while the writer applies the one before it (and the writer may commit several together).
    var fillConcurrency = 1

    /// Runs the three ingest cases on one store; returns their rows and the store's figures.
    func run() async throws -> ([Result], IngestFigures) {
        let definitions = try DefinitionsLoader.load(path: definitionsPath)
        var options = Tally.Options()
        options.durability = durability
        if let gather = ProcessInfo.processInfo.environment["TALLY_GATHER_MICROS"].flatMap(Int.init) {
            options.gatherWindow = .microseconds(gather)
        }
        // TALLY_ID_MOVE_CHUNK: the least excess an id-index level moves at once (the default 256).
        if let chunk = ProcessInfo.processInfo.environment["TALLY_ID_MOVE_CHUNK"].flatMap(Int.init) {
            options.idIndexMoveChunk = chunk
        }
        // TALLY_VIEW_STAGE_ENTRIES: the view stage's budget (docs/VIEWS.md, "The view stage"; 0:
        // everything moves into `views` at every commit; `off`: no stage).
        if let entries = ProcessInfo.processInfo.environment["TALLY_VIEW_STAGE_ENTRIES"] {
            options.viewStageEntries = Int(entries)
        }
        // TALLY_VIEW_STAGE_THROUGH: the event of an entity in one commit from which its state
        // bypasses the stage (0: never).
        if let through = ProcessInfo.processInfo.environment["TALLY_VIEW_STAGE_THROUGH"].flatMap(Int.init) {
            options.viewStageThroughEvents = through > 0 ? through : nil
        }
        // TALLY_SMALL_FOLIOS=0 turns the page-cache shaper off (docs/STORAGE.md, "Page-cache folios").
        options.shapePageCache = ProcessInfo.processInfo.environment["TALLY_SMALL_FOLIOS"] != "0"
        // TALLY_OVERLAP_JOURNAL=0: the journaled mode appends a group's record after its apply
        // (docs/STORAGE.md, "The journaled mode").
        options.overlapJournalFlush = ProcessInfo.processInfo.environment["TALLY_OVERLAP_JOURNAL"] != "0"
        // TALLY_COUNT_ENTRIES=1 counts LMDB entries per vector read (and slows every read a little).
        options.countEntryAccesses = ProcessInfo.processInfo.environment["TALLY_COUNT_ENTRIES"] == "1"
        let store = try Tally.open(directory: directory, definitions: definitions, options: options)
        defer { store.close() }
        if reuse {
            let reads =
                definitions.views.isEmpty ? [] : try VectorReadCases(store: store, cards: cards, seconds: seconds).run()
            let live = readsOnly ? { [] } : try liveCases(store)
            let figures = IngestFigures(
                events: 0, cards: cards, ndjsonBytesPerEvent: 0, writeBytesPerEvent: 0,
                storeBytes: DirectorySize.bytes(directory),
                storeBytesPerEvent: 0)
            return (reads + (try await live()), figures)
        }
        var stream = CardTransactionStream(
            configuration: .init(
                seed: 42, cards: cards, start: Int64(Date().timeIntervalSince1970 * 1000) - 86_400_000,
                eventsPerSecond: Double(events) / 80_000, duplicateRate: 0))
        // Pre-generate so the generator's cost is not in the figures.
        let generationStart = ContinuousClock.now
        let bodies = (0..<(events + fillBatch - 1) / fillBatch).map { _ in stream.nextBatch(fillBatch) }
        let ndjsonBytes = bodies.reduce(0) { $0 + $1.count }
        print(
            String(
                format: "  generated %d events (%.0f bytes/event NDJSON) in %.1f s", events,
                Double(ndjsonBytes) / Double(events),
                (ContinuousClock.now - generationStart).secondsValue))

        var results: [Result] = []
        let device = DeviceIO(directory: directory)
        let writtenBefore = device.bytesWritten()
        let clock = ContinuousClock()
        var latency = newHistogram()
        var accepted = 0
        let recorder = CommitRecorder(observing: store)
        let start = clock.now
        let next = FillCursor()
        let requests = bodies
        let perProducer = try await withThrowingTaskGroup(of: (Int, [UInt64]).self) { group in
            for _ in 0..<fillConcurrency {
                group.addTask {
                    var accepted = 0
                    var latencies: [UInt64] = []
                    while true {
                        let index = next.take()
                        guard index < requests.count else { break }
                        let t0 = ContinuousClock.now
                        let result = try await store.ingest(ndjson: requests[index])
                        latencies.append(nanoseconds(ContinuousClock.now - t0))
                        accepted += result.accepted
                    }
                    return (accepted, latencies)
                }
            }
            var all: [(Int, [UInt64])] = []
            for try await producer in group { all.append(producer) }
            return all
        }
        for (count, latencies) in perProducer {
            accepted += count
            for value in latencies { _ = latency.record(value) }
        }
        let elapsed = (clock.now - start).secondsValue
        sync()  // count what the page cache still holds for the data file
        let written = device.bytesWritten() - writtenBefore
        let name = fillConcurrency == 1 ? "ingest\(fillBatch)" : "ingest\(fillBatch)x\(fillConcurrency)"
        var fill = Result(
            name: name, records: accepted, seconds: elapsed, commits: try store.statistics().commits, latency: latency)
        recorder.stop(store, into: &fill)
        results.append(fill)
        let storeBytes = DirectorySize.bytes(directory)

        if !definitions.views.isEmpty {
            results.append(contentsOf: try VectorReadCases(store: store, cards: cards, seconds: seconds).run())
        }
        results.append(contentsOf: try await liveCases(store)())
        let figures = IngestFigures(
            events: events, cards: cards, ndjsonBytesPerEvent: Double(ndjsonBytes) / Double(events),
            writeBytesPerEvent: Double(written) / Double(max(accepted, 1)), storeBytes: storeBytes,
            storeBytesPerEvent: Double(storeBytes) / Double(max(accepted, 1)))
        return (results, figures)
    }

    /// Live traffic on the filled store: fresh single events, from 16 producers, then open loop.
    private func liveCases(_ store: Tally) throws -> () async throws -> [Result] {
        var live = CardTransactionStream(
            configuration: .init(
                seed: UInt64.random(in: 1...UInt64.max), cards: cards,
                start: Int64(Date().timeIntervalSince1970 * 1000) - 60_000,
                eventsPerSecond: 10_000, duplicateRate: 0))
        // Disjoint slices: an event the producers sent would be a duplicate in the open loop,
        // acknowledged after a commit that writes nothing (and flushes nothing).
        let forProducers = (0..<max(200_000, Int(25_000 * seconds))).map { _ in live.next() }
        let forOpenLoop = (0..<Int(5_000 * seconds)).map { _ in live.next() }
        return {
            [
                try await producers(store, forProducers, count: 16),
                try await openLoop(store, forOpenLoop, rate: 5_000),
            ]
        }
    }

    /// `count` producers each awaiting single events, for `seconds`.
    private func producers(_ store: Tally, _ events: [[UInt8]], count: Int) async throws -> Result {
        let clock = ContinuousClock()
        let commitsBefore = try store.statistics().commits
        let recorder = CommitRecorder(observing: store)
        let device = DeviceIO(directory: directory)
        let writtenBefore = device.bytesWritten()
        let start = clock.now
        let share = events.count / count
        let (total, latency) = try await LoadShape.closedLoop(producers: count, until: start + .seconds(seconds)) {
            producer, n in
            guard n < share else { return false }
            try Self.expectAccepted(try await store.ingest(ndjson: events[producer * share + n]))
            return true
        }
        var result = Result(
            name: "ingest-producers\(count)", records: total, seconds: (clock.now - start).secondsValue,
            commits: try store.statistics().commits - commitsBefore, latency: latency)
        result.deviceBytesPerSecond = Double(device.bytesWritten() - writtenBefore) / result.seconds
        recorder.stop(store, into: &result)
        return result
    }

    /// Single events offered at `rate`/s on a fixed schedule (``LoadShape/openLoop``).
    private func openLoop(_ store: Tally, _ events: [[UInt8]], rate: Int) async throws -> Result {
        let commitsBefore = try store.statistics().commits
        let recorder = CommitRecorder(observing: store)
        let device = DeviceIO(directory: directory)
        let writtenBefore = device.bytesWritten()
        let run = try await LoadShape.openLoop(rate: rate, count: events.count) { n in
            let result = try await store.ingest(ndjson: events[n])
            try Self.expectAccepted(result)
            return result.lsn.rawValue
        }
        var result = Result(
            name: "ingest-openloop\(rate)", records: events.count, seconds: run.seconds,
            commits: try store.statistics().commits - commitsBefore, latency: run.latency)
        result.sendLagP99Micros = Double(run.sendLag.valueAtPercentile(99)) / 1000
        result.deviceBytesPerSecond = Double(device.bytesWritten() - writtenBefore) / run.seconds
        recorder.stop(store, into: &result)
        return result
    }
}

extension IngestCases {
    /// A live event that was not accepted (a duplicate, say) commits nothing and would flatter the
    /// latency figures: the run stops instead.
    struct NotAccepted: Error, CustomStringConvertible {
        let result: IngestResult
        var description: String { "a live benchmark event was not accepted: \(result.outcomes)" }
    }

    static func expectAccepted(_ result: IngestResult) throws {
        guard result.accepted == 1 else { throw NotAccepted(result: result) }
    }
}

struct IngestFigures: Codable {
    var events: Int
    var cards: Int
    var ndjsonBytesPerEvent: Double
    var writeBytesPerEvent: Double
    var storeBytes: Int
    var storeBytesPerEvent: Double
}

/// Bytes written to the block device holding a directory, from /sys/class/block/DEV/stat
/// (sectors written × 512). Counts every process's writes to that device: run on a quiet machine.
/// (This process's /proc/self/io write_bytes overcounts about 10× on this kind of VM: a raw LMDB
/// spike showed 44.8 KB/event there against 4.3 KB/event at the device.)
struct DeviceIO {
    let statPath: String?

    init(directory: String) {
        let source = Filesystem.mountColumn("SOURCE", of: directory) ?? ""
        let name = URL(fileURLWithPath: source).lastPathComponent
        let path = "/sys/class/block/\(name)/stat"
        statPath = FileManager.default.fileExists(atPath: path) ? path : nil
    }

    func bytesWritten() -> Int {
        guard let statPath, let text = try? String(contentsOfFile: statPath, encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 6 ? (Int(fields[6]) ?? 0) * 512 : 0
    }
}

enum DirectorySize {
    /// Bytes allocated on disk by the files in `path` (like `du`).
    static func bytes(_ path: String) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return files.reduce(0) { total, name in
            var info = stat()
            guard stat(path + "/" + name, &info) == 0 else { return total }
            return total + Int(info.st_blocks) * 512
        }
    }
}

/// Hands out the fill's request indices to its concurrent producers.
private final class FillCursor: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}
