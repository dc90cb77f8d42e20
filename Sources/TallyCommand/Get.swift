import ArgumentParser
import Foundation
import Tally
import TallyServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `tally get ENTITY KEY`: one entity's vector as JSON, read from the store (read-only, safe beside
/// a running server) or, with `--url`, from a running `tally serve`.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one entity's vector as JSON (from the store, or from a running server with --url).",
        discussion: "The output is what GET /v1/entities/{entity}/{key} answers, snapshot token included.")

    @Argument(help: "The entity type, e.g. card.") var entity: String
    @Argument(help: "The entity key.") var key: String
    @Option(help: "Read as of this LSN (default: the current one).") var lsn: UInt64?
    @Option(help: "As-of time: epoch ms or RFC 3339 (default: now).") var at: String?
    @Option(help: "A running server, e.g. http://127.0.0.1:8080 (default: read the store directly).")
    var url: String?
    @Option(help: "Bearer token for --url (default: $TALLY_TOKEN).") var token: String?
    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() async throws {
        if let url { return try await fetch(from: url) }
        let time: Int64?
        if let at {
            guard let parsed = ResponseJSON.time(at) else {
                throw ValidationError("--at must be epoch milliseconds or RFC 3339, not '\(at)'")
            }
            time = parsed
        } else {
            time = nil
        }
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let bytes = try store.read { snapshot in
            let token = try snapshot.token(lsn: lsn.map { LSN($0) }, at: time)
            return ResponseJSON.vector(try snapshot.vector(entity: entity, key: key, at: token), snapshot: token)
        }
        print(String(decoding: bytes, as: UTF8.self))
    }

    private func fetch(from base: String) async throws {
        guard var components = URLComponents(string: base) else { throw ValidationError("--url \(base) is not a URL") }
        let path = [entity, key].map {
            $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? $0
        }
        components.percentEncodedPath = "/v1/entities/" + path.joined(separator: "/")
        var query: [URLQueryItem] = []
        if let lsn { query.append(URLQueryItem(name: "lsn", value: String(lsn))) }
        if let at { query.append(URLQueryItem(name: "at", value: at)) }
        if !query.isEmpty { components.queryItems = query }
        let encodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components.percentEncodedQuery = encodedQuery
        guard let address = components.url else { throw ValidationError("--url \(base) is not a URL") }
        var request = URLRequest(url: address)
        if let bearer = token ?? ProcessInfo.processInfo.environment["TALLY_TOKEN"] {
            request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            FileHandle.standardError.write(Data("tally get: HTTP \(status): ".utf8) + data + Data("\n".utf8))
            throw ExitCode(1)
        }
        print(String(decoding: data, as: UTF8.self))
    }
}
