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
        guard cards >= 1 else { throw ValidationError("--cards must be at least 1, not \(cards)") }
        guard rate.isFinite, rate > 0, rate <= 1_000_000 else {
            throw ValidationError("--rate must be more than 0 and at most 1,000,000 events per second, not \(rate)")
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
