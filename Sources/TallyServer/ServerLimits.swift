/// Request limits of the HTTP server; over a limit the request answers 413 and changes nothing.
///
/// The events-per-request limit is the store's (`Tally.Options.maxEventsPerRequest`, code
/// `too_many_events`); `tally serve` sets it to ``defaultMaxEventsPerRequest``.
///
/// ```swift
/// var limits = ServerLimits()
/// limits.maxBodyBytes = 1 << 20
/// ```
public struct ServerLimits: Sendable {
    /// The events one `POST /v1/events` may carry in `tally serve` (code `too_many_events`).
    public static let defaultMaxEventsPerRequest = 10_000

    /// Bytes of one request body (code `body_too_large`). Default 8 MiB.
    public var maxBodyBytes = 8 << 20
    /// Bytes of one NDJSON line (code `line_too_long`). Default 64 KiB.
    public var maxNDJSONLineBytes = 64 << 10
    /// Entities one `POST /v1/vectors` or `POST /v1/decide` may name (code `too_many_entities`). Default 100.
    public var maxVectorsPerRequest = 100
    /// Seconds a keep-alive connection may sit idle before the server closes it. Default 60.
    public var idleTimeoutSeconds: Int64 = 60

    public init() {}
}
