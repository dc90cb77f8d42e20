import TallyLMDB

/// A recorded decision as `GET /v1/decisions/{id}` returns it.
public struct RecordedDecision: Sendable {
    public let id: LSN
    /// The snapshot its rules saw.
    public let token: SnapshotToken
    /// The record's JSON (``Decision/appendJSON(to:)``).
    public let json: [UInt8]
}

extension Tally {
    /// Scores `request` (SPEC §3 `decide`): reads the vectors of its entities and evaluates the
    /// rules on **one snapshot**, optionally ingesting the scored event in the same transaction
    /// (``DecisionRequest/Ingest``), and records the decision (inputs, vectors, rule results,
    /// outcome, snapshot) at the next LSN. Resolves after that commit is durable; the decision's
    /// id is its LSN.
    ///
    /// ```swift
    /// let payload = #"{"type":"authorization","txn_id":"t9","ts":1793491206000,"card":"c1",…}"#
    /// let decision = try await store.decide(DecisionRequest(payload: Array(payload.utf8)))
    /// decision.outcome   // "review"
    /// decision.reasons   // ["hold"]
    /// ```
    ///
    /// A rejected scored event (late, conflict, malformed) fails the decision with
    /// ``TallyError/Code/eventRejected`` and records nothing; a duplicate is decided on the state
    /// that already holds it.
    public func decide(_ request: DecisionRequest) async throws(TallyError) -> Decision {
        while true {
            guard let newest = definitionsState.current.newest else {
                throw TallyError(.noDefinitions, "the store at \(directory) has no definitions: open it with some")
            }
            let now = options.wallClock()
            let at = try request.at.map { value throws(TallyError) in try Self.checkedTime(value, "at") }
            let input = DecisionInput(
                version: newest.version, now: now, at: at, ingest: request.ingest, payload: request.payload,
                entities: request.entities)
            _ = try input.parsedPayload()
            let databases = databases
            let state = definitionsState
            let shape = options.idIndexShape
            let hash = options.idHash
            let journal = options.isJournaled ? JournalEntry.decision(input) : nil
            let decision = try await write(journal: journal) { txn in
                try DecisionTransaction(
                    txn: txn, databases: databases, current: state.current, input: input, idIndexShape: shape,
                    idHash: hash
                ).run()
            }
            // Nil: made against definitions that are no longer the newest; decide again.
            if let decision { return decision }
        }
    }

    /// The decision recorded under `id`. Decisions are kept for the life of the store
    /// (retention drops the log, not them); ``TallyError/Code/unknownDecision`` otherwise.
    public func decision(_ id: LSN) throws(TallyError) -> RecordedDecision {
        try readTyped { snapshot in try snapshot.decision(id) }
    }

    /// Recomputes decision `id` at its recorded snapshot — every view from the log's entries
    /// (never from the running totals), the flags, lists and rules — and compares each value with
    /// the record. A snapshot older than what retention keeps fails with
    /// ``TallyError/Code/notRetained``.
    public func replayDecision(_ id: LSN) throws(TallyError) -> DecisionReplay {
        try readTyped { snapshot in try snapshot.replayDecision(id) }
    }
}

extension Snapshot {
    func decision(_ id: LSN) throws(TallyError) -> RecordedDecision {
        let bytes = try tallyCall { try transaction.value(databases.decisions, BigEndian.bytes(id.rawValue)) }
        guard let bytes, let stored = DecisionRecord.decode(bytes) else {
            throw TallyError(.unknownDecision, "no decision is recorded with id \(id)")
        }
        return RecordedDecision(id: id, token: stored.token, json: bytes)
    }

    func replayDecision(_ id: LSN) throws(TallyError) -> DecisionReplay {
        let recorded = try decision(id)
        guard let stored = DecisionRecord.decode(recorded.json) else {
            throw TallyError(.storageFailure, "decision \(id) has a damaged record")
        }
        // The version the record names: at LSN 0 (a decision before any event) a later version
        // may be served from LSN 1, and the newest served one may have other views and rules.
        guard let served = definitions.versions[stored.token.definitionsVersion] ?? self.stored(at: stored.token.lsn)
        else { throw TallyError(.notReady, "no definitions were served at lsn \(stored.token.lsn)") }
        let payload = DecisionInput.Payload(value: stored.payload)
        let event = payload.isEvent ? EventDecoder(catalog: served.catalog).decode(stored.payload) : nil
        let input = DecisionInput(
            version: served.version, now: 0, at: stored.token.at, ingest: nil, payload: [], entities: stored.entities)
        let request = try input.requestFields(payload, event: event, schemaOf: served)
        let evaluation = try tallyCall {
            try DecisionTransaction.evaluate(
                served, stored.entities, request, token: stored.token,
                ruleVersions: definitions.ruleVersions(of: served),
                in: transaction, databases: databases, recompute: true)
        }
        let again = DecisionRecord.encode(
            id: stored.id, evaluation: evaluation, mode: .notIngested, event: nil, payload: stored.payload, decidedAt: 0
        )
        guard case .object(let members)? = try? StrictJSONParser.parse(again) else {
            throw TallyError(.storageFailure, "decision \(id) could not be recomputed")
        }
        let recomputed = Dictionary(
            DecisionRecord.comparedValues(
                Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })),
            uniquingKeysWith: { first, _ in first })
        let recordedValues = Dictionary(stored.values, uniquingKeysWith: { first, _ in first })
        var differences: [DecisionReplay.Difference] = []
        for (path, json) in stored.values where recomputed[path] != json {
            differences.append(.init(path: path, recorded: json, recomputed: recomputed[path] ?? "absent"))
        }
        for (path, json) in DecisionRecord.comparedValues(
            Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        where recordedValues[path] == nil {
            differences.append(.init(path: path, recorded: "absent", recomputed: json))
        }
        return DecisionReplay(
            id: id, token: stored.token, matches: differences.isEmpty, differences: differences,
            outcome: evaluation.outcome)
    }
}

extension Snapshot {
    /// Evaluates the rules on this snapshot without recording anything (SPEC §3: vectors, list
    /// lookups and rule evaluation taken in one read): the vectors of `entities` (default: the
    /// payload's entity fields) at `token`, every rule's result and the outcome. `decide` is the
    /// recorded, replayable form; this is for a caller that only needs the answer.
    ///
    /// ```swift
    /// let (rules, outcome, vectors) = try store.read { s in
    ///     try s.evaluateRules(payload: Array(#"{"card":"c1","amount":12.5}"#.utf8), at: try s.token())
    /// }
    /// ```
    public func evaluateRules(
        payload: [UInt8], entities: [(entity: String, key: String)] = [], at token: SnapshotToken
    ) throws(TallyError) -> (rules: [RuleResult], outcome: String, vectors: [EntityVector]) {
        guard let served = stored(at: token.lsn) else {
            throw TallyError(.noDefinitions, "the store has no definitions served at lsn \(token.lsn)")
        }
        let input = DecisionInput(
            version: served.version, now: token.at, at: token.at, ingest: .notIngested, payload: payload,
            entities: entities)
        let parsed = try input.parsedPayload()
        let event = parsed.isEvent ? EventDecoder(catalog: served.catalog).decode(parsed.value) : nil
        if case .failure(let rejection)? = event { throw DecisionTransaction.rejected(rejection) }
        let keys = try input.resolvedEntities(parsed, definitions: served.definitions)
        try DecisionTransaction.checkKeys(keys, against: try? event?.get(), served)
        let request = try input.requestFields(parsed, event: event, schemaOf: served)
        let evaluation = try tallyCall {
            try DecisionTransaction.evaluate(
                served, keys, request, token: token, ruleVersions: definitions.ruleVersions(of: served),
                in: transaction,
                databases: databases, recompute: false)
        }
        return (evaluation.rules, evaluation.outcome, evaluation.vectors)
    }
}
