/// An aggregate function of a view.
public enum AggregateKind: String, Sendable, Equatable, Codable, CaseIterable {
    case count, sum, min, max, avg, stddev, first, last
    case countDistinct = "count_distinct"

    /// Whether the aggregate needs a value per event (all but `count`).
    public var needsValue: Bool { self != .count }
}

/// A view window: sliding `(t − W, t]` at millisecond resolution, or `lifetime`.
public enum Window: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case sliding(milliseconds: Int64, literal: String)
    case lifetime

    public var description: String {
        switch self {
        case .sliding(_, let literal): literal
        case .lifetime: "lifetime"
        }
    }

    /// Width in ms; nil for `lifetime`.
    public var milliseconds: Int64? {
        if case .sliding(let ms, _) = self { return ms }
        return nil
    }
}

/// One event type feeding a view, with the value it contributes (an expression such as
/// `+amount` or `-amount`), or nil to use the aggregate's argument.
public struct ViewSource: Sendable, Equatable, Codable {
    public var eventType: String
    public var value: String?
}

/// A view: an aggregate over events of one entity, maintained incrementally (SPEC §1).
public struct ViewDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var entity: String
    public var sources: [ViewSource]
    public var aggregate: AggregateKind
    /// The aggregate's argument expression (`amount` in `sum(amount)`), if written.
    public var argument: String?
    /// Filter expression (`where:`), if any.
    public var filter: String?
    public var windows: [Window]
    public var catalog: CatalogInfo

    /// The names this view is served under: the view's name for one window, `name_<window>` for each
    /// of several.
    public var servedNames: [String] {
        windows.count == 1 ? [name] : windows.map { "\(name)_\($0)" }
    }
}

/// What a list holds: keys of an entity type, or plain scalars.
public enum ListMemberType: Sendable, Equatable, Codable {
    case entity(String)
    case scalar(ScalarType)
}

/// A named list (blocklists, risky countries, …); members change through logged operations.
public struct ListDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var of: ListMemberType
    public var catalog: CatalogInfo
}

/// A flag on an entity, set when an expression holds after an event (or only through the API when
/// it has no `set_when`), for a duration of event time.
public struct FlagDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var entity: String
    /// Nil: the flag is set and cleared only through the API.
    public var setWhen: String?
    /// The event types after which `setWhen` is evaluated (empty without one).
    public var on: [String]
    /// How long the flag stays set, in ms of event time; nil means until cleared.
    public var duration: Int64?
    public var catalog: CatalogInfo
}

/// An ordered rule: when its expression holds, it reports its outcome with its name as the reason.
public struct RuleDefinition: Sendable, Equatable, Codable {
    public var name: String
    public var when: String
    public var outcome: String
    public var catalog: CatalogInfo
}
