import CardStream
import Foundation
@_spi(Testing) import Tally

/// Retention under saturated ingest (issue 6): one stream spanning days of event time, ingested
/// by one producer in requests of 1,024 back to back, into two stores with the same definitions
/// but for `settings.retention`: 400 d (nothing is ever due) and 1 h with background retention
/// on. Reports both rates, their ratio, and what retention dropped while ingest ran.
struct RetentionCases {
    let directory: String
    let events: Int
    let cards: Int
    let durability: Durability

    func run() async throws -> [Result] {
        let text = try String(contentsOfFile: "Examples/cards.yaml", encoding: .utf8)
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 40 * 86_400_000
        var stream = CardTransactionStream(
            configuration: .init(
                seed: 42, cards: cards, start: start, eventsPerSecond: Double(events) / (10 * 86_400), duplicateRate: 0)
        )
        let bodies = (0..<(events + 1023) / 1024).map { _ in stream.nextBatch(1024) }
        print("  generated \(events) events over 10 days of event time")
        var results: [Result] = []
        for (name, retention) in [("ingest-noretention", "400d"), ("ingest-retention1h", "1h")] {
            let definitions = try DefinitionsLoader.load(
                text: text.replacingOccurrences(of: "retention: 30d", with: "retention: \(retention)"))
            var options = Tally.Options()
            options.durability = durability
            let path = "\(directory)-\(name)"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let store = try Tally.open(directory: path, definitions: definitions, options: options)
            let clock = ContinuousClock()
            var accepted = 0
            let begin = clock.now
            for body in bodies { accepted += try await store.ingest(ndjson: body).accepted }
            let seconds = (clock.now - begin).secondsValue
            let stats = try store.statistics()
            let floor = try store.retentionFloor
            results.append(Result(name: name, records: accepted, seconds: seconds, commits: stats.commits))
            print(results.last!.row)
            print(
                String(
                    format: "  %@: log entries left %d of %d, retention floor lsn %llu, store %.0f MB",
                    name, stats.logEntries, accepted, floor.lsn.rawValue, Double(DirectorySize.bytes(path)) / 1e6))
            store.close()
        }
        let ratio = results[1].recordsPerSecond / results[0].recordsPerSecond
        print(String(format: "  ingest with retention running / without: %.2f (goal ≥ 0.80)", ratio))
        return results
    }
}
