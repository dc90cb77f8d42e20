import ArgumentParser
import Foundation
import Tally

/// `tally decide PAYLOAD`: scores a request with the store's rules on one snapshot, records the
/// decision durably and prints it (the JSON of `POST /v1/decide`). A decision is a write: while
/// `tally serve` holds the store (or with `--url`) it goes through the server.
struct Decide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide on a request: vectors, lists, flags and rules on one snapshot; prints the recorded decision.",
        discussion: """
            PAYLOAD is one JSON object (rules read it as request.<field>), @FILE, or @- for standard input. \
            With a "type" member it is an event of that type, ingested in the same transaction: by default \
            the decision sees the state before it (--ingest before); --ingest including decides on the \
            state that includes it, --ingest none does not ingest it. --entity ENTITY=KEY (repeatable) names \
            the vectors the rules read; without it, every entity named by a field of the payload (card, \
            merchant). --at is the as-of time of the windows (epoch ms or RFC 3339; default the event's \
            time for an event payload, else now). The \
            answer comes after the decision's durable commit; its id is its LSN (tally replay ID). While \
            `tally serve` runs on the store, the decision goes through it (found from DATA_DIR/server.json, \
            or --url) with a decide token from --token or $TALLY_TOKEN. Exit status 0 with the decision, 1 \
            with the error (a rejected scored event: event_rejected).
            """)

    @Argument(help: "The payload: a JSON object, @FILE, or @- for standard input.") var payload: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(
        name: .customLong("entity"),
        help: "ENTITY=KEY whose vector the rules read (repeatable; default: the payload's entity fields).")
    var entities: [String] = []
    @Option(help: "including, before or none (default: before for an event payload, else none).")
    var ingest: String?
    @Option(help: "The as-of time of the windows: epoch ms or RFC 3339 (default: the event's time, else now).")
    var at: String?
    @Option(help: "Decide through the server at this base URL (e.g. http://127.0.0.1:8080).") var url: String?
    @Option(help: "A token with role decide, for a server (default: $TALLY_TOKEN).") var token: String?

    func validate() throws {
        _ = try entityKeys()
        if let ingest, DecisionRequest.Ingest(rawValue: ingest) == nil {
            throw ValidationError("--ingest must be including, before or none, not '\(ingest)'")
        }
        if let at {
            do { _ = try SnapshotToken.parseTime(at) } catch {
                throw ValidationError("--at must be epoch milliseconds or RFC 3339, not '\(at)'")
            }
        }
    }

    func run() async throws {
        let body = try payloadBytes()
        let request = DecisionRequest(
            payload: body, entities: try entityKeys(), ingest: ingest.flatMap(DecisionRequest.Ingest.init(rawValue:)),
            at: try at.map { text throws(TallyError) in try SnapshotToken.parseTime(text) })
        if let url {
            try await decideThroughServer(request, client: try ServerClient(base: url, token: token, role: "decide"))
            return
        }
        let directory = dataDirectory.resolved
        guard FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError(
                "no store at \(directory): create one with tally ingest DEFS FILE or tally serve --definitions DEFS")
        }
        let store: Tally
        do {
            store = try Tally.open(directory: directory, options: OpenProgress.options("tally decide"))
        } catch {
            guard error.code == .storeBusy else { throw error }
            guard let server = ServerAddress.running(in: directory) else {
                throw ValidationError(
                    error.message + "\nAnother process writes this store; if it is tally serve, decide through it with "
                        + "--url http://HOST:PORT")
            }
            let client = try ServerClient(base: server.url, token: token, role: "decide")
            FileHandle.standardError.write(
                Data("tally decide: tally serve holds the store; sending to \(server.url)\n".utf8))
            try await decideThroughServer(request, client: client)
            return
        }
        defer { store.close() }
        var json: [UInt8] = []
        do {
            try await store.decide(request).appendJSON(to: &json)
        } catch {
            // The code and the message (a rejected event's names its rejection), without the cause repeated.
            FileHandle.standardError.write(Data("tally decide: \(error.code): \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(Data(json + [10]))
    }

    /// The payload's bytes (the argument, a file, or standard input), checked to be one JSON object.
    private func payloadBytes() throws -> [UInt8] {
        let bytes: [UInt8]
        if payload == "@-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else if payload.hasPrefix("@") {
            let path = String(payload.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the payload file \(path)")
            }
            bytes = Array(data)
        } else {
            bytes = Array(payload.utf8)
        }
        let value: StrictJSON.Value
        do { value = try StrictJSON.parse(bytes) } catch {
            throw ValidationError("the payload is not JSON: \(error.message)")
        }
        guard case .object = value else { throw ValidationError("the payload must be one JSON object") }
        return bytes
    }

    /// `--entity ENTITY=KEY`, in order (the key may itself hold `=`).
    private func entityKeys() throws -> [(entity: String, key: String)] {
        try entities.map { text in
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex,
                text.index(after: equals) != text.endIndex
            else { throw ValidationError("--entity takes ENTITY=KEY (like card=c1), not '\(text)'") }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }
    }

    /// `POST /v1/decide` on the server; prints its answer, or its error and exit 1.
    private func decideThroughServer(_ request: DecisionRequest, client: ServerClient) async throws {
        var body: [UInt8] = Array(#"{"request":"#.utf8) + request.payload
        if !request.entities.isEmpty {
            body += Array(#","entities":["#.utf8)
            for (index, entity) in request.entities.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body += Array(#"{"entity":"#.utf8)
                JSONText.appendString(entity.entity, to: &body)
                body += Array(#","key":"#.utf8)
                JSONText.appendString(entity.key, to: &body)
                body.append(UInt8(ascii: "}"))
            }
            body.append(UInt8(ascii: "]"))
        }
        if let ingest = request.ingest { body += Array(#","ingest":"\#(ingest.rawValue)""#.utf8) }
        if let at = request.at { body += Array(#","at":\#(at)"#.utf8) }
        body.append(UInt8(ascii: "}"))
        // A 503 (a full write queue) recorded nothing: retried briefly after its Retry-After.
        let (status, answer) = try await client.send(
            "POST", "/v1/decide", body: Data(body), contentType: "application/json", patience: .seconds(10))
        guard status == 200 else {
            FileHandle.standardError.write(
                Data("tally decide: \(client.base) answered \(status): ".utf8) + answer + Data("\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(answer + Data([10]))
    }
}
