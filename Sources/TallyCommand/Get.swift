import ArgumentParser
import Foundation
import Tally

/// `tally get [DEFS] ENTITY KEY [--at T] [--lsn N]`: prints one entity's vector as JSON.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one entity's vector (every served view) as JSON, with its snapshot token.",
        discussion: """
            With DEFS, the definitions are applied first (as `tally ingest` does) unless another process \
            is writing the store; then, and without DEFS, the store is read as it is, read-only. \
            --at takes epoch milliseconds or RFC 3339 (default: now); --lsn an older LSN to answer at. \
            With --url, the vector comes from a running server (GET /v1/entities/ENTITY/KEY) with a read \
            token from --token or $TALLY_TOKEN.
            """)

    /// Collected with `.allUnrecognized` so that a key may start with `-` (an int key such as `-7`).
    @Argument(
        parsing: .allUnrecognized,
        help: "[DEFS] ENTITY KEY: an optional definitions file, the entity type and the key (which may start with -).")
    var arguments: [String]
    @OptionGroup var dataDirectory: DataDirectoryOption
    // `.unconditional`: `--at -5` and `--lsn -1` are values to refuse with a clear message, not
    // missing values.
    @Option(parsing: .unconditional, help: "The as-of time of the windows: epoch ms or RFC 3339 (default: now).")
    var at: String?
    @Option(parsing: .unconditional, help: "Answer at this LSN (default: the current one).") var lsn: UInt64?
    @Option(help: "Ask the server at this base URL (e.g. http://127.0.0.1:8080) instead of opening the store.")
    var url: String?
    @Option(help: "A token with role read, for --url (default: $TALLY_TOKEN).") var token: String?

    /// `[DEFS] ENTITY KEY` from ``arguments``: a bare `--` ends the options (what follows it is
    /// taken as it is) and is dropped.
    private var positional: [String] {
        guard let end = arguments.firstIndex(of: "--") else { return arguments }
        return Array(arguments[..<end]) + arguments[(end + 1)...]
    }

    func validate() throws {
        // With `.allUnrecognized`, a mistyped option lands here (before any `--`): name it rather
        // than miscount.
        let options = arguments.prefix { $0 != "--" }
        if let unknown = options.first(where: { $0.hasPrefix("--") }) {
            throw ValidationError("unknown option '\(unknown)'")
        }
        let arguments = positional
        guard arguments.count == 2 || arguments.count == 3 else {
            throw ValidationError("expected [DEFS] ENTITY KEY")
        }
        if url != nil, arguments.count == 3 { throw ValidationError("--url takes no DEFS: ENTITY KEY only") }
    }

    /// `GET /v1/entities/{entity}/{key}` on the server; prints its answer, or its error and exit 1.
    private func getFromServer(_ base: String, entity: String, key: String) async throws {
        let client = try ServerClient(base: base, token: token, role: "read")
        func segment(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
                ?? text
        }
        var query: [String] = []
        if let lsn { query.append("lsn=\(lsn)") }
        if let text = at { query.append("at=\(try SnapshotToken.parseTime(text))") }
        let path =
            "/v1/entities/\(segment(entity))/\(segment(key))"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let (status, body, headers) = try await client.exchange(
            "GET", path, body: Data(), contentType: "application/json")
        guard status == 200 else {
            FileHandle.standardError.write(
                Data("tally get: \(client.base) answered \(status): ".utf8) + body + Data("\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(body + Data([10]))
        let recomputed = headers.first { ($0.key as? String)?.lowercased() == "tally-recomputed" }?.value as? String
        if recomputed == "true" { Self.sayRecomputed(entity: entity, key: key) }
    }

    /// How the vector was answered, beside the answer: the JSON is the same for the same token.
    static func sayRecomputed(entity: String, key: String) {
        FileHandle.standardError.write(
            Data("tally get: recomputed from the log (\(entity) \(key) changed after this LSN)\n".utf8))
    }

    func run() async throws {
        let arguments = positional
        let (entity, key) = (arguments[arguments.count - 2], arguments[arguments.count - 1])
        if let url {
            try await getFromServer(url, entity: entity, key: key)
            return
        }
        let store = try open(definitions: arguments.count == 3 ? arguments[0] : nil)
        defer { store.close() }
        var at: Int64?
        if let text = self.at { at = try SnapshotToken.parseTime(text) }
        var json: [UInt8] = []
        let recomputed = try store.read { snapshot in
            let token = try snapshot.token(lsn: lsn.map { LSN($0) }, at: at)
            let vector = try snapshot.vector(entity: entity, key: key, at: token)
            vector.appendJSON(to: &json, token: token)
            return vector.recomputed
        }
        FileHandle.standardOutput.write(Data(json + [10]))
        if recomputed { Self.sayRecomputed(entity: entity, key: key) }
    }

    private func open(definitions path: String?) throws -> Tally {
        if let path {
            let loaded = try DefinitionsFile.load(path)
            do {
                return try Tally.open(
                    directory: dataDirectory.resolved, definitions: loaded, options: OpenProgress.options("tally get"))
            } catch {
                // A server writes this store: read it as it is, and say so.
                guard error.code == .storeBusy else { throw error }
                FileHandle.standardError.write(
                    Data(
                        ("tally get: another process (tally serve?) writes this store, so \(path) is not applied; "
                            + "the vector uses the definitions the store serves (its snapshot names the version)\n")
                            .utf8
                    ))
            }
        }
        var options = Tally.Options()
        options.access = .readOnly
        return try Tally.open(directory: dataDirectory.resolved, options: options)
    }
}
