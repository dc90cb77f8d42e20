import TallyLMDB

extension Tally {
    /// Ingests events built in Swift, as one request: resolves after the durable commit with one
    /// outcome per event (SPEC §2).
    ///
    /// ```swift
    /// let result = try await store.ingest([event])
    /// result.accepted   // 1
    /// ```
    public func ingest(_ events: [Event]) async throws(TallyError) -> IngestResult {
        try await ingest { decoder in events.map { decoder.decode($0) } }
    }

    /// Ingests a JSON body: one event object, or an array of them. A body that is not valid JSON
    /// (or is neither an object nor an array) fails whole with ``TallyError/Code/malformedJSON``
    /// and changes nothing; events inside a valid body are judged one by one.
    public func ingest(json body: [UInt8]) async throws(TallyError) -> IngestResult {
        _ = try newestDefinitions()
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(body)
        } catch {
            throw TallyError(.malformedJSON, error.description)
        }
        switch value {
        case .array(let elements):
            try checkCount(elements.count)
            return try await ingest { decoder in elements.map { decoder.decode($0) } }
        case .object:
            return try await ingest { decoder in [decoder.decode(value)] }
        default:
            throw TallyError(
                .malformedJSON, "the body must be an event object or an array of events, not \(value.kind)")
        }
    }

    /// Ingests NDJSON: one event per line (blank lines are skipped). A line that is not valid JSON
    /// rejects that event (`malformed_json`); the others go on.
    public func ingest(ndjson body: [UInt8]) async throws(TallyError) -> IngestResult {
        _ = try newestDefinitions()
        let lines = body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).filter { line in
            !line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        }
        try checkCount(lines.count)
        let parsed = lines.map { line -> Result<JSONValue, JSONSyntaxError> in
            line.withUnsafeBufferPointer { buffer in
                Result { () throws(JSONSyntaxError) in try StrictJSONParser.parse(buffer) }
            }
        }
        return try await ingest { decoder in
            parsed.map { line -> Result<DecodedEvent, EventRejection> in
                switch line {
                case .success(let value): return decoder.decode(value)
                case .failure(let error): return .failure(EventRejection(.malformedJSON, error.description))
                }
            }
        }
    }

    private func newestDefinitions() throws(TallyError) -> StoredDefinitions {
        guard let newest = definitionsState.current.newest else {
            throw TallyError(
                .noDefinitions, "the store at \(directory) has no definitions: open it with some (tally ingest DEFS …)")
        }
        return newest
    }

    private func checkCount(_ count: Int) throws(TallyError) {
        guard count <= options.maxEventsPerRequest else {
            throw TallyError(
                .tooManyEvents, "\(count) events in one request; the limit is \(options.maxEventsPerRequest)")
        }
    }

    /// Decodes with the newest definitions and applies the events in one write request (never
    /// split across transactions): per event, in request order, duplicate → conflict →
    /// lateness/future, then append. If a definitions change began after decoding, the events are
    /// decoded again with the new version before anything is written.
    func ingest(
        decoding: (EventDecoder) -> [Result<DecodedEvent, EventRejection>]
    ) async throws(TallyError) -> IngestResult {
        while true {
            let newest = try newestDefinitions()
            let events = decoding(EventDecoder(catalog: newest.catalog, idHash: options.idHash))
            if let result = try await ingest(decoded: events, version: newest.version) { return result }
        }
    }

    /// Nil when the definitions decoding used are no longer the newest.
    private func ingest(
        decoded events: [Result<DecodedEvent, EventRejection>], version: UInt32
    ) async throws(TallyError) -> IngestResult? {
        // An empty batch is well formed (SPEC §3): nothing to apply; the answer names the
        // store's LSN, as for a batch whose every event was rejected.
        guard !events.isEmpty else { return IngestResult(outcomes: [], lsn: try readTyped { try $0.lsn }) }
        let databases = databases
        let clock = options.wallClock
        let shape = options.idIndexShape
        let state = definitionsState
        let cost = events.count
        // The journaled mode records the request with the time it is judged against, so replay
        // judges it the same way.
        let judgedAt: Int64? = options.isJournaled ? clock() : nil
        let journal = judgedAt.map { JournalEntry.ingest(version: version, now: $0, events: events) }
        return try await write(cost: cost, journal: journal) { txn in
            // The writer thread alone changes definitions, so what it reads here holds for the
            // whole of this request.
            let current = state.current
            guard let newest = current.newest, newest.version == version, let catalog = current.maintenance else {
                return nil
            }
            let views = ViewMaintenance(catalog: catalog, database: databases.views)
            return try IngestTransaction(
                txn: txn, databases: databases, views: views, now: judgedAt ?? clock(),
                maxFuture: newest.catalog.maxFuture,
                idIndexShape: shape, flags: current.newestServed?.flagRules
            )
            .apply(events)
        }
    }
}

/// The write-transaction half of an ingest request.
struct IngestTransaction {
    let txn: WriteTransaction
    let databases: Tally.Databases
    let views: ViewMaintenance
    let now: Int64
    let maxFuture: Int64
    let idIndexShape: IdIndexShape
    /// The flags the served definitions set by rule (nil: none are evaluated).
    let flags: FlagRules?

    func apply(_ events: [Result<DecodedEvent, EventRejection>]) throws -> IngestResult {
        let meta = databases.meta
        let head = try MetaKey.headLSN.withUnsafeBytes { try txn.get(meta, $0).flatMap(BigEndian.uint64) } ?? 0
        let storedWatermark = try txn.int64(meta, MetaKey.watermark)
        var watermark = storedWatermark
        var lsn = head
        var index = try IdIndex(txn: txn, database: databases.ids, meta: meta, shape: idIndexShape)
        var outcomes: [EventOutcome] = []
        outcomes.reserveCapacity(events.count)
        var newestByType: [String: Int64] = [:]
        var flagSession: FlagRules.Session?
        defer { flagSession?.close() }
        var collisions: Bool?
        func collisionsPresent() throws -> Bool {
            if let collisions { return collisions }
            let present = try txn.withCursor(databases.idCollisions) { try $0.first() != nil }
            collisions = present
            return present
        }
        for item in events {
            guard case .success(let event) = item else {
                if case .failure(let rejection) = item { outcomes.append(.rejected(rejection)) }
                continue
            }
            // Order of checks (SPEC §2): duplicate → conflict → lateness/future. An event inside the
            // bounds is inserted into the id index if absent, in one B-tree descent; a hit is
            // confirmed against the stored event (duplicate, conflict, or a hash collision).
            let bound = boundViolation(event, watermark: watermark)
            let candidate = lsn + 1
            let hit: UInt64?
            var insertedIndexEntry = false
            if bound == nil {
                hit = try index.insertIfAbsent(event.idIndexKey, lsn: candidate)
                insertedIndexEntry = hit == nil
            } else {
                hit = try index.find(event.idIndexKey)?.lsn
            }
            var needsCollisionEntry = false
            if insertedIndexEntry, try collisionsPresent(), let stored = try lookup(databases.idCollisions, event.idKey)
            {
                // Retention dropped the event that held this hash, but a colliding id it kept is
                // still stored under its full id.
                try index.remove(level: 0, event.idIndexKey)
                outcomes.append(try judge(event, against: stored) ?? conflict(event, stored))
                continue
            }
            if let hit {
                if let outcome = try judge(event, against: hit) {
                    outcomes.append(outcome)
                    continue
                }
                // A different id with the same hash: the full id decides, in `id_collisions`.
                if let stored = try lookup(databases.idCollisions, event.idKey) {
                    outcomes.append(try judge(event, against: stored) ?? conflict(event, stored))
                    continue
                }
                needsCollisionEntry = true
            }
            if let bound {
                outcomes.append(.rejected(bound))
                continue
            }
            // Views change in the same transaction; an event that would overflow a running total is
            // rejected before anything of it is written (its id-index entry is taken back).
            let writes: ViewMaintenance.Writes
            switch try views.plan(schema: event.schema, values: event.values, time: event.time, lsn: candidate, in: txn)
            {
            case .success(let planned): writes = planned
            case .failure(let rejection):
                if insertedIndexEntry { try index.remove(level: 0, event.idIndexKey) }
                outcomes.append(.rejected(rejection))
                continue
            }
            try views.apply(writes, in: txn)
            lsn = candidate
            if needsCollisionEntry {
                try txn.put(databases.idCollisions, event.idKey, IdempotencyEntry.encode(lsn: lsn))
            }
            try txn.put(
                databases.log, BigEndian.bytes(lsn),
                LogRecord.event(typeCode: event.schema.code, time: event.time, ingestTime: now, payload: event.payload),
                flags: .append)
            watermark = max(watermark ?? event.time, event.time)
            newestByType[event.schema.name] = max(newestByType[event.schema.name] ?? event.time, event.time)
            outcomes.append(.accepted(LSN(lsn)))
            if let flags, flags.applies(to: event.schema.code) {
                let session = try flagSession ?? FlagRules.Session(txn: txn, databases: databases)
                flagSession = session
                try flags.apply(after: event, lsn: lsn, in: session)
            }
        }
        try index.settle()
        if lsn != head { try txn.put(meta, MetaKey.headLSN, BigEndian.bytes(lsn)) }
        if let watermark, watermark != storedWatermark {
            try txn.put(meta, MetaKey.watermark, BigEndian.bytes(watermark))
        }
        for (name, time) in newestByType {
            let key = MetaKey.newestEventTime(name)
            if let stored = try txn.int64(meta, key), stored >= time { continue }
            try txn.put(meta, key, BigEndian.bytes(time))
        }
        return IngestResult(outcomes: outcomes, lsn: LSN(lsn))
    }

    /// Why the event is outside `watermark − lateness ≤ ts ≤ now + max_future`, if it is.
    private func boundViolation(_ event: DecodedEvent, watermark: Int64?) -> EventRejection? {
        if let watermark, event.time < watermark - event.schema.lateness {
            return EventRejection(
                .late,
                "event time \(event.time) is older than the watermark \(watermark) minus the \(event.schema.name) lateness \(event.schema.lateness) ms"
            )
        }
        if event.time > now + maxFuture {
            return EventRejection(
                .future, "event time \(event.time) is more than \(maxFuture) ms ahead of the wall clock \(now)")
        }
        return nil
    }

    private func lookup(_ database: Database, _ key: [UInt8]) throws -> UInt64? {
        try key.withUnsafeBytes { try txn.get(database, $0).flatMap(IdempotencyEntry.decode) }
    }

    /// Compares `event` with the event stored at `lsn`: same payload → duplicate; same id with a
    /// different payload → conflict; a different id (a hash collision) → nil.
    private func judge(_ event: DecodedEvent, against lsn: UInt64) throws -> EventOutcome? {
        try BigEndian.bytes(lsn).withUnsafeBytes { key in
            guard let record = try txn.get(databases.log, key), let stored = LogRecord.decodeEvent(record) else {
                throw TallyError(.storageFailure, "the id index points at LSN \(lsn), which holds no event")
            }
            if stored.payload.elementsEqual(event.payload) { return .duplicate(of: LSN(lsn)) }
            if stored.typeCode == event.schema.code, event.schema.idKey(canonicalPayload: stored.payload) == event.idKey
            {
                return conflict(event, lsn)
            }
            return nil
        }
    }

    private func conflict(_ event: DecodedEvent, _ lsn: UInt64) -> EventOutcome {
        .rejected(
            EventRejection(
                .conflict, "\(event.schema.name) with this id is already stored (LSN \(lsn)) with a different payload",
                field: nil))
    }
}
