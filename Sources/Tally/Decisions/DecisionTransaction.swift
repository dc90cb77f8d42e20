import TallyLMDB

/// The write transaction of one decision (docs/DECISIONS.md): optionally ingest the scored event,
/// read the entities' vectors and evaluate the rules on one snapshot, and record the decision at
/// the next LSN, all in one transaction, committed before the answer.
struct DecisionTransaction {
    let txn: WriteTransaction
    let databases: Tally.Databases
    let current: DefinitionsState.Current
    let input: DecisionInput
    let idIndexShape: IdIndexShape
    let idHash: @Sendable ([UInt8]) -> UInt64

    /// Decides and records; nil, writing nothing, when the definitions the input was made
    /// against are no longer the newest (the caller decides again).
    func run() throws -> Decision? {
        guard let served = current.newestServed, let newest = current.newest, let maintenance = current.maintenance
        else { throw TallyError(.noDefinitions, "the store has no definitions: open it with some") }
        guard newest.version == input.version else { return nil }
        let payload = try input.parsedPayload()
        let event = payload.isEvent ? EventDecoder(catalog: newest.catalog, idHash: idHash).decode(payload.value) : nil
        let mode = input.ingest ?? (event == nil ? .notIngested : .before)
        // A payload with `type` is an event: checked as ingest checks it, whatever the mode.
        if case .failure(let rejection)? = event { throw Self.rejected(rejection) }
        var eventTime: Int64?
        if case .success(let decoded)? = event { eventTime = decoded.time }
        let at = input.at ?? eventTime ?? input.now
        if mode == .including, let eventTime, at < eventTime {
            throw TallyError(
                .invalidArgument,
                "at (\(at)) is before the scored event's time (\(eventTime)): a decision including the event reads "
                    + "windows that end at or after it")
        }
        var scored: DecodedEvent?
        if mode != .notIngested {
            guard let event else {
                throw TallyError(
                    .invalidArgument, "ingest '\(mode.rawValue)' needs an event payload (an object with \"type\")")
            }
            switch event {
            case .success(let decoded): scored = decoded
            case .failure(let rejection): throw Self.rejected(rejection)
            }
        }
        let entities = try input.resolvedEntities(payload, definitions: served.definitions)
        try Self.checkKeys(entities, against: scored ?? (try? event?.get()), served)
        let request = try input.requestFields(payload, event: event, schemaOf: served)

        var evaluated: Evaluation?
        if mode == .before { evaluated = try evaluate(served, entities, request, at: at) }
        var outcome: EventOutcome?
        if let scored {
            let result = try IngestTransaction(
                txn: txn, databases: databases, views: ViewMaintenance(catalog: maintenance, database: databases.views),
                now: input.now, maxFuture: newest.catalog.maxFuture, idIndexShape: idIndexShape,
                flags: served.flagRules
            ).apply([.success(scored)])
            outcome = result.outcomes.first
            if case .rejected(let rejection) = outcome { throw Self.rejected(rejection) }
        }
        let evaluation = try evaluated ?? evaluate(served, entities, request, at: at)

        let head = try headLSN()
        let id = head + 1
        let record = DecisionRecord.encode(
            id: id, evaluation: evaluation, mode: mode, event: outcome, payload: payload.value, decidedAt: input.now)
        try txn.put(databases.log, BigEndian.bytes(id), [LogRecord.decisionKind], flags: .append)
        try txn.put(databases.decisions, BigEndian.bytes(id), record, flags: .append)
        try txn.put(databases.meta, MetaKey.headLSN, BigEndian.bytes(id))
        return Decision(
            id: LSN(id), token: evaluation.token, outcome: evaluation.outcome, rules: evaluation.rules,
            vectors: evaluation.vectors, ingest: mode, event: outcome, decidedAt: input.now, record: record)
    }

    /// The vectors and rules at one snapshot.
    struct Evaluation {
        let token: SnapshotToken
        let vectors: [EntityVector]
        let rules: [RuleResult]
        let outcome: String
    }

    private func evaluate(
        _ served: StoredDefinitions, _ entities: [(entity: String, key: String)],
        _ request: @escaping (String) -> ExpressionValue, at: Int64
    ) throws -> Evaluation {
        let token = SnapshotToken(lsn: LSN(try headLSN()), at: at, definitionsVersion: served.version)
        return try Self.evaluate(
            served, entities, request, token: token, ruleVersions: current.ruleVersions(of: served), in: txn,
            databases: databases, recompute: false)
    }

    /// Reads the vectors of `entities` at `token` in `txn` and evaluates `served`'s rules on them
    /// (also the replay's recomputation, with `recompute`).
    static func evaluate(
        _ served: StoredDefinitions, _ entities: [(entity: String, key: String)],
        _ request: @escaping (String) -> ExpressionValue, token: SnapshotToken, ruleVersions: [String: UInt32],
        in txn: some TransactionReading, databases: Tally.Databases, recompute: Bool
    ) throws -> Evaluation {
        let floor = try RetentionFloor.read(txn, meta: databases.meta)
        if let refusal = floor.refusal(lsn: token.lsn, at: token.at) { throw refusal }
        let vectors = try entities.map { entity, key in
            guard let keyType = served.views.entityKeyTypes[entity] else {
                let known = served.views.entityKeyTypes.keys.sorted().joined(separator: ", ")
                throw TallyError(.unknownEntity, "unknown entity type '\(entity)' (declared: \(known))")
            }
            let (encoded, canonical) = try Snapshot.entityKey(key, type: keyType, entity: entity)
            return try Snapshot.vector(
                entity: entity, encoded: encoded, canonical: canonical, stored: served, at: token, in: txn,
                databases: databases, floor: floor, recompute: recompute)
        }
        let (rules, outcome) = try served.ruleSet.evaluate(
            vectors: vectors, request: request, token: token, versions: ruleVersions, in: txn, marks: databases.marks)
        return Evaluation(token: token, vectors: vectors, rules: rules, outcome: outcome)
    }

    private func headLSN() throws -> UInt64 {
        try MetaKey.headLSN.withUnsafeBytes { try txn.get(databases.meta, $0).flatMap(BigEndian.uint64) } ?? 0
    }

    /// One key per entity type (rules name views by entity, so a second key could not be read),
    /// and for an event payload the keys of the entities it names: deciding on another key than
    /// the event's would score one card and ingest another.
    static func checkKeys(
        _ entities: [(entity: String, key: String)], against event: DecodedEvent?, _ served: StoredDefinitions
    ) throws(TallyError) {
        var seen: Set<String> = []
        for (entity, key) in entities {
            guard seen.insert(entity).inserted else {
                throw TallyError(
                    .invalidArgument,
                    "entity '\(entity)' is named twice: a decision reads one key per entity type (rules name views by entity)"
                )
            }
            guard let event, let position = event.schema.position(of: entity),
                let type = served.views.entityKeyTypes[entity],
                let eventKey = ViewStateKey.entity(event.values[position])
            else { continue }
            if try Snapshot.entityKey(key, type: type, entity: entity).encoded != eventKey {
                throw TallyError(
                    .invalidArgument,
                    "entities gives \(entity) '\(key.prefix(64))' but the scored event's \(entity) is another key: leave "
                        + "entities out, or name the event's")
            }
        }
    }

    static func rejected(_ rejection: EventRejection) -> TallyError {
        TallyError(
            .eventRejected, "the scored event was rejected: \(rejection.code): \(rejection.message)", cause: rejection)
    }
}

/// A decision request with everything its outcome depends on resolved (the wall clock, `at`,
/// the definitions version), as the journal records it.
struct DecisionInput: Sendable {
    var version: UInt32
    var now: Int64
    /// Nil: the scored event's time, else `now`.
    var at: Int64?
    var ingest: DecisionRequest.Ingest?
    var payload: [UInt8]
    var entities: [(entity: String, key: String)]

    struct Payload {
        let value: JSONValue
        var isEvent: Bool {
            if case .object(let members) = value { return members.contains { $0.key == "type" } }
            return false
        }
    }

    func parsedPayload() throws(TallyError) -> Payload {
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(payload)
        } catch {
            throw TallyError(.malformedJSON, "the decision's payload: \(error.description)")
        }
        guard case .object = value else {
            throw TallyError(.invalidArgument, "the decision's payload must be a JSON object, not \(value.kind)")
        }
        return Payload(value: value)
    }

    /// The entities given, or every declared entity whose name is a field of the payload (a
    /// string, or an integer for int keys).
    func resolvedEntities(_ payload: Payload, definitions: Definitions) throws(TallyError) -> [(
        entity: String, key: String
    )] {
        if !entities.isEmpty { return entities }
        guard case .object(let members) = payload.value else { return [] }
        var found: [(entity: String, key: String)] = []
        for entity in definitions.entities {
            switch members.first(where: { $0.key == entity.name })?.value {
            case .string(let key): found.append((entity.name, key))
            case .number(let text) where entity.keyType == .int: found.append((entity.name, text))
            default: continue
            }
        }
        guard !found.isEmpty else {
            throw TallyError(
                .invalidArgument,
                "name the decision's entities: the payload has no field named like an entity "
                    + "(\(definitions.entities.map(\.name).joined(separator: ", ")))")
        }
        return found
    }

    /// `request.<field>`: an event payload's typed fields (as its type declares them); in a plain
    /// payload, a field is typed like the event fields of the same name when every event type that
    /// has one agrees (`"amount":"12.50"` is a decimal when `amount` is one), else by its JSON
    /// (numbers exact, strings as given, other values null).
    func requestFields(
        _ payload: Payload, event: Result<DecodedEvent, EventRejection>?, schemaOf served: StoredDefinitions
    ) throws(TallyError) -> (String) -> ExpressionValue {
        if case .success(let decoded)? = event {
            let schema = decoded.schema
            let values = decoded.values
            return { name in schema.position(of: name).map { ExpressionValue(values[$0]) } ?? .null }
        }
        guard case .object(let members) = payload.value else { return { _ in .null } }
        var declared: [String: ScalarType?] = [:]
        for event in served.definitions.events {
            for field in event.fields {
                if let seen = declared[field.name], seen != field.type.base {
                    declared[field.name] = .some(nil)  // event types disagree: untyped
                } else {
                    declared[field.name] = field.type.base
                }
            }
        }
        // Every field is read once, here: one that cannot be what it claims is refused, never
        // read as null (a rule on it would silently not hold).
        var fields: [String: ExpressionValue] = [:]
        for (name, value) in members where fields[name] == nil {
            if case .null = value {
                fields[name] = .null
            } else if case .some(.some(let type)) = declared[name] {
                guard let typed = Self.typed(value, type) else {
                    throw TallyError(
                        .invalidArgument,
                        "request.\(name) is not a valid \(type.rawValue) (event fields named \(name) are): "
                            + "\(Self.describe(value))")
                }
                fields[name] = typed
            } else {
                switch value {
                case .string(let text): fields[name] = .string(text)
                case .bool(let flag): fields[name] = .bool(flag)
                case .number(let text):
                    guard let decimal = try? ExactDecimal(parsing: text) else {
                        throw TallyError(
                            .invalidArgument,
                            "request.\(name) = \(text.prefix(40)) is not an exact number (at most 18 digits, 6 decimals)"
                        )
                    }
                    fields[name] = .decimal(decimal)
                default: fields[name] = .null
                }
            }
        }
        return { name in fields[name] ?? .null }
    }

    private static func describe(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        JSONWriter.appendJSON(value, to: &out)
        return String(decoding: out.prefix(60), as: UTF8.self)
    }

    /// A JSON value read as a declared field type, nil when it is not one.
    private static func typed(_ value: JSONValue, _ type: ScalarType) -> ExpressionValue? {
        switch (value, type) {
        case (.string(let text), .decimal), (.number(let text), .decimal):
            return (try? ExactDecimal(parsing: text)).map(ExpressionValue.decimal)
        case (.string(let text), .int), (.number(let text), .int): return Int64(text).map(ExpressionValue.integer)
        case (.string(let text), .string): return .string(text)
        case (.bool(let flag), .bool): return .bool(flag)
        case (.number(let text), .timestamp): return Int64(text).map(ExpressionValue.timestamp)
        case (.string(let text), .timestamp):
            return (try? Timestamp.parse(rfc3339: text)).map(ExpressionValue.timestamp)
        default: return nil
        }
    }

    /// Journal layout (little-endian): version (4), now (8), at (8), ingest (1: 0 default,
    /// 1 including, 2 before, 3 none), then length-prefixed chunks: the payload, then entity and
    /// key per entity.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        appendLittleEndian(version, to: &out)
        appendLittleEndian(now, to: &out)
        appendLittleEndian(at ?? Int64.min, to: &out)
        out.append(ingest.map { [.including: 1, .before: 2, .notIngested: 3][$0] ?? 0 } ?? 0)
        LengthPrefixedChunks.append(
            [payload] + entities.flatMap { [Array($0.entity.utf8), Array($0.key.utf8)] }, to: &out)
        return out
    }

    init(
        version: UInt32, now: Int64, at: Int64?, ingest: DecisionRequest.Ingest?, payload: [UInt8],
        entities: [(entity: String, key: String)]
    ) {
        self.version = version
        self.now = now
        self.at = at
        self.ingest = ingest
        self.payload = payload
        self.entities = entities
    }

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 21, let chunks = LengthPrefixedChunks.decode(bytes, from: 21), chunks.count % 2 == 1
        else { return nil }
        version = readLittleEndian(bytes, at: 0, as: UInt32.self)
        now = readLittleEndian(bytes, at: 4, as: Int64.self)
        let at = readLittleEndian(bytes, at: 12, as: Int64.self)
        self.at = at == Int64.min ? nil : at
        ingest = [1: .including, 2: .before, 3: .notIngested][bytes[20]]
        payload = chunks[0]
        entities = stride(from: 1, to: chunks.count, by: 2).map {
            (String(decoding: chunks[$0], as: UTF8.self), String(decoding: chunks[$0 + 1], as: UTF8.self))
        }
    }
}
