/// The one error type of Tally's public API.
///
/// `code` is stable (its `rawValue` is part of the HTTP and CLI contract); `message` says what
/// happened and what to do; `cause` keeps the underlying error for logs.
///
/// ```swift
/// do { try await store.ingest(events) }
/// catch let error as TallyError where error.code == .storeReadOnly { /* page the operator */ }
/// ```
public struct TallyError: Error, Sendable, CustomStringConvertible {
    /// A stable error code. New codes may be added; match the ones you handle.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable wire form, e.g. `store_read_only`.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// An argument was out of range or malformed.
        public static let invalidArgument = Code("invalid_argument")
        /// Another process is writing to this store.
        public static let storeBusy = Code("store_busy")
        /// A commit or sync failed; the store accepts no writes until it is reopened.
        public static let storeReadOnly = Code("store_read_only")
        /// The store was opened for reading only.
        public static let openedReadOnly = Code("opened_read_only")
        /// The on-disk format is one this build does not read.
        public static let unsupportedFormat = Code("unsupported_format")
        /// No store exists at the path (read-only open).
        public static let storeNotFound = Code("store_not_found")
        /// Too many writes are waiting; retry later.
        public static let overloaded = Code("overloaded")
        /// The store is closed.
        public static let closed = Code("closed")
        /// The store cannot answer yet (views not built, recovery or backfill in progress).
        public static let notReady = Code("not_ready")
        /// An entity type the definitions do not declare.
        public static let unknownEntity = Code("unknown_entity")
        /// A list the definitions do not declare.
        public static let unknownList = Code("unknown_list")
        /// A flag the definitions do not declare.
        public static let unknownFlag = Code("unknown_flag")
        /// The event a decision scores was rejected (the message says why, with the event's code).
        public static let eventRejected = Code("event_rejected")
        /// No decision with that id is recorded.
        public static let unknownDecision = Code("unknown_decision")
        /// The disk is full.
        public static let diskFull = Code("disk_full")
        /// The definitions are invalid (see the message for every problem with its position).
        public static let invalidDefinitions = Code("invalid_definitions")
        /// New definitions change event types in a way stored events cannot follow.
        public static let incompatibleDefinitions = Code("incompatible_definitions")
        /// A definitions change is still being backfilled; apply again once it is served.
        public static let changeInProgress = Code("definitions_change_in_progress")
        /// The store has no definitions yet: open it with some.
        public static let noDefinitions = Code("no_definitions")
        /// A read point older than what retention keeps; the message names the oldest answerable
        /// LSN and time.
        public static let notRetained = Code("not_retained")
        /// The request body is not valid JSON (with the byte position).
        public static let malformedJSON = Code("malformed_json")
        /// More events in one request than `maxEventsPerRequest`.
        public static let tooManyEvents = Code("too_many_events")
        /// The storage engine failed (see `cause`).
        public static let storageFailure = Code("storage_failure")
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }
}
