import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Where a running `tally serve` listens, kept in `DATA_DIR/server.json` while it serves, so CLI
/// commands that write find it when the server holds the store (SPEC §4: writes go through the
/// server when one is running).
struct ServerAddress: Codable {
    var url: String
    var pid: Int32

    static func path(_ directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("server.json").path
    }

    /// The recorded address, if its process is still alive (a server killed with SIGKILL leaves
    /// the file behind).
    static func running(in directory: String) -> ServerAddress? {
        guard let data = FileManager.default.contents(atPath: path(directory)),
            let address = try? JSONDecoder().decode(ServerAddress.self, from: data),
            kill(address.pid, 0) == 0 || errno == EPERM
        else { return nil }
        return address
    }

    func save(in directory: String) throws {
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: Self.path(directory)), options: .atomic)
    }

    static func remove(in directory: String) {
        try? FileManager.default.removeItem(atPath: path(directory))
    }
}

/// Requests to a running `tally serve` on behalf of a CLI command.
struct ServerClient {
    let base: String
    let token: String

    /// `base` with `token` (else `$TALLY_TOKEN`); a missing token is a usage error naming `role`.
    init(base: String, token: String?, role: String) throws {
        guard let token = token ?? ProcessInfo.processInfo.environment["TALLY_TOKEN"], !token.isEmpty else {
            let action = ["read", "audit"].contains(role) ? "reading from" : "writing through"
            throw ValidationError(
                "\(action) the server at \(base) needs a token with role \(role): --token T or $TALLY_TOKEN")
        }
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = token
    }

    /// Sends `body`; a 503 (the server's write queue is full) is retried after its `Retry-After`
    /// for up to `patience`, which is safe for events (a resent event is a duplicate). Returns the
    /// status and the body.
    func send(
        _ method: String, _ path: String, body: Data, contentType: String, patience: Duration = .seconds(120)
    ) async throws -> (status: Int, body: Data) {
        let answer = try await exchange(method, path, body: body, contentType: contentType, patience: patience)
        return (answer.status, answer.body)
    }

    /// ``send(_:_:body:contentType:patience:)``, with the answer's header fields as well.
    func exchange(
        _ method: String, _ path: String, body: Data, contentType: String, patience: Duration = .seconds(120)
    ) async throws -> (status: Int, body: Data, headers: [AnyHashable: Any]) {
        guard let url = URL(string: base + path) else { throw ValidationError("--url \(base) is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        request.timeoutInterval = 3_600
        let deadline = ContinuousClock.now + patience
        while true {
            let data: Data
            let response: URLResponse
            do {
                (data, response) = try await URLSession.shared.data(for: request)
            } catch let error as URLError {
                throw CommandFailure(
                    "cannot reach the server at \(base): \(error.localizedDescription) (URL error \(error.code.rawValue))"
                )
            }
            let http = response as? HTTPURLResponse
            let status = http?.statusCode ?? 0
            guard status == 503, ContinuousClock.now < deadline else {
                return (status, data, http?.allHeaderFields ?? [:])
            }
            let wait = (http?.value(forHTTPHeaderField: "Retry-After")).flatMap(Int.init) ?? 1
            try await Task.sleep(for: .seconds(max(1, min(wait, 10))))
        }
    }
}
