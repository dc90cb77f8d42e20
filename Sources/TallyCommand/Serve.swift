import ArgumentParser
import Foundation
import Logging
import Metrics
import Tally
import TallyServer

/// `tally serve`: the HTTP/JSON server (SPEC §3) on one store.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the store over HTTP/JSON (/v1 API, /healthz, /readyz, /metrics).",
        discussion: """
            Without --token-file, tokens are read from DATA_DIR/tokens.json; on the first run that file is \
            created (mode 0600) with a new admin token, printed once. SIGTERM or SIGINT stops accepting \
            connections, finishes requests in flight and closes the store. See docs/SERVER.md.
            """)

    @Option(help: "Definitions to apply (YAML or JSON); default: the ones the store holds.")
    var definitions: String?
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @Option(help: "Token file (JSON, SHA-256 hashes only); default DATA_DIR/tokens.json.") var tokenFile: String?
    @Flag(help: "Demo only: no authentication at all; every caller is admin.") var insecure = false
    @Option(help: "Bytes of one request body.") var maxBodyBytes = ServerLimits().maxBodyBytes
    @Option(help: "Events in one POST /v1/events.") var maxEvents = ServerLimits.defaultMaxEventsPerRequest
    @Option(help: "Bytes of one NDJSON line.") var maxLineBytes = ServerLimits().maxNDJSONLineBytes
    @Option(help: "Entities in one POST /v1/vectors or POST /v1/decide.")
    var maxVectors = ServerLimits().maxVectorsPerRequest
    @Option(help: "Events waiting for the writer, summed over requests, before new ones answer 503 with Retry-After.")
    var maxQueuedEvents = Tally.Options().maxQueuedEvents
    @Option(help: "Seconds an idle keep-alive connection stays open.") var idleTimeout = ServerLimits()
        .idleTimeoutSeconds
    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).") var logLevel = "info"
    @Option(
        help:
            "durable (each commit fsync'd before its answer), journaled (as durable; each commit's journal record fsync'd before its answer, the store's pages checkpointed every second; faster for many small writes) or relaxed (fsync every 100 ms: survives kill -9, may lose the last 100 ms on power loss)."
    )
    var durability = "durable"

    func validate() throws {
        guard maxQueuedEvents >= 1 else { throw ValidationError("--max-queued-events must be at least 1") }
    }

    func run() async throws {
        let loaded = try definitions.map { try DefinitionsFile.load($0) }
        let directory = dataDirectory.resolved
        var options = Tally.Options()
        options.maxEventsPerRequest = maxEvents
        options.maxQueuedEvents = maxQueuedEvents
        switch durability {
        case "durable": options.durability = .durable
        case "journaled": options.durability = .journaled()
        case "relaxed": options.durability = .relaxed()
        default: throw ValidationError("--durability is durable, journaled or relaxed, not '\(durability)'")
        }
        options.openBackfillProgress = OpenProgress.reporter("tally serve", output: .standardOutput)
        let store = try Tally.open(directory: directory, definitions: loaded, options: options)
        guard store.servedDefinitions != nil else {
            store.close()
            throw ValidationError("the store at \(directory) has no definitions yet: pass --definitions FILE")
        }
        let authenticator: Authenticator
        do {
            authenticator = try makeAuthenticator(directory: directory)
        } catch {
            store.close()
            throw error
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in ServerLogHandler(label: label, level: level) }
        var limits = ServerLimits()
        limits.maxBodyBytes = maxBodyBytes
        limits.maxNDJSONLineBytes = maxLineBytes
        limits.maxVectorsPerRequest = maxVectors
        limits.idleTimeoutSeconds = idleTimeout
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        let server = TallyServer(store: store, authenticator: authenticator, limits: limits, metrics: metrics)
        let host = host
        defer { ServerAddress.remove(in: directory) }
        try await server.run(host: host, port: port) { port in
            let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            // Where CLI commands that write find this server while it holds the store.
            try? ServerAddress(url: url, pid: getpid()).save(in: directory)
            say("tally serve: listening on \(url) (store \(directory))")
        }
    }

    /// Tokens from --token-file, else DATA_DIR/tokens.json, created with a fresh admin token when
    /// missing; none with --insecure.
    private func makeAuthenticator(directory: String) throws -> Authenticator {
        if insecure {
            say("tally serve: --insecure: NO AUTHENTICATION, every caller is admin. Demo use only.")
            return .disabled
        }
        if let tokenFile { return Authenticator(tokens: try TokenFile.load(from: tokenFile)) }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("tokens.json").path
        if FileManager.default.fileExists(atPath: path) {
            return Authenticator(tokens: try TokenFile.load(from: path))
        }
        var file = TokenFile()
        let secret = file.add(name: "admin", role: .admin)
        try file.save(to: path)
        say(
            """
            tally serve: created \(path) (mode 0600) with a new admin token.
            It is shown only now and stored only as a SHA-256 hash; keep it safe:
              \(secret)
            Add tokens with roles: tally tokens add --role read|ingest|decide|audit|admin
            """)
        return Authenticator(tokens: file)
    }
}

/// Writes a line to standard output at once (unbuffered: a supervisor or test reads it live).
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
