import Logging

/// The server's log handler: swift-log's `StreamLogHandler` output on standard error, with the
/// logger's metadata kept apart and merged only when a message is written.
///
/// `StreamLogHandler` formats its metadata on every change, and Hummingbird gives every request's
/// logger a request id: with it, that formatting cost about 5 % of the server's CPU per vector
/// read, for messages that at the default level are never written.
///
/// ```swift
/// LoggingSystem.bootstrap { label in ServerLogHandler(label: label, level: .info) }
/// ```
public struct ServerLogHandler: LogHandler {
    private var output: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    public init(label: String, level: Logger.Level) {
        self.init(output: StreamLogHandler.standardError(label: label), level: level)
    }

    /// Writes through `output` (tests pass a stream of their own).
    init(output: StreamLogHandler, level: Logger.Level) {
        self.output = output
        self.output.logLevel = level
    }

    public var logLevel: Logger.Level {
        get { output.logLevel }
        set { output.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { output.metadataProvider }
        set { output.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit } }
        output.log(event: event)
    }
}
