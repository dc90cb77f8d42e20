import HTTPTypes
import Hummingbird
import NIOHTTP1
import Tally

/// Every 4xx and 5xx answer of the server: `{"error":{"code":"…","message":"…"}}` with a stable
/// `code` and the right status.
///
/// ```swift
/// throw APIError(.badRequest, "invalid_argument", "lsn must be a non-negative integer")
/// ```
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// The stable machine-readable code, e.g. `unknown_entity`.
    public let code: String
    /// What happened and what to do.
    public let message: String
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, `Allow`).
    public var headers: HTTPFields
    /// The event field a rejection is about, when there is one (a single rejected event, or the
    /// scored event of a decision).
    public var field: String?
    /// The rejection code of a decision's scored event (`late`, `conflict`, …) with `event_rejected`.
    public var rejection: String?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// The one mapping of engine error codes to HTTP statuses.
    ///
    /// | code | status |
    /// |---|---|
    /// | `invalid_argument`, `malformed_json` | 400 |
    /// | `unknown_entity`, `unknown_list`, `unknown_flag`, `unknown_decision` | 404 |
    /// | `incompatible_definitions`, `definitions_change_in_progress` | 409 |
    /// | `invalid_definitions`, `event_rejected` (with the event's `rejection` code and `field`) | 422 |
    /// | `not_retained` | 410 |
    /// | `too_many_events` | 413 |
    /// | `overloaded` (with `Retry-After: 1`), `store_read_only`, `closed`, `no_definitions`, `not_ready` | 503 |
    /// | anything else | 500 |
    public init(_ error: TallyError) {
        let code = error.code.rawValue
        switch code {
        case "invalid_argument", "malformed_json":
            self.init(.badRequest, code, error.message)
        case "unknown_entity", "unknown_list", "unknown_flag", "unknown_decision":
            self.init(.notFound, code, error.message)
        case "incompatible_definitions", "definitions_change_in_progress":
            self.init(.conflict, code, error.message)
        case "invalid_definitions", "event_rejected":
            self.init(.unprocessableContent, code, error.message)
        case "not_retained":
            self.init(.gone, code, error.message)
        case "too_many_events":
            self.init(.contentTooLarge, code, error.message)
        case "overloaded":
            self.init(.serviceUnavailable, code, error.message, headers: [.retryAfter: "1"])
        case "store_read_only", "closed", "no_definitions", "not_ready":
            self.init(.serviceUnavailable, code, error.message)
        default:
            self.init(.internalServerError, code, error.message)
        }
        if code == "event_rejected", let rejection = error.cause as? EventRejection {
            self.rejection = rejection.code.rawValue
            field = rejection.field
        }
    }

    /// Any error as an answer: an ``APIError`` as is, a `TallyError` by its code, Hummingbird's own
    /// errors by their status, a body the HTTP parser could not read as 400 `malformed_request`,
    /// anything else as 500 `internal_error`.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case let error as TallyError: return APIError(error)
        case let error as HTTPError: return fromStatus(error.status, message: error.body, headers: error.headers)
        case let error as any HTTPResponseError: return fromStatus(error.status, message: nil, headers: [:])
        case let error as HTTPParserError:
            // The body's framing broke off (a bad chunk size, a transfer coding the server does not
            // speak): the client's request, not a server fault.
            return APIError(
                .badRequest, "malformed_request",
                "the request's body could not be read (\(error)); send it with Content-Length or valid chunked "
                    + "transfer coding")
        default: return APIError(.internalServerError, "internal_error", "internal error: \(error)")
        }
    }

    static func fromStatus(_ status: HTTPResponse.Status, message: String?, headers: HTTPFields) -> APIError {
        let code: String =
            switch status.code {
            case 400: "bad_request"
            case 404: "not_found"
            case 405: "method_not_allowed"
            case 413: "body_too_large"
            case 415: "unsupported_media_type"
            case 401: "unauthorized"
            case 403: "forbidden"
            case 503: "unavailable"
            default: status.code >= 500 ? "internal_error" : "bad_request"
            }
        return APIError(status, code, message ?? status.reasonPhrase, headers: headers)
    }

    /// The JSON envelope.
    var body: [UInt8] {
        var json = JSONOutput()
        json.object { json in
            json.member("error") { json in
                json.object { json in
                    json.member("code") { $0.string(code) }
                    json.member("message") { $0.string(message) }
                    if let rejection { json.member("rejection") { $0.string(rejection) } }
                    if let field { json.member("field") { $0.string(field) } }
                }
            }
        }
        return json.bytes
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension Response {
    /// A JSON answer from bytes written by ``JSONOutput``.
    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.contentType: "application/json"]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
