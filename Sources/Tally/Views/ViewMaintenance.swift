import TallyLMDB

/// Keeps view state in step with the log, inside the write transaction that appends the event
/// (SPEC §1–2): the state a snapshot reads always matches the LSN it reads.
///
/// Each accepted event is first *planned* (reads only: running totals after a late event's
/// position, tiles to widen), so an event whose running totals would overflow is rejected before
/// anything is written; the plan is then applied. Each state is maintained once per event, however
/// many views read it.
struct ViewMaintenance {
    let catalog: ViewCatalog
    let database: Database

    /// The writes one event makes to view state.
    struct Writes {
        var puts: [(key: [UInt8], value: [UInt8])] = []
        /// Keys to delete (applied before the puts).
        var deletes: [[UInt8]] = []
        /// The entity keys written (each a group of the view stage).
        var entities: [[UInt8]] = []
        var isEmpty: Bool { puts.isEmpty && deletes.isEmpty }
    }

    /// Plans the view updates of one event about to be stored at `lsn`. `only` restricts them to
    /// some state codes (backfill of new states).
    func plan(
        schema: EventSchema, values: [FieldValue], time: Int64, lsn: UInt64, in txn: some TransactionReading,
        only: Set<UInt16>? = nil
    ) throws -> Result<Writes, EventRejection> {
        guard let indices = catalog.statesByEventType[schema.code] else { return .success(Writes()) }
        var writes = Writes()
        var touchedEntities: [[UInt8]] = []
        let evaluator = ExpressionEvaluator(name: { name in
            guard let position = schema.position(of: name) else { return .null }
            return ExpressionValue(values[position])
        })
        for index in indices {
            let state = catalog.states[index]
            if let only, !only.contains(state.code) { continue }
            guard let source = state.sources[schema.code],
                let entity = ViewStateKey.entity(values[source.entityField])
            else { continue }
            if let filter = source.filter, !evaluator.holds(filter) { continue }
            var value: ExpressionValue?
            if let expression = source.value {
                let computed = evaluator.evaluate(expression)
                if computed == .null { continue }  // a null value contributes nothing
                value = computed
            }
            let stateKey = ViewStateKey.view(entity, code: state.code)
            let key = ViewStateKey.series(ViewStateKey.seriesPrefix(stateKey), time: time, lsn: lsn)
            switch state.kind {
            case .count, .totals, .squares:
                if let rejection = try planRunningTotals(state, stateKey, key, value, txn, &writes) {
                    return .failure(rejection)
                }
            case .values:
                guard let value, let encoded = StoredValue.encode(value) else { continue }
                writes.puts.append((key, encoded))
            case .members:
                guard let value, let encoded = StoredValue.encode(value) else { continue }
                writes.puts.append((key, encoded))
                try planMemberIndex(state, stateKey, member: encoded, time: time, lsn: lsn, txn, &writes)
            case .extremes:
                guard let value, let encoded = StoredValue.encode(value) else { continue }
                writes.puts.append((key, encoded))
                try planTiles(state, stateKey, time: time, value: value, encoded: encoded, txn, &writes)
                if let chain = state.chain {
                    try planChain(chain, stateKey, time: time, lsn: lsn, value: value, encoded: encoded, txn, &writes)
                }
            }
            if !touchedEntities.contains(entity) { touchedEntities.append(entity) }
        }
        writes.entities = touchedEntities
        for entity in touchedEntities {
            let head = ViewStateKey.head(entity, code: catalog.headCode)
            // A backfilled event is older than live ones: the head keeps the entity's newest LSN.
            if only != nil,
                let newest = try head.withUnsafeBytes({ try txn.get(database, $0) }).flatMap(BigEndian.uint64),
                newest >= lsn
            {
                continue
            }
            writes.puts.append((head, BigEndian.bytes(lsn)))
        }
        return .success(writes)
    }

    func apply(_ writes: Writes, in txn: WriteTransaction) throws {
        // A busy entity's state bypasses the view stage (docs/VIEWS.md).
        for entity in writes.entities { try txn.visit(database, group: entity) }
        for key in writes.deletes { try txn.delete(database, key) }
        for (key, value) in writes.puts { try txn.put(database, key, value) }
    }

    /// The entry at (time, lsn) holds the totals up to it; every later entry of the series (a late
    /// event) gains the contribution too.
    private func planRunningTotals(
        _ state: ViewState, _ stateKey: [UInt8], _ key: [UInt8], _ value: ExpressionValue?,
        _ txn: some TransactionReading, _ writes: inout Writes
    ) throws -> EventRejection? {
        var micros: Int128?
        if state.kind != .count {
            guard case .number(let number) = value else { return nil }
            micros = number
        }
        guard let contribution = RunningTotals.contribution(micros: micros, squares: state.kind == .squares) else {
            return overflow()
        }
        let prefix = ViewStateKey.seriesPrefix(stateKey)
        var previous = RunningTotals()
        var later: [(key: [UInt8], totals: RunningTotals)] = []
        try txn.withReadingCursor(database) { cursor in
            var entry = try key.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            if let first = entry, ViewStateKey.hasPrefix(first.key, prefix) {
                while let current = entry, ViewStateKey.hasPrefix(current.key, prefix) {
                    later.append((Array(current.key), RunningTotals(current.value) ?? RunningTotals()))
                    entry = try cursor.next()
                }
                entry = try key.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            }
            let before = entry == nil ? try cursor.last() : try cursor.previous()
            if let before, ViewStateKey.hasPrefix(before.key, prefix), let totals = RunningTotals(before.value) {
                previous = totals
            }
        }
        guard let totals = previous.adding(contribution) else { return overflow() }
        writes.puts.append((key, totals.encoded(state.kind)))
        for entry in later {
            guard let updated = entry.totals.adding(contribution) else { return overflow() }
            writes.puts.append((entry.key, updated.encoded(state.kind)))
        }
        return nil
    }

    /// Widens the min/max of the tile holding `time` at every level the state keeps.
    private func planTiles(
        _ state: ViewState, _ stateKey: [UInt8], time: Int64, value: ExpressionValue, encoded: [UInt8],
        _ txn: some TransactionReading, _ writes: inout Writes
    ) throws {
        for (level, width) in state.tileWidths.enumerated() {
            let key = ViewStateKey.tile(stateKey, level: level + 1, start: time - time % width)
            let current = try key.withUnsafeBytes { try txn.get(database, $0).flatMap(StoredValue.decodeTile) }
            guard let current else {
                writes.puts.append((key, StoredValue.tile(min: encoded, max: encoded)))
                continue
            }
            let lower = StoredValue.less(value, current.min)
            let higher = StoredValue.less(current.max, value)
            guard lower || higher else { continue }
            let newMin = lower ? encoded : StoredValue.encode(current.min) ?? encoded
            let newMax = higher ? encoded : StoredValue.encode(current.max) ?? encoded
            writes.puts.append((key, StoredValue.tile(min: newMin, max: newMax)))
        }
    }

    /// Keeps the state's chain: the events whose value beats (max: exceeds, min: is below) that
    /// of every later event in (time, LSN) order, so a window reaching the entity's newest event
    /// finds its extreme in the chain's first entry inside it. An event enters unless a later
    /// one matches or beats it; entering, it removes the earlier entries it matches or beats.
    /// Each entry is removed at most once, so an event costs O(1) writes amortized.
    private func planChain(
        _ chain: ViewState.Chain, _ stateKey: [UInt8], time: Int64, lsn: UInt64, value: ExpressionValue,
        encoded: [UInt8], _ txn: some TransactionReading, _ writes: inout Writes
    ) throws {
        func beats(_ a: ExpressionValue, _ b: ExpressionValue) -> Bool {
            chain == .max ? StoredValue.less(b, a) : StoredValue.less(a, b)
        }
        let key = ViewStateKey.chain(stateKey, time: time, lsn: lsn)
        let prefix = Array(key[0..<(stateKey.count + 1)])
        try txn.withReadingCursor(database) { cursor in
            let after = try key.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            if let later = after, ViewStateKey.hasPrefix(later.key, prefix),
                !beats(value, StoredValue.decode(later.value))
            {
                return
            }
            writes.puts.append((key, encoded))
            var before = after == nil ? try cursor.last() : try cursor.previous()
            while let earlier = before, ViewStateKey.hasPrefix(earlier.key, prefix),
                !beats(StoredValue.decode(earlier.value), value)
            {
                writes.deletes.append(Array(earlier.key))
                before = try cursor.previous()
            }
        }
    }

    /// Keeps each member's latest occurrence and the members ordered by it, so a distinct count
    /// at or after the entity's newest event counts members, not events (``ViewStateKey``). A
    /// member too long for an LMDB key marks the entity's index unusable; reads then scan.
    private func planMemberIndex(
        _ state: ViewState, _ stateKey: [UInt8], member: [UInt8], time: Int64, lsn: UInt64,
        _ txn: some TransactionReading, _ writes: inout Writes
    ) throws {
        let memberKey = ViewStateKey.member(stateKey, member)
        guard ViewStateKey.lastSeen(stateKey, time: time, lsn: lsn, member: member).count <= ViewStateKey.maxKeyBytes
        else {
            writes.puts.append((ViewStateKey.memberIndexUnusable(stateKey), []))
            return
        }
        let previous = try memberKey.withUnsafeBytes { try txn.get(database, $0) }.map { raw in
            (
                time: Int64(bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: raw[0..<8])) ?? 0),
                lsn: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: raw[8..<16])) ?? 0
            )
        }
        if let previous {
            guard (time, lsn) > (previous.time, previous.lsn) else { return }  // a late, older occurrence
            writes.deletes.append(
                ViewStateKey.lastSeen(stateKey, time: previous.time, lsn: previous.lsn, member: member))
        }
        writes.puts.append((ViewStateKey.lastSeen(stateKey, time: time, lsn: lsn, member: member), []))
        writes.puts.append((memberKey, BigEndian.bytes(UInt64(time)) + BigEndian.bytes(lsn)))
        try planCountTiles(state, stateKey, movedFrom: previous?.time, to: time, txn, &writes)
    }

    /// Moves a member's latest occurrence from `old` (nil: a new member) to `new` in the count
    /// tiles of every level: the old tile loses one, the new one gains one, unless they are the
    /// same tile. A tile that reaches zero is deleted.
    private func planCountTiles(
        _ state: ViewState, _ stateKey: [UInt8], movedFrom old: Int64?, to new: Int64, _ txn: some TransactionReading,
        _ writes: inout Writes
    ) throws {
        func count(_ key: [UInt8]) throws -> UInt64 {
            try key.withUnsafeBytes { try txn.get(database, $0) }.flatMap(BigEndian.uint64) ?? 0
        }
        for (level, width) in state.tileWidths.enumerated() {
            let newStart = new - new % width
            if let old {
                let oldStart = old - old % width
                if oldStart == newStart { continue }
                let key = ViewStateKey.countTile(stateKey, level: level + 1, start: oldStart)
                let remaining = try count(key)
                if remaining > 1 {
                    writes.puts.append((key, BigEndian.bytes(remaining - 1)))
                } else if remaining == 1 {
                    writes.deletes.append(key)
                }
            }
            let key = ViewStateKey.countTile(stateKey, level: level + 1, start: newStart)
            writes.puts.append((key, BigEndian.bytes(try count(key) + 1)))
        }
    }

    private func overflow() -> EventRejection {
        EventRejection(.outOfRange, "a view's running totals would overflow with this event's value")
    }
}

extension ExpressionValue {
    init(_ value: FieldValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .int(let number): self = .integer(number)
        case .bool(let flag): self = .bool(flag)
        case .timestamp(let ms): self = .timestamp(ms)
        case .decimal(let decimal): self = .decimal(decimal)
        case .null: self = .null
        }
    }
}
