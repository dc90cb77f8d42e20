import ArgumentParser
import CardStream
import Foundation
import Logging
import ServiceLifecycle
import Tally
import TallyServer

/// `tally demo`: a self-contained live run — `tally serve` (without authentication, on loopback)
/// on the example definitions, fed in real time by the synthetic card-payment stream, printing a
/// line per second while you query it with curl.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a live demo: the server on the example definitions, fed by a synthetic card stream.",
        discussion: """
            Demo only: the server runs WITHOUT authentication (as `tally serve --insecure`). The store is a \
            fresh temporary directory (removed at exit) unless --data-dir is given. Stop with Ctrl-C.
            """)

    @Option(help: "Definitions file (default: the bundled Examples/cards.yaml, built in).") var definitions: String?
    @Option(help: "Keep the store in this directory (default: a temporary one, removed at exit).")
    var dataDir: String?
    @Option(help: "Address to listen on (keep it on loopback: there is no authentication).") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port).") var port = 8080
    @Option(help: "Synthetic events per second (wall clock).") var rate = 200
    @Option(help: "Stop after this many seconds (0: run until Ctrl-C).") var seconds = 0

    func run() async throws {
        let loaded =
            if let definitions { try DefinitionsFile.load(definitions) } else {
                try DefinitionsLoader.load(text: ExampleDefinitions.cardsYAML, source: ExampleDefinitions.source)
            }
        let temporary = dataDir == nil
        let directory = dataDir ?? NSTemporaryDirectory() + "tally-demo-\(UUID().uuidString)"
        defer { if temporary { try? FileManager.default.removeItem(atPath: directory) } }
        let store = try Tally.open(
            directory: directory, definitions: loaded, options: OpenProgress.options("tally demo"))
        var logger = Logger(label: "tally.demo")
        logger.logLevel = .warning
        let server = TallyServer(store: store, authenticator: .disabled, logger: logger)
        let feed = DemoFeed(store: store, rate: max(10, rate), seconds: seconds)
        let host = host
        try await server.run(host: host, port: port, companions: [feed]) { port in
            let url = "http://\(host):\(port)"
            FileHandle.standardOutput.write(
                Data(
                    """
                    tally demo: serving \(url) WITHOUT authentication (demo only), store \(directory)
                    feeding \(max(10, rate)) synthetic card events per second; try, in another terminal:
                      curl -s \(url)/v1/entities/card/card_0
                      curl -s -H 'Content-Type: application/json' \(url)/v1/vectors \\
                           -d '{"entities":[{"entity":"card","key":"card_0"},{"entity":"merchant","key":"m_0"}]}'
                      curl -s \(url)/metrics | grep tally_ingest_events_total
                      curl -s -X PUT \(url)/v1/lists/blocked_cards/members/card_5
                      curl -s -H 'Content-Type: application/json' \(url)/v1/decide \\
                           -d '{"request":{"card":"card_5","amount":"12.5","country":"FR"}}'

                    """.utf8))
        }
    }
}

/// Ingests the synthetic stream in real time, ten requests a second, and prints a status line
/// (LSN, outcomes, one card's live views) every second, then a live decision: the stream's next
/// event scored with `decide` (ingested in the same transaction) on the example rules. `card_3`
/// is put on `blocked_cards` at the start, so its decisions show `block`.
struct DemoFeed: Service {
    let store: Tally
    let rate: Int
    let seconds: Int

    func run() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var stream = CardTransactionStream(
            configuration: .init(seed: 7, cards: 200, start: now, eventsPerSecond: Double(rate), duplicateRate: 0.01))
        let started = ContinuousClock.now
        var totals = (accepted: 0, duplicates: 0, rejected: 0)
        var tick = 0
        if (try? await store.addListMember("blocked_cards", member: "card_3")) != nil {
            FileHandle.standardOutput.write(Data("card_3 is on blocked_cards: its decisions say block\n".utf8))
        }
        while !Task.isShuttingDownGracefully, seconds == 0 || tick < seconds * 10 {
            tick += 1
            let result = try await store.ingest(ndjson: stream.nextBatch(rate / 10))
            totals.accepted += result.accepted
            totals.duplicates += result.duplicates
            totals.rejected += result.rejected.count
            if tick % 10 == 0 {
                let line = try store.read { snapshot in
                    let token = try snapshot.token()
                    let vector = try snapshot.vector(entity: "card", key: "card_0", at: token)
                    let views = ["card_txn_count_60s", "card_amount_sum_24h", "card_distinct_merchants_5m"]
                        .map { "\($0)=\(vector[view: $0]?.description ?? "-")" }.joined(separator: " ")
                    return "t=\(tick / 10)s lsn=\(token.lsn) accepted=\(totals.accepted) "
                        + "duplicates=\(totals.duplicates) rejected=\(totals.rejected) | card_0 \(views)"
                }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
                FileHandle.standardOutput.write(Data((await decideNext(&stream, number: tick / 10) + "\n").utf8))
            }
            try? await Task.sleep(until: started + .milliseconds(100 * tick))
        }
    }

    /// Scores the stream's next event (every fifth second one of `card_3`'s) and describes it.
    private func decideNext(_ stream: inout CardTransactionStream, number: Int) async -> String {
        var payload = stream.next()
        if number % 5 == 0, var text = String(bytes: payload, encoding: .utf8),
            let range = text.range(of: #""card":"card_\d+""#, options: .regularExpression)
        {
            text.replaceSubrange(range, with: #""card":"card_3""#)
            payload = Array(text.utf8)
        }
        do {
            let decision = try await store.decide(DecisionRequest(payload: payload))
            let card = decision.vectors.first { $0.entity == "card" }
            let count = card?[view: "card_txn_count_60s"]?.description ?? "-"
            let reasons = decision.reasons.isEmpty ? "" : " (\(decision.reasons.joined(separator: ", ")))"
            return "  decision #\(decision.id) \(card?.key ?? "?"): \(decision.outcome)\(reasons), "
                + "card_txn_count_60s=\(count) at lsn \(decision.token.lsn)"
        } catch {
            return "  decision: \(error)"
        }
    }
}
