import ArgumentParser
import CardStream
import Foundation

/// `tally generate`: writes a seeded synthetic card-payment stream for Examples/cards.yaml as NDJSON.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a seeded synthetic card-payment stream (NDJSON) for Examples/cards.yaml.")

    @Option(help: "How many events.") var events = 10_000
    @Option(help: "How many distinct cards (Zipf-distributed).") var cards = 1_000
    @Option(help: "Random seed: the same seed gives the same stream.") var seed: UInt64 = 1
    @Option(help: "Event time of the first event, epoch ms (default: 1 hour ago).") var start: Int64?
    @Option(help: "Events per second of event time.") var rate: Double = 500
    @Option(help: "Share of redelivered (duplicate) events, 0…1.") var duplicates: Double = 0.01
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must be 0 or more, not \(events)") }
        guard (1...10_000_000).contains(cards) else {
            throw ValidationError("--cards must be from 1 to 10,000,000, not \(cards)")
        }
        guard rate.isFinite, rate >= 0.001, rate <= 1_000_000 else {
            throw ValidationError("--rate must be from 0.001 to 1,000,000 events per second, not \(rate)")
        }
        // The stream's clock must stay a timestamp for every event it writes.
        let span = Double(events) * 1000 / rate
        let first = Double(start ?? 0)
        guard first + span <= 253_402_300_799_999 else {  // 9999-12-31T23:59:59.999Z
            throw ValidationError("--start, --events and --rate run past the latest timestamp (year 9999)")
        }
        guard duplicates.isFinite, (0...1).contains(duplicates) else {
            throw ValidationError("--duplicates must be a share from 0 to 1, not \(duplicates)")
        }
        if let start, start < 0 { throw ValidationError("--start must be epoch milliseconds ≥ 0, not \(start)") }
    }

    func run() async throws {
        let startTime = start ?? Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
        var stream = CardTransactionStream(
            configuration: .init(
                seed: seed, cards: cards, start: startTime, eventsPerSecond: rate, duplicateRate: duplicates))
        let handle: FileHandle
        if let output {
            FileManager.default.createFile(atPath: output, contents: nil)
            guard let file = FileHandle(forWritingAtPath: output) else {
                throw ValidationError("cannot write \(output)")
            }
            handle = file
        } else {
            handle = .standardOutput
        }
        var remaining = events
        while remaining > 0 {
            let count = min(remaining, 10_000)
            handle.write(Data(stream.nextBatch(count)))
            remaining -= count
        }
        if output != nil { try handle.close() }
    }
}
