import Foundation
import Histogram
import Synchronization

func newHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

func nanoseconds(_ duration: Duration) -> UInt64 {
    let (seconds, attoseconds) = duration.components
    return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Latency percentiles in microseconds, the form every report uses.
struct Latency: Codable, Sendable {
    var count: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var p9999: Double
    var max: Double

    init(_ histogram: Histogram<UInt64>) {
        func micros(_ value: UInt64) -> Double { (Double(value) / 1000).rounded(toPlaces: 1) }
        count = histogram.totalCount
        p50 = micros(histogram.valueAtPercentile(50))
        p90 = micros(histogram.valueAtPercentile(90))
        p99 = micros(histogram.valueAtPercentile(99))
        p999 = micros(histogram.valueAtPercentile(99.9))
        p9999 = micros(histogram.valueAtPercentile(99.99))
        max = micros(histogram.max)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}

struct IngestFigures: Codable, Sendable {
    var events: Int
    var accepted: Int
    var seconds: Double
    var eventsPerSecond: Double
    var batchLatency: Latency
}

/// Drives every batch through `store`, one request in flight (the same for every system).
func measureIngest(_ store: any FeatureStore, _ batches: [EventBatch]) async throws -> IngestFigures {
    var latency = newHistogram()
    var accepted = 0
    let clock = ContinuousClock()
    let start = clock.now
    for batch in batches {
        let t0 = clock.now
        accepted += try await store.ingest(batch)
        _ = latency.record(nanoseconds(clock.now - t0))
    }
    let seconds = (clock.now - start).seconds
    let events = batches.reduce(0) { $0 + $1.events.count }
    return IngestFigures(
        events: events, accepted: accepted, seconds: seconds.rounded(toPlaces: 3),
        eventsPerSecond: (Double(events) / seconds).rounded(), batchLatency: Latency(latency))
}

struct CorrectnessFigures: Codable, Sendable {
    var mode: ReadMode
    var points: Int
    var wrong: Int
    var examples: [String]
}

/// Reads every (card, t) point and compares it with the naive recomputation.
func checkCorrectness(
    _ store: any FeatureStore, mode: ReadMode, reference: Reference, points: [(card: String, at: Int64)]
) throws -> CorrectnessFigures {
    let reader = try store.makeReader(mode)
    var wrong = 0
    var examples: [String] = []
    for point in points {
        let expected = reference.features(
            card: point.card, at: point.at, exposureAt: store.exposureIsAsOf ? point.at : reference.endTime)
        let got = try reader.read(card: point.card, at: point.at)
        if got != expected {
            wrong += 1
            if examples.count < 5 { examples.append("\(point.card) at \(point.at): got \(got), expected \(expected)") }
        }
    }
    return CorrectnessFigures(mode: mode, points: points.count, wrong: wrong, examples: examples)
}

struct ReadFigures: Codable, Sendable {
    var mode: ReadMode
    var clients: Int
    var reads: Int
    var seconds: Double
    var readsPerSecond: Double
    var latency: Latency
}

/// `clients` threads, each with its own reader (connection), read vectors of `keys` (cycled from
/// a per-thread offset) at `at` for `seconds`, after a short warm-up.
func measureReads(
    _ store: any FeatureStore, mode: ReadMode, clients: Int, seconds: Double, keys: [String], at: Int64
) throws -> ReadFigures {
    let readers = try (0..<clients).map { _ in try store.makeReader(mode) }
    let results = Mutex<[(Histogram<UInt64>, Int, (any Error)?)]>([])
    let group = DispatchGroup()
    let clock = ContinuousClock()
    let startGate = DispatchSemaphore(value: 0)
    let warmed = DispatchGroup()
    nonisolated(unsafe) let unsafeReaders = readers
    for index in 0..<clients {
        group.enter()
        warmed.enter()
        let thread = Thread {
            defer { group.leave() }
            let reader = unsafeReaders[index]
            var histogram = newHistogram()
            var count = 0
            var failure: (any Error)?
            var k = index * 7919 % keys.count
            do {
                defer { startGate.wait() }  // after warming up (or failing), wait for the common start
                do {
                    defer { warmed.leave() }
                    for _ in 0..<50 {
                        _ = try reader.read(card: keys[k], at: at)
                        k = (k + 1) % keys.count
                    }
                }
            } catch {
                failure = error
            }
            do {
                if let failure { throw failure }
                let start = clock.now
                let end = start + .nanoseconds(Int64(seconds * 1e9))
                while true {
                    let t0 = clock.now
                    if t0 >= end { break }
                    _ = try reader.read(card: keys[k], at: at)
                    _ = histogram.record(nanoseconds(clock.now - t0))
                    count += 1
                    k = (k + 1) % keys.count
                }
            } catch {
                failure = error
            }
            results.withLock { $0.append((histogram, count, failure)) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    // Every thread warms up, then all start together (a failed warm-up still gets its signal).
    warmed.wait()
    for _ in 0..<clients { startGate.signal() }
    group.wait()
    let all = results.withLock { $0 }
    if let failure = all.compactMap(\.2).first { throw failure }
    var merged = newHistogram()
    var total = 0
    for (histogram, count, _) in all {
        merged.add(histogram)
        total += count
    }
    return ReadFigures(
        mode: mode, clients: clients, reads: total, seconds: seconds,
        readsPerSecond: (Double(total) / seconds).rounded(), latency: Latency(merged))
}

struct FreshnessFigures: Codable, Sendable {
    var probes: Int
    /// From the writer's acknowledgement to the end of the first read (on another client) that
    /// sees the event: includes that one read.
    var ackToVisible: Latency
    /// Reads needed until visible, at most (1 = visible at the first read after the ack).
    var maxReadsNeeded: Int
}

/// Writes single authorizations for fresh cards and polls another client until each is visible.
func measureFreshness(_ store: any FeatureStore, probes: Int, at: Int64) async throws -> FreshnessFigures {
    let reader = try store.makeReader(store.readModes[0])
    var histogram = newHistogram()
    var maxReads = 0
    let clock = ContinuousClock()
    for i in 0..<probes {
        let card = "fresh_\(i)"
        let line =
            #"{"type":"authorization","txn_id":"fresh-\#(i)","ts":\#(at),"card":"\#(card)","merchant":"m_0","amount":1.00,"country":"FR","mcc":null}"#
        let event = try StreamFile.parse(Array(line.utf8), lineNumber: 0)
        let batch = EventBatch([event][...])
        _ = try await store.ingest(batch)
        let acked = clock.now
        var reads = 0
        while true {
            reads += 1
            if try reader.read(card: card, at: at).count1h >= 1 { break }
            if reads > 100_000 { throw BenchError("\(store.label): probe \(card) not visible after 100,000 reads") }
        }
        _ = histogram.record(nanoseconds(clock.now - acked))
        maxReads = max(maxReads, reads)
    }
    return FreshnessFigures(probes: probes, ackToVisible: Latency(histogram), maxReadsNeeded: maxReads)
}

struct SkewFigures: Codable, Sendable {
    var label: String
    var writer: String
    var mode: ReadMode
    var events: Int
    var reads: Int
    /// Vectors equal to no committed state of their card.
    var torn: Int
    var tornPercent: Double
    /// Consecutive reads of one card by one reader that differed: the writer changed the state
    /// while the reads ran. Below `minimumChanges` the mode is invalid (it proved nothing).
    var changesSeen: Int
    var valid: Bool
    var examples: [String]
}

/// Readers read the hot cards' (count 1h, sum 24h, exposure) at the stream's end time while the
/// writer ingests `batches` into a fresh store; each answer is checked against every state a
/// prefix of the accepted events gives that card.
func measureSkew(
    _ store: any FeatureStore, writer: String, mode: ReadMode, batches: [EventBatch], hotCards: [String],
    states: [String: Set<CoherentTriple>], at: Int64, readers readerCount: Int, minimumChanges: Int
) async throws -> SkewFigures {
    let readers = try (0..<readerCount).map { _ in try store.makeReader(mode) }
    nonisolated(unsafe) let unsafeReaders = readers
    let writing = Atomic<Bool>(true)
    let results = Mutex<[(reads: Int, torn: Int, changes: Int, examples: [String], failure: (any Error)?)]>([])
    let group = DispatchGroup()
    for index in 0..<readerCount {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            let reader = unsafeReaders[index]
            var reads = 0
            var torn = 0
            var changes = 0
            var examples: [String] = []
            var last: [String: CoherentTriple] = [:]
            var failure: (any Error)?
            var k = index
            do {
                while writing.load(ordering: .acquiring) {
                    let card = hotCards[k % hotCards.count]
                    k += 1
                    let seen = try reader.read(card: card, at: at).coherencePart
                    reads += 1
                    if !(states[card]?.contains(seen) ?? false) {
                        torn += 1
                        if examples.count < 3 {
                            examples.append(
                                "\(card): count1h=\(seen.count1h) sum24h=\(Cents.text(seen.sum24h)) exposure=\(Cents.text(seen.exposure))"
                            )
                        }
                    }
                    if let previous = last[card], previous != seen { changes += 1 }
                    last[card] = seen
                }
            } catch {
                failure = error
            }
            results.withLock { $0.append((reads, torn, changes, examples, failure)) }
        }
        thread.start()
    }
    var writeFailure: (any Error)?
    do {
        for batch in batches { _ = try await store.ingest(batch) }
    } catch {
        writeFailure = error
    }
    writing.store(false, ordering: .releasing)
    group.wait()
    if let writeFailure { throw writeFailure }
    let all = results.withLock { $0 }
    if let failure = all.compactMap(\.failure).first { throw failure }
    let reads = all.reduce(0) { $0 + $1.reads }
    let torn = all.reduce(0) { $0 + $1.torn }
    let changes = all.reduce(0) { $0 + $1.changes }
    return SkewFigures(
        label: store.label, writer: writer, mode: mode, events: batches.reduce(0) { $0 + $1.events.count },
        reads: reads, torn: torn,
        tornPercent: reads == 0 ? 0 : (Double(torn) * 100 / Double(reads)).rounded(toPlaces: 3),
        changesSeen: changes, valid: changes >= minimumChanges && reads >= 100, examples: all.flatMap(\.examples))
}
