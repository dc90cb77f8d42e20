/// A field value of an event (SPEC §1 types).
public enum FieldValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// Epoch milliseconds.
    case timestamp(Int64)
    case decimal(ExactDecimal)
    case null
}

/// An event built in Swift for ``Tally/ingest(_:)``; checked against its type exactly as the wire
/// form is.
///
/// ```swift
/// let event = Event(type: "authorization", [
///     "txn_id": .string("t1"), "ts": .timestamp(1_732_370_000_000), "card": .string("c1"),
///     "merchant": .string("m1"), "amount": .decimal(try ExactDecimal(parsing: "12.50")), "country": .string("FR"),
/// ])
/// ```
public struct Event: Sendable, Hashable {
    public var type: String
    public var fields: [String: FieldValue]

    public init(type: String, _ fields: [String: FieldValue]) {
        self.type = type
        self.fields = fields
    }
}

/// Why one event was rejected. `code` is stable (SPEC §2 order of checks).
public struct EventRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The event (an NDJSON line) is not valid JSON.
        public static let malformedJSON = Code("malformed_json")
        /// The event is not a JSON object.
        public static let notAnObject = Code("not_an_object")
        /// No `type` member, or it is not a string.
        public static let missingType = Code("missing_type")
        /// `type` names no declared event type.
        public static let unknownType = Code("unknown_type")
        /// A member the event type does not declare.
        public static let unknownField = Code("unknown_field")
        /// A declared, non-nullable field is absent.
        public static let missingField = Code("missing_field")
        /// A value of the wrong JSON type for its field (including null for a non-nullable field).
        public static let wrongType = Code("wrong_type")
        /// The right JSON type, but not a valid value (bad RFC 3339 text, sub-millisecond digits,
        /// empty key).
        public static let invalidValue = Code("invalid_value")
        /// A number out of its type's range: int beyond 64 bits, decimal beyond 18 digits or scale
        /// 6 (`1e400`), time before 1970 or after 9999.
        public static let outOfRange = Code("out_of_range")
        /// An id or entity key longer than 256 bytes (UTF-8).
        public static let keyTooLong = Code("key_too_long")
        /// A string field longer than 4 KiB.
        public static let stringTooLong = Code("string_too_long")
        /// Same (type, id) as a stored event, with a different payload.
        public static let conflict = Code("conflict")
        /// Event time older than the watermark minus the type's lateness.
        public static let late = Code("late")
        /// Event time further than `max_future` ahead of the wall clock.
        public static let future = Code("future")

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    public let code: Code
    public let message: String
    /// The field at fault, if one is.
    public let field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code): \(message)" }
}

/// What happened to one event of an ingest request.
public enum EventOutcome: Sendable, Hashable {
    /// Stored at this LSN.
    case accepted(LSN)
    /// Already stored (same type, id and payload) at this LSN; applied once.
    case duplicate(of: LSN)
    case rejected(EventRejection)
}

/// The answer to one ingest request, after its commit is durable.
public struct IngestResult: Sendable {
    /// One outcome per event, in request order.
    public let outcomes: [EventOutcome]
    /// The store's LSN once this request was applied: every event it accepted is at or below it
    /// and visible in any snapshot whose LSN is at least this. Unchanged if nothing was accepted.
    public let lsn: LSN

    public var accepted: Int { outcomes.reduce(0) { if case .accepted = $1 { $0 + 1 } else { $0 } } }
    public var duplicates: Int { outcomes.reduce(0) { if case .duplicate = $1 { $0 + 1 } else { $0 } } }
    /// Rejected events with their 0-based index in the request.
    public var rejected: [(index: Int, rejection: EventRejection)] {
        outcomes.enumerated().compactMap { index, outcome in
            if case .rejected(let rejection) = outcome { (index, rejection) } else { nil }
        }
    }
}
