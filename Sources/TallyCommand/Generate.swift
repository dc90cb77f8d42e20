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
