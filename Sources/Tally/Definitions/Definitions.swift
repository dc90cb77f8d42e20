/// Everything a store knows about its data: entities, event types, views, lists, flags and rules
/// (SPEC §1). Loaded from YAML or JSON by ``DefinitionsLoader``; every name is unique in its kind.
///
/// ```swift
/// let definitions = try DefinitionsLoader.load(path: "Examples/cards.yaml")
/// definitions.eventType(named: "authorization")?.lateness   // 3_600_000 (ms)
/// ```
public struct Definitions: Sendable, Equatable, Codable {
    public var settings: StoreSettings
    /// Outcomes rules may produce: `allow`, `review`, `block`, then any declared ones.
    public var outcomes: [String]
    public var entities: [EntityDefinition]
    public var events: [EventTypeDefinition]
    public var views: [ViewDefinition]
    public var lists: [ListDefinition]
    public var flags: [FlagDefinition]
    public var rules: [RuleDefinition]

    public static let builtInOutcomes = ["allow", "review", "block"]

    public func entity(named name: String) -> EntityDefinition? { entities.first { $0.name == name } }
    public func eventType(named name: String) -> EventTypeDefinition? { events.first { $0.name == name } }
    public func view(named name: String) -> ViewDefinition? { views.first { $0.name == name } }
}

/// Store-wide settings (`settings:` in the file).
public struct StoreSettings: Sendable, Equatable, Codable {
    /// How far ahead of the wall clock an event time may be, in ms (default 5 min).
    public var maxFuture: Int64 = 300_000
    /// How long the raw log is kept behind the watermark, in ms (default 30 days).
    public var retention: Int64 = 30 * 86_400_000
    public init() {}
}

/// Free-form catalog metadata every definition may carry, so teams find and reuse features.
public struct CatalogInfo: Sendable, Equatable, Codable {
    public var description: String?
    public var owner: String?
    public var tags: [String] = []
    public init() {}
}

/// A scalar type of an event field or an entity key.
public enum ScalarType: String, Sendable, Equatable, Codable, CaseIterable {
    case string, int, bool, timestamp, decimal

    /// Whether values can be summed or averaged.
    public var isNumeric: Bool { self == .int || self == .decimal }
    /// Whether values have an order for min/max.
    public var isOrdered: Bool { self == .int || self == .decimal || self == .timestamp }
}

/// A field type: a scalar, optionally nullable (written `decimal?`).
public struct FieldType: Sendable, Equatable, Codable, CustomStringConvertible {
    public var base: ScalarType
    public var nullable: Bool

    public init(_ base: ScalarType, nullable: Bool = false) {
        self.base = base
        self.nullable = nullable
    }

    /// Parses `string`, `decimal?`, …; nil if unknown.
    public init?(text: String) {
        let nullable = text.hasSuffix("?")
        guard let base = ScalarType(rawValue: nullable ? String(text.dropLast()) : text) else { return nil }
        self.init(base, nullable: nullable)
    }

    public var description: String { base.rawValue + (nullable ? "?" : "") }
}

/// An entity type: what views, flags and lists are keyed by (card, merchant, …).
public struct EntityDefinition: Sendable, Equatable, Codable {
    public var name: String
    /// The key's type: `string` or `int`.
    public var keyType: ScalarType
    public var catalog: CatalogInfo
}

/// One field of an event type.
public struct FieldDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var type: FieldType
}

/// An event type on the wire: a flat JSON object `{"type": name, …fields}`.
public struct EventTypeDefinition: Sendable, Equatable, Codable {
    public var name: String
    /// The idempotency key field: a redelivered event is applied once.
    public var idField: String
    /// The event-time field (a timestamp).
    public var timeField: String
    /// How far behind the watermark an event may be and still be accepted, in ms (default 1 h).
    public var lateness: Int64
    /// Declared fields in file order; the time field is among them (as `timestamp`).
    public var fields: [FieldDefinition]
    public var catalog: CatalogInfo

    public func field(named name: String) -> FieldDefinition? { fields.first { $0.name == name } }
}
