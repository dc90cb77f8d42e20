/// A view's value in a vector (SPEC §1 aggregates). Empty windows read as 0 for count, sum and
/// count_distinct, and as ``null`` for the others.
public enum FeatureValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case int(Int64)
    case decimal(ExactDecimal)
    case string(String)
    case bool(Bool)
    /// Epoch milliseconds.
    case timestamp(Int64)

    public var description: String {
        switch self {
        case .null: "null"
        case .int(let value): String(value)
        case .decimal(let value): value.description
        case .string(let value): value
        case .bool(let value): String(value)
        case .timestamp(let value): String(value)
        }
    }
}

/// Where a read stands: the highest LSN it sees, the as-of time of its windows and the definitions
/// version it used (SPEC §2). The same token always yields the same answer while the log retains it.
///
/// ```swift
/// let token = try store.read { try $0.token() }          // now, at the current LSN
/// let again = try store.read { try $0.vector(entity: "card", key: "c1", at: token) }
/// ```
public struct SnapshotToken: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The highest LSN the answer includes.
    public var lsn: LSN
    /// The as-of time `t` of every window `(t − W, t]`, epoch ms.
    public var at: Int64
    /// The definitions version the answer used.
    public var definitionsVersion: UInt32

    public init(lsn: LSN, at: Int64, definitionsVersion: UInt32) {
        self.lsn = lsn
        self.at = at
        self.definitionsVersion = definitionsVersion
    }

    enum CodingKeys: String, CodingKey {
        case lsn, at
        case definitionsVersion = "definitions_version"
    }

    public var description: String { "lsn \(lsn) at \(at) (definitions v\(definitionsVersion))" }
}

/// One entity's served views, flags and list memberships at one ``SnapshotToken``.
public struct EntityVector: Sendable {
    /// The entity type (`card`).
    public let entity: String
    /// The entity key as given.
    public let key: String
    /// Served view names (``ViewDefinition/servedNames``) and their values, in definitions order.
    public let views: [(name: String, value: FeatureValue)]
    /// The entity's flags (declared with `entity:` it) and whether each is set at the token's
    /// `at`, in definitions order.
    public let flags: [(name: String, holds: Bool)]
    /// The lists declared `of:` the entity and whether the key is a member at the token's `at`,
    /// in definitions order.
    public let lists: [(name: String, holds: Bool)]
    /// True when some value was recomputed from the retained log (a token older than the entity's
    /// newest change) rather than read from maintained state; the values are exact either way.
    /// It depends on what was ingested after the token, so the vector's JSON leaves it out (the
    /// server sends it as the `Tally-Recomputed` header).
    public let recomputed: Bool

    /// The value of one served view, nil if the vector has no view of that name.
    public subscript(view name: String) -> FeatureValue? {
        views.first { $0.name == name }?.value
    }
}
