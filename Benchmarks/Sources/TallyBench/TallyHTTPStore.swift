import BenchTransport

/// `tally serve` (a child process, release build) driven over loopback by ``HTTPClient``:
/// `POST /v1/events` (NDJSON) per batch, `GET /v1/entities/card/{key}?at=` per vector.
final class TallyHTTPStore: FeatureStore, @unchecked Sendable {
    let label = "tally-http durable"
    let durability = "fsync per commit (group commit)"
    let networked = true
    let readModes: [ReadMode] = [.snapshot]
    let exposureIsAsOf = true
    private let port: Int
    private let token: String
    private let writer: HTTPClient
    private let server: ChildProcess

    init(server: ChildProcess, port: Int, token: String) throws {
        self.server = server
        self.port = port
        self.token = token
        writer = try HTTPClient(port: port, token: token)
    }

    func ingest(_ batch: EventBatch) async throws -> Int {
        while true {
            let response = try writer.request(
                "POST", "/v1/events", body: batch.ndjson, contentType: "application/x-ndjson")
            if response.status == 503 {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            guard response.status == 200 else {
                throw BenchError("POST /v1/events answered \(response.status): \(response.text.prefix(300))")
            }
            guard response.text.contains("\"rejected\":[]") else {
                throw BenchError("tally serve rejected events: \(response.text.prefix(300))")
            }
            guard let accepted = response.body.jsonNumber(after: "accepted").flatMap({ Int($0) }) else {
                throw BenchError("no accepted count in \(response.text.prefix(300))")
            }
            return accepted
        }
    }

    func makeReader(_ mode: ReadMode) throws -> any FeatureReader {
        Reader(client: try HTTPClient(port: port, token: token))
    }

    func close() { server.stop() }

    final class Reader: FeatureReader {
        let client: HTTPClient
        init(client: HTTPClient) { self.client = client }

        func read(card: String, at: Int64) throws -> Features {
            let response = try client.request("GET", "/v1/entities/card/\(card)?at=\(at)")
            guard response.status == 200 else {
                throw BenchError(
                    "GET /v1/entities/card/\(card) answered \(response.status): \(response.text.prefix(300))")
            }
            let body = response.body
            func integer(_ name: String) throws -> Int64 {
                guard let text = body.jsonNumber(after: name), let value = Int64(text) else {
                    throw BenchError("no integer \(name) in \(response.text.prefix(300))")
                }
                return value
            }
            func cents(_ name: String) throws -> Int64 {
                guard let text = body.jsonNumber(after: name), let value = Cents.parse(text) else {
                    throw BenchError("no decimal \(name) in \(response.text.prefix(300))")
                }
                return value
            }
            return Features(
                count60s: try integer("card_txn_count_60s"), count1h: try integer("card_txn_count_1h"),
                sum24h: try cents("card_amount_sum_24h"), exposure: try cents("card_exposure"))
        }
    }
}
