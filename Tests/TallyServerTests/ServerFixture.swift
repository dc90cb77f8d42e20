import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@_spi(Testing) import Tally
import Testing

@testable import TallyServer

/// A store on Examples/cards.yaml (or `definitions`) in a temporary directory, a token per role, and the server.
struct ServerFixture {
    let directory: String
    let store: Tally
    let server: TallyServer
    /// The secret of one token per role.
    let tokens: [Role: String]

    init(
        limits: ServerLimits = ServerLimits(), maxEventsPerRequest: Int = 10_000, maxPendingWrites: Int = 65_536,
        insecure: Bool = false, definitions: Definitions? = nil, configure: (inout Tally.Options) -> Void = { _ in }
    ) throws {
        directory = NSTemporaryDirectory() + "tally-server-test-\(UUID().uuidString)"
        let definitions = try definitions ?? DefinitionsLoader.load(path: "Examples/cards.yaml")
        var options = Tally.Options()
        options.maxEventsPerRequest = maxEventsPerRequest
        options.maxPendingWrites = maxPendingWrites
        options.durability = .relaxed(flushInterval: .milliseconds(50))
        configure(&options)
        store = try Tally.open(directory: directory, definitions: definitions, options: options)
        var file = TokenFile()
        var tokens: [Role: String] = [:]
        for role in Role.allCases { tokens[role] = file.add(name: "\(role.rawValue)-token", role: role) }
        self.tokens = tokens
        var logger = Logger(label: "tally.server.test")
        logger.logLevel = .warning
        server = TallyServer(
            store: store, authenticator: insecure ? .disabled : Authenticator(tokens: file), limits: limits,
            logger: logger)
    }

    /// Runs `body` against the server in `mode` (`.router` in-process, `.live` over loopback).
    func test<Value: Sendable>(
        _ mode: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        try await server.application(host: "127.0.0.1", port: 0).test(mode, body)
    }

    func remove() {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The store's LSN now.
    var lsn: UInt64 { (try? store.read { try $0.lsn.rawValue }) ?? 0 }

    func headers(_ role: Role?, contentType: String? = nil) -> HTTPFields {
        var headers = HTTPFields()
        if let role, let token = tokens[role] { headers[.authorization] = "Bearer \(token)" }
        if let contentType { headers[.contentType] = contentType }
        return headers
    }
}

/// Fixed event times in the past (well inside `max_future`), one second apart.
let baseTime: Int64 = 1_780_000_000_000

/// An authorization event as JSON text.
func authorization(
    _ id: String, card: String = "c1", amount: String = "12.50", time: Int64 = baseTime, merchant: String = "m1"
) -> String {
    #"{"type":"authorization","txn_id":"\#(id)","ts":\#(time),"card":"\#(card)","merchant":"\#(merchant)","amount":\#(amount),"country":"FR"}"#
}

extension TestClientProtocol {
    /// Sends a request with a text body.
    func send(
        _ uri: String, _ method: HTTPRequest.Method, headers: HTTPFields = [:], body: String? = nil
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    /// Sends a request with a raw byte body.
    func send(
        _ uri: String, _ method: HTTPRequest.Method, headers: HTTPFields = [:], bytes: [UInt8]
    ) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: bytes))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body parsed as a JSON object (empty if it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// The error envelope's code, if the body is one.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }

    /// Whether the body is exactly the error envelope with a code and a message.
    var isEnvelope: Bool {
        guard json.count == 1, let error = json["error"] as? [String: Any] else { return false }
        return error["code"] is String && error["message"] is String
    }
}
