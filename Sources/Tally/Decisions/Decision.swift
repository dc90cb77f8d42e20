/// What a decision scores (SPEC §3 `decide`): a request payload, the entity keys whose vectors
/// the rules read, and whether the payload is an event to ingest in the same transaction.
public struct DecisionRequest: Sendable {
    /// How the scored event (a payload with `type`) relates to the decision's snapshot.
    public enum Ingest: String, Sendable, Codable {
        /// Ingest the event, then decide on the state that includes it ("including this event").
        case including
        /// Decide on the state before the event, then ingest it in the same transaction.
        case before
        /// Do not ingest the payload; decide on the current state (`"none"` on the wire).
        case notIngested = "none"
    }

    /// The payload, one JSON object: `request.<field>` in rules reads it. With `type` it is an
    /// event of that type (its fields typed as declared), else plain JSON values.
    public var payload: [UInt8]
    /// The entity keys, in order; empty means every declared entity whose name is a field of the
    /// payload (`card`, `merchant`).
    public var entities: [(entity: String, key: String)]
    /// Default: `.before` for an event payload (decide on the state before it, then ingest it in
    /// the same transaction: rules such as `card_exposure + request.amount > 5000` count the
    /// scored amount once), `.notIngested` otherwise.
    public var ingest: Ingest?
    /// The as-of time of the windows; default: the scored event's time for an event payload,
    /// else the wall clock.
    public var at: Int64?

    public init(
        payload: [UInt8], entities: [(entity: String, key: String)] = [], ingest: Ingest? = nil, at: Int64? = nil
    ) {
        self.payload = payload
        self.entities = entities
        self.ingest = ingest
        self.at = at
    }
}

/// One rule's result in a decision.
public struct RuleResult: Sendable, Hashable {
    public let name: String
    public let outcome: String
    /// Whether its `when` held (true; null and false do not hold).
    public let matched: Bool
    /// The definitions version from which this rule is unchanged, as `GET /v1/definitions`
    /// reports it; the decision's `definitions_version` names the whole set.
    public let version: UInt32
}

/// A decision as recorded (durably, before it was answered) and as `GET /v1/decisions/{id}` and
/// replay read it back.
public struct Decision: Sendable {
    /// The decision's id: the LSN of its record.
    public let id: LSN
    /// The snapshot the rules saw.
    public let token: SnapshotToken
    /// The first matching rule's outcome, in definitions order; `allow` when none matched.
    public let outcome: String
    /// Every rule, in order, with whether it matched.
    public let rules: [RuleResult]
    /// The vectors of the decision's entities at ``token``, in request order.
    public let vectors: [EntityVector]
    /// How the payload was ingested (`including`, `before`, `none`).
    public let ingest: DecisionRequest.Ingest
    /// The scored event's outcome when it was ingested.
    public let event: EventOutcome?
    /// The wall-clock time the decision was taken, epoch ms.
    public let decidedAt: Int64
    /// The record as stored: canonical JSON (``appendJSON(to:)`` writes it).
    let record: [UInt8]

    /// Names of the rules that matched, in order: the reasons.
    public var reasons: [String] { rules.filter(\.matched).map(\.name) }

    /// Appends the decision as JSON: `{"id","outcome","reasons","rules","vectors","snapshot",…}`.
    public func appendJSON(to buffer: inout [UInt8]) { buffer.append(contentsOf: record) }
}

/// What replaying a decision found (``Tally/replayDecision(_:)``).
public struct DecisionReplay: Sendable {
    /// One value that differs between the record and the recomputation.
    public struct Difference: Sendable, Hashable {
        /// Where: `vectors[0].views.card_txn_count_60s`, `rules.blocked`, `outcome`.
        public let path: String
        public let recorded: String
        public let recomputed: String

        public init(path: String, recorded: String, recomputed: String) {
            self.path = path
            self.recorded = recorded
            self.recomputed = recomputed
        }
    }

    public let id: LSN
    public let token: SnapshotToken
    /// True when every vector value, flag, list membership, rule result and the outcome match.
    public let matches: Bool
    public let differences: [Difference]
    /// The recomputed outcome.
    public let outcome: String

    public init(id: LSN, token: SnapshotToken, matches: Bool, differences: [Difference], outcome: String) {
        self.id = id
        self.token = token
        self.matches = matches
        self.differences = differences
        self.outcome = outcome
    }
}
