import ArgumentParser
import Foundation
import Tally

/// `tally ingest [DEFS] FILE.ndjson`: ingests an NDJSON file into the store in requests of
/// `--batch-size` events, with a progress bar and a summary. Without DEFS the store's own
/// definitions are used. While `tally serve` holds the store (or with `--url`), the events go
/// through the server's `POST /v1/events` instead.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest an NDJSON file of events into the store (applying DEFS first, if given).",
        discussion: """
            Each request is one durable commit. Re-running the same file is safe: stored events come back as \
            duplicates. While `tally serve` runs on the store, the events go through it (found from \
            DATA_DIR/server.json, or --url), with an ingest token from --token or $TALLY_TOKEN.
            """
    )

    @Argument(
        help:
            "[DEFS] FILE: an optional definitions file (YAML or JSON), then NDJSON events, one per line ('-' for standard input)."
    )
    var arguments: [String]
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "Events per request (one commit each).") var batchSize = 1_024
    @Option(help: "Rejections to list in the summary.") var showRejections = 10
    @Option(help: "Ingest through the server at this base URL (e.g. http://127.0.0.1:8080).") var url: String?
    @Option(help: "A token with role ingest, for writing through a server (default: $TALLY_TOKEN).")
    var token: String?

    func validate() throws {
        guard arguments.count == 1 || arguments.count == 2 else { throw ValidationError("expected [DEFS] FILE") }
        if url != nil, arguments.count == 2 {
            throw ValidationError("--url takes no DEFS: apply them with tally apply DEFS --url first")
        }
    }

    func run() async throws {
        let file = arguments[arguments.count - 1]
        if let url {
            try await ingestThroughServer(file: file, client: try ServerClient(base: url, token: token, role: "ingest"))
            return
        }
        var loaded: Definitions?
        if arguments.count == 2 { loaded = try DefinitionsFile.load(arguments[0]) }
        let store: Tally
        do {
            store = try Tally.open(
                directory: dataDirectory.resolved, definitions: loaded, options: OpenProgress.options("tally ingest"))
        } catch {
            guard error.code == .storeBusy else { throw error }
            guard let server = ServerAddress.running(in: dataDirectory.resolved) else {
                throw ValidationError(
                    error.message + "\nAnother process writes this store; if it is tally serve, ingest through it with "
                        + "--url http://HOST:PORT")
            }
            guard loaded == nil else {
                throw ValidationError(
                    "tally serve (\(server.url)) holds this store: apply DEFS with tally apply DEFS --url \(server.url), "
                        + "then ingest without DEFS")
            }
            let client = try ServerClient(base: server.url, token: token, role: "ingest")
            FileHandle.standardError.write(
                Data("tally ingest: tally serve holds the store; sending to \(server.url)\n".utf8))
            try await ingestThroughServer(file: file, client: client)
            return
        }
        defer { store.close() }
        try await sendBatches(of: file, to: dataDirectory.resolved) { lines, firstLine, summary in
            summary.add(
                try await store.ingest(ndjson: Array(lines.joined(separator: [UInt8(ascii: "\n")]))),
                firstLine: firstLine)
        }
    }

    /// The same batches as `POST /v1/events` NDJSON requests to a running server.
    private func ingestThroughServer(file: String, client: ServerClient) async throws {
        try await sendBatches(of: file, to: client.base) { lines, firstLine, summary in
            try await post(lines, firstLine: firstLine, to: client, into: &summary)
        }
    }

    /// Posts `lines` as one NDJSON request. A request over one of the server's limits (413)
    /// changed nothing: it is split in halves and each half sent again, down to single lines, and
    /// a single line still over a limit (a line longer than the server takes) is that event's
    /// rejection with the server's code, as a bad line is without a server; the rest goes on.
    private func post(
        _ lines: ArraySlice<ArraySlice<UInt8>>, firstLine: Int, to client: ServerClient,
        into summary: inout IngestSummary
    ) async throws {
        let body = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        let (status, answer) = try await client.send(
            "POST", "/v1/events", body: Data(body), contentType: "application/x-ndjson")
        let object = try? JSONSerialization.jsonObject(with: answer) as? [String: Any]
        if status == 413, let error = object?["error"] as? [String: Any] {
            if lines.count > 1 {
                let middle = lines.startIndex + lines.count / 2
                try await post(lines[..<middle], firstLine: firstLine, to: client, into: &summary)
                try await post(
                    lines[middle...], firstLine: firstLine + (middle - lines.startIndex), to: client, into: &summary)
            } else {
                let code = (error["code"] as? String) ?? "too_large"
                // The server numbers lines within its request, which is this one line alone.
                let message =
                    code == "line_too_long"
                    ? "the line has \(body.count) bytes, more than the server takes in one NDJSON line"
                    : (error["message"] as? String) ?? ""
                summary.addServerBatch(
                    accepted: 0, duplicates: 0, rejected: [(0, code, message)], commitLSN: 0, firstLine: firstLine)
            }
            return
        }
        guard status == 200, let batch = object,
            let accepted = batch["accepted"] as? Int, let duplicates = batch["duplicates"] as? Int,
            let rejected = batch["rejected"] as? [[String: Any]], let lsn = batch["lsn"] as? Int
        else {
            FileHandle.standardError.write(
                Data(
                    "tally ingest: \(client.base) answered \(status): \(String(decoding: answer, as: UTF8.self))\n".utf8
                ))
            throw ExitCode(1)
        }
        summary.addServerBatch(
            accepted: accepted, duplicates: duplicates,
            rejected: rejected.map {
                (($0["index"] as? Int) ?? 0, ($0["code"] as? String) ?? "?", ($0["message"] as? String) ?? "")
            },
            commitLSN: UInt64(max(0, lsn)), firstLine: firstLine)
    }

    /// Reads `file`'s non-blank lines in requests of `--batch-size`, hands each request's NDJSON
    /// lines and its first line number to `send` (which records the outcome), with a progress
    /// bar, then prints the summary naming `destination`.
    private func sendBatches(
        of file: String, to destination: String,
        _ send: (_ lines: ArraySlice<ArraySlice<UInt8>>, _ firstLine: Int, _ summary: inout IngestSummary) async throws
            -> Void
    ) async throws {
        let reader = try LineReader(path: file)
        var progress = ProgressBar(total: reader.size, label: "ingest")
        var summary = IngestSummary()
        let started = ContinuousClock.now
        var lines: [ArraySlice<UInt8>] = []
        var lineNumber = 0
        while true {
            let line = reader.nextLine()
            if let line, !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                lines.append(line)
            }
            if lines.count >= batchSize || (line == nil && !lines.isEmpty) {
                try await send(lines[...], lineNumber + 1, &summary)
                lineNumber += lines.count
                lines.removeAll(keepingCapacity: true)
                progress.update(reader.consumed, events: summary.read)
            }
            if line == nil { break }
        }
        progress.update(reader.consumed, events: summary.read, force: true)
        let elapsed = (ContinuousClock.now - started).seconds
        print(summary.report(file: file, directory: destination, elapsed: elapsed, show: showRejections))
    }
}

/// Totals of an ingest run.
struct IngestSummary {
    var read = 0
    var accepted = 0
    var duplicates = 0
    var rejectedByCode: [String: Int] = [:]
    var examples: [String] = []
    var firstLSN: LSN?
    var lastLSN = LSN.zero
    /// Through a server: the newest commit LSN it answered (its answers carry no per-event LSNs).
    var committedThrough: UInt64?

    mutating func add(_ result: IngestResult, firstLine: Int) {
        read += result.outcomes.count
        for (index, outcome) in result.outcomes.enumerated() {
            switch outcome {
            case .accepted(let lsn):
                accepted += 1
                if firstLSN == nil { firstLSN = lsn }
                lastLSN = lsn
            case .duplicate: duplicates += 1
            case .rejected(let rejection):
                rejectedByCode[rejection.code.rawValue, default: 0] += 1
                if examples.count < 1000 { examples.append("  event \(firstLine + index): \(rejection)") }
            }
        }
    }

    /// One `POST /v1/events` answer.
    mutating func addServerBatch(
        accepted: Int, duplicates: Int, rejected: [(index: Int, code: String, message: String)], commitLSN: UInt64,
        firstLine: Int
    ) {
        read += accepted + duplicates + rejected.count
        self.accepted += accepted
        self.duplicates += duplicates
        for rejection in rejected {
            rejectedByCode[rejection.code, default: 0] += 1
            if examples.count < 1000 {
                examples.append("  event \(firstLine + rejection.index): \(rejection.code): \(rejection.message)")
            }
        }
        committedThrough = max(committedThrough ?? 0, commitLSN)
    }

    func report(file: String, directory: String, elapsed: Double, show: Int) -> String {
        let rejected = rejectedByCode.values.reduce(0, +)
        let byCode = rejectedByCode.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        var lsnRange: String = firstLSN.map { "\($0)...\(lastLSN)" } ?? "none new"
        if let committedThrough { lsnRange = accepted > 0 ? "committed through \(committedThrough)" : "none new" }
        let rate = elapsed > 0 ? Double(read) / elapsed : 0
        var lines: [String] = []
        lines.append("ingested \(file) into \(directory)")
        lines.append("  events      \(read)")
        lines.append("  accepted    \(accepted)")
        lines.append("  duplicates  \(duplicates)")
        lines.append("  rejected    \(rejected)" + (rejected > 0 ? "  (\(byCode))" : ""))
        lines.append("  lsn         \(lsnRange)")
        lines.append(String(format: "  elapsed     %.2f s (%.0f events/s)", elapsed, rate))
        if rejected > 0 && show > 0 {
            lines.append("first rejections (event numbers count non-blank lines from 1):")
            lines.append(contentsOf: examples.prefix(show))
        }
        return lines.joined(separator: "\n")
    }
}

/// Reads a file line by line in 1 MiB chunks (files larger than memory are fine).
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    let size: Int
    private(set) var consumed = 0

    init(path: String) throws {
        if path == "-" {
            handle = .standardInput
            size = 0
        } else {
            guard let file = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot read \(path)") }
            handle = file
            size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
    }

    func nextLine() -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                consumed += newline - start + 1
                start = newline + 1
                return line
            }
            if finished {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                consumed += buffer.count - start
                start = buffer.count
                return line
            }
            buffer.removeFirst(start)
            start = 0
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
