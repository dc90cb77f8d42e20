import TallyLMDB

/// Reads one view's windows for one entity from view state (docs/VIEWS.md).
///
/// Fast path (`lsnLimit == nil`, the state holds no change of this entity after the token's LSN):
/// running totals cost two seeks per window, first/last one seek, min/max two seeks in the chain
/// at or after the entity's newest event (else at most 15 tiles per side per level), whatever the
/// number of events in the window. Recomputation (`lsnLimit` set):
/// the window's entries are scanned and only those with LSN ≤ the limit count: exact at any
/// token, at a cost that grows with the window's events.
struct ViewReader<Transaction: TransactionReading> {
    let txn: Transaction
    let database: Database
    /// One cursor over `database` for every seek of this reader (opened and closed by its user).
    let cursor: Cursor
    /// The buffer every seek key of this reader is built in.
    let keys = KeyBuffer()
    /// The retention floor's time (``RetentionFloor``); nil when nothing was dropped.
    var floorTime: Int64? = nil

    /// The view's value in each of its windows `(at − W, at]`, in window order.
    func values(_ view: CompiledView, _ state: ViewState, entity: [UInt8], at: Int64, lsnLimit: UInt64?) throws
        -> [FeatureValue]
    {
        var values: [(name: String, value: FeatureValue)] = []
        try append(view, state, entity: entity, at: at, lsnLimit: lsnLimit, to: &values)
        return values.map(\.value)
    }

    /// Appends the view's served names with their values (``values(_:_:entity:at:lsnLimit:)``):
    /// a vector read collects every view into one array.
    func append(
        _ view: CompiledView, _ state: ViewState, entity: [UInt8], at: Int64, lsnLimit: UInt64?,
        to vector: inout [(name: String, value: FeatureValue)]
    ) throws {
        let viewKey = StateKey(entity: entity, code: state.code)
        var totalsAtEnd: (time: Int64, totals: RunningTotals)?
        for (window, name) in zip(view.definition.windows, view.servedNames) {
            vector.append(
                (name, try value(view, state, viewKey, window: window, at: at, lsnLimit: lsnLimit, &totalsAtEnd)))
        }
    }

    /// One window's value.
    private func value(
        _ view: CompiledView, _ state: ViewState, _ viewKey: StateKey, window: Window, at: Int64, lsnLimit: UInt64?,
        _ totalsAtEnd: inout (time: Int64, totals: RunningTotals)?
    ) throws -> FeatureValue {
        let low = window.milliseconds.map { max(0, at - $0 + 1) } ?? 0
        if let lsnLimit { return try recompute(view, state, viewKey, low: low, high: at, lsnLimit: lsnLimit) }
        switch state.kind {
        case .count, .totals, .squares:
            let end = try totalsAtEnd ?? lastTotals(viewKey, atOrBefore: at)
            totalsAtEnd = end
            // The newest entry up to `at` is before the window: nothing in it, no second seek.
            guard end.time >= low else { return finish(view, RunningTotals()) }
            return finish(view, end.totals.subtracting(try totals(viewKey, atOrBefore: low - 1)))
        case .values:
            return finish(
                view,
                try view.aggregate == .last
                    ? last(viewKey, low: low, high: at) : first(viewKey, low: low, high: at))
        case .extremes:
            if state.chain != nil, let best = try chainExtreme(viewKey, low: low, at: at) {
                return finish(view, best)
            }
            return finish(view, try extreme(state, viewKey, low: low, high: at, max: view.aggregate == .max))
        case .members:
            if let count = try distinctFromIndex(state, viewKey, low: low, at: at) { return .int(count) }
            return .int(Int64(try members(viewKey, low: low, high: at, lsnLimit: nil)))
        }
    }

    // MARK: fast path

    /// Runs `body` with the reader's cursor, which it repositions.
    private func reposition<R>(_ body: (inout Cursor) throws -> R) rethrows -> R {
        var cursor = cursor
        return try body(&cursor)
    }

    /// The event time a "newest entry up to" read's entry (``Cursor/last(below:within:rewritesLater:)``)
    /// stores at `offset` (right after its range's prefix); nil without an entry, or for a key too
    /// short to hold one.
    private static func time(of entry: Entry?, at offset: Int) -> Int64? {
        guard let entry, entry.key.count >= offset + 16 else { return nil }
        return ViewStateKey.timeAndLSN(entry.key, prefixCount: offset).time
    }

    /// Running totals of every entry with event time ≤ `time` (zero if none).
    private func totals(_ viewKey: StateKey, atOrBefore time: Int64) throws -> RunningTotals {
        try lastTotals(viewKey, atOrBefore: time).totals
    }

    /// ``totals(_:atOrBefore:)`` with the event time of the entry holding them (`Int64.min` if none).
    private func lastTotals(_ viewKey: StateKey, atOrBefore time: Int64) throws -> (time: Int64, totals: RunningTotals)
    {
        guard time >= 0 else { return (.min, RunningTotals()) }
        return try entry(viewKey, atOrBefore: time, runningTotals: true) { entryTime, value in
            (entryTime, RunningTotals(value) ?? RunningTotals())
        }
            ?? (.min, RunningTotals())
    }

    /// The last series entry (by event time, then LSN) with event time ≤ `time`, read by `body`.
    /// `runningTotals`: the series holds running totals, whose maintenance rewrites every later
    /// entry with each one it writes, so a staged entry answers alone
    /// (``Cursor/last(below:within:rewritesLater:)``).
    private func entry<R>(
        _ viewKey: StateKey, atOrBefore time: Int64, runningTotals: Bool = false,
        _ body: (Int64, UnsafeRawBufferPointer) -> R?
    ) throws -> R? {
        try reposition { cursor in
            try series(viewKey, from: time + 1).with { key, prefix in
                let last = try cursor.last(below: key, within: prefix, rewritesLater: runningTotals)
                guard let last, let time = Self.time(of: last, at: prefix.count) else { return nil }
                return body(time, last.value)
            }
        }
    }

    /// The seek key of the first series entry at or after `time`.
    private func series(_ viewKey: StateKey, from time: Int64) -> SeekKey {
        keys.start(viewKey, tag: ViewStateKey.seriesTag).append(SeekKey.time(time)).append(0)
    }

    private func last(_ viewKey: StateKey, low: Int64, high: Int64) throws -> ExpressionValue? {
        try entry(viewKey, atOrBefore: high) { time, value in time >= low ? StoredValue.decode(value) : nil }
    }

    private func first(_ viewKey: StateKey, low: Int64, high: Int64) throws -> ExpressionValue? {
        try reposition { cursor in
            try series(viewKey, from: low).with { key, prefix in
                guard let entry = try cursor.seek(atLeast: key),
                    ViewStateKey.hasPrefix(entry.key, prefix),
                    ViewStateKey.timeAndLSN(entry.key, prefixCount: prefix.count).time <= high
                else { return nil }
                return StoredValue.decode(entry.value)
            }
        }
    }

    /// The min or max over `[low, at]` from the state's chain: two seeks. Only when `at` is at or
    /// after the entity's newest contribution (the chain's last entry): then the window holds a
    /// suffix of the events, whose extreme is the chain's first entry in it. Nil otherwise (the
    /// caller walks tiles); `.some(nil)` for an empty window.
    private func chainExtreme(_ viewKey: StateKey, low: Int64, at: Int64) throws -> ExpressionValue?? {
        try reposition { cursor in
            let newest: Int64? = try keys.start(viewKey, tag: ViewStateKey.chainTag).pad(0xFF, count: 16).with {
                end, prefix in Self.time(of: try cursor.last(below: end, within: prefix), at: prefix.count)
            }
            guard let newest else { return .some(nil) }
            guard at >= newest else { return nil }
            let start = keys.start(viewKey, tag: ViewStateKey.chainTag).append(SeekKey.time(low)).append(0)
            return try start.with { key, prefix -> ExpressionValue?? in
                guard let first = try cursor.seek(atLeast: key), ViewStateKey.hasPrefix(first.key, prefix) else {
                    return .some(nil)
                }
                return .some(StoredValue.decode(first.value))
            }
        }
    }

    /// The min or max over `[low, high]`: raw entries at the ragged ends (each under the finest
    /// tile's width: 1 s, or 16 s for a state with a chain), then ever coarser tiles, at most 15
    /// per side per level.
    private func extreme(_ state: ViewState, _ viewKey: StateKey, low: Int64, high: Int64, max wantMax: Bool) throws
        -> ExpressionValue?
    {
        var best: ExpressionValue?
        func consider(_ value: ExpressionValue) {
            guard value != .null else { return }
            if let current = best {
                if wantMax ? StoredValue.less(current, value) : StoredValue.less(value, current) { best = value }
            } else {
                best = value
            }
        }
        var low = low
        var high = high
        var level = 0
        while low <= high {
            if level == state.tileWidths.count {
                try scan(viewKey, level: level, low: low, high: high, consider)
                break
            }
            let width = state.tileWidths[level]
            let leftEnd = Swift.min((low + width - 1) / width * width - 1, high)
            if low <= leftEnd { try scan(viewKey, level: level, low: low, high: leftEnd, consider) }
            low = leftEnd + 1
            if low > high { break }
            let rightStart = Swift.max((high + 1) / width * width, low)
            if rightStart <= high { try scan(viewKey, level: level, low: rightStart, high: high, consider) }
            high = rightStart - 1
            level += 1
        }
        return best
    }

    /// Visits the raw values (level 0) or the tiles' extremes (level ≥ 1) starting in `[low, high]`.
    private func scan(
        _ viewKey: StateKey, level: Int, low: Int64, high: Int64, _ consider: (ExpressionValue) -> Void
    ) throws {
        if level == 0 {
            try forEachEntry(viewKey, low: low, high: high) { _, value in consider(StoredValue.decode(value)) }
            return
        }
        let start = keys.start(viewKey, tag: ViewStateKey.tileTag, level: level).append(SeekKey.time(low))
        try reposition { cursor in
            try start.with { key, prefix in
                var entry = try cursor.seek(atLeast: key)
                while let current = entry, ViewStateKey.hasPrefix(current.key, prefix) {
                    let tileStart = Int64(
                        UInt64(bigEndian: current.key.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)))
                    guard tileStart <= high else { break }
                    if let tile = StoredValue.decodeTile(current.value) {
                        consider(tile.min)
                        consider(tile.max)
                    }
                    entry = try cursor.next()
                }
            }
        }
    }

    /// Calls `body(lsn, value)` for each series entry with event time in `[low, high]`, in order.
    /// `body` must not seek (the reader's key buffer is borrowed meanwhile).
    private func forEachEntry(
        _ viewKey: StateKey, low: Int64, high: Int64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try reposition { cursor in
            try series(viewKey, from: low).with { key, prefix in
                var entry = try cursor.seek(atLeast: key)
                while let current = entry, ViewStateKey.hasPrefix(current.key, prefix) {
                    let (time, lsn) = ViewStateKey.timeAndLSN(current.key, prefixCount: prefix.count)
                    guard time <= high else { break }
                    try body(lsn, current.value)
                    entry = try cursor.next()
                }
            }
        }
    }

    /// Distinct members from the latest-occurrence index: exact when `at` is at or after the
    /// entity's newest contribution (then a member is in `(at − W, at]` iff its latest occurrence
    /// is). With count tiles (finite windows), whole tiles count their members and only the ragged
    /// ends count index entries, as ``extreme(_:_:low:high:max:)`` walks levels; without, one
    /// entry per member. Nil when the index cannot answer (an older `at`, or a member too long for
    /// the index).
    private func distinctFromIndex(_ state: ViewState, _ viewKey: StateKey, low: Int64, at: Int64) throws -> Int64? {
        // One seek: the "unusable" marker (`view · 05`) if present, else the index's last entry
        // just before it (`view · 04 · time · LSN · member`), whose time is the entity's newest
        // contribution (that event's member has its latest occurrence there). Outer nil: the
        // index is unusable; inner nil: no contribution.
        let probe: Int64?? = try reposition { cursor in
            // The newest entry up to the marker, the marker included (no other key starts with it).
            try keys.start(viewKey, tag: ViewStateKey.memberIndexUnusableTag).pad(0, count: 1).with { key, marker in
                let view = UnsafeRawBufferPointer(rebasing: marker[..<(marker.count - 1)])
                let last = try cursor.last(below: key, within: view)
                if let last, last.key.count == marker.count, ViewStateKey.hasPrefix(last.key, marker) {
                    return .none
                }
                guard let time = Self.time(of: last, at: marker.count),
                    last?.key[view.count] == ViewStateKey.lastSeenTag
                else { return .some(nil) }
                return .some(time)
            }
        }
        guard let found = probe else { return nil }
        guard let newest = found else { return 0 }
        guard at >= newest else { return nil }
        // The newest contribution is before the window: nothing in it.
        guard newest >= low else { return 0 }
        let widths = state.tileWidths
        var count: Int64 = 0
        var low = low
        var high = at
        var level = 0
        while low <= high {
            if level == widths.count {
                count += try countMembers(viewKey, level: level, low: low, high: high)
                break
            }
            let width = widths[level]
            let leftEnd = Swift.min((low + width - 1) / width * width - 1, high)
            if low <= leftEnd { count += try countMembers(viewKey, level: level, low: low, high: leftEnd) }
            low = leftEnd + 1
            if low > high { break }
            let rightStart = Swift.max((high + 1) / width * width, low)
            // Nothing is newer than `newest`: a part of the window after it needs no seek.
            if rightStart <= high, rightStart <= newest {
                count += try countMembers(viewKey, level: level, low: rightStart, high: high)
            }
            high = rightStart - 1
            level += 1
        }
        return count
    }

    /// Members whose latest occurrence is in `[low, high]`: index entries (level 0) or the counts
    /// of the level's tiles starting there.
    private func countMembers(_ viewKey: StateKey, level: Int, low: Int64, high: Int64) throws -> Int64 {
        let start =
            level == 0
            ? keys.start(viewKey, tag: ViewStateKey.lastSeenTag).append(SeekKey.time(low)).append(0)
            : keys.start(viewKey, tag: ViewStateKey.countTileTag, level: level).append(UInt64(low))
        return try reposition { cursor in
            try start.with { key, prefix in
                var count: Int64 = 0
                var entry = try cursor.seek(atLeast: key)
                while let current = entry, ViewStateKey.hasPrefix(current.key, prefix) {
                    let time = Int64(
                        UInt64(bigEndian: current.key.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)))
                    guard time <= high else { break }
                    count += level == 0 ? 1 : Int64(BigEndian.uint64(current.value) ?? 0)
                    entry = try cursor.next()
                }
                return count
            }
        }
    }

    private func members(_ viewKey: StateKey, low: Int64, high: Int64, lsnLimit: UInt64?) throws -> Int {
        var seen = Set<[UInt8]>()
        try forEachEntry(viewKey, low: low, high: high) { lsn, value in
            if let lsnLimit, lsn > lsnLimit { return }
            seen.insert(Array(value))
        }
        return seen.count
    }

    // MARK: recomputation at an older LSN

    private func recompute(
        _ view: CompiledView, _ state: ViewState, _ viewKey: StateKey, low: Int64, high: Int64, lsnLimit: UInt64
    ) throws -> FeatureValue {
        switch state.kind {
        case .count, .totals, .squares:
            // Each entry's contribution is its totals minus the previous entry's (any LSN).
            var previous = try totals(viewKey, atOrBefore: low - 1)
            var sum = RunningTotals()
            try forEachEntry(viewKey, low: low, high: high) { lsn, value in
                guard let current = RunningTotals(value) else { return }
                if lsn <= lsnLimit { sum = sum.adding(current.subtracting(previous)) ?? sum }
                previous = current
            }
            return finish(view, sum)
        case .values, .extremes:
            var chosen: ExpressionValue?
            var low = low
            if state.kind == .extremes, low == 0, let floorTime, floorTime > 0 {
                // Retention reclaimed the raw values of a lifetime min/max below the floor; every
                // event before the floor's whole second has an LSN at or below the floor's,
                // hence the token's, so the tiles answer that part exactly.
                let split = floorTime - floorTime % 1000
                chosen = try extreme(
                    state, viewKey, low: 0, high: Swift.min(split - 1, high), max: view.aggregate == .max)
                low = split
            }
            try forEachEntry(viewKey, low: low, high: high) { lsn, raw in
                guard lsn <= lsnLimit else { return }
                let value = StoredValue.decode(raw)
                switch view.aggregate {
                case .first: if chosen == nil { chosen = value }
                case .last: chosen = value
                case .max: if chosen.map({ StoredValue.less($0, value) }) ?? true { chosen = value }
                default: if chosen.map({ StoredValue.less(value, $0) }) ?? true { chosen = value }
                }
            }
            return finish(view, chosen)
        case .members:
            return .int(Int64(try members(viewKey, low: low, high: high, lsnLimit: lsnLimit)))
        }
    }

    // MARK: values

    private func finish(_ view: CompiledView, _ totals: RunningTotals) -> FeatureValue {
        switch view.aggregate {
        case .count:
            return .int(totals.count)
        case .sum:
            return view.number(micros: totals.sum)
        case .avg:
            guard totals.count > 0 else { return .null }
            return .decimal(
                ExactDecimal(micros: ExpressionEvaluator.roundHalfEven(totals.sum, dividedBy: Int128(totals.count))))
        case .stddev:
            guard totals.count > 0 else { return .null }
            return .decimal(ExactDecimal(micros: PopulationDeviation.micros(totals)))
        default:
            return .null
        }
    }

    private func finish(_ view: CompiledView, _ value: ExpressionValue?) -> FeatureValue {
        guard let value else { return .null }
        switch value {
        case .null: return .null
        case .number(let micros): return view.number(micros: micros)
        case .string(let text): return .string(text)
        case .timestamp(let ms): return .timestamp(ms)
        case .bool(let flag): return .bool(flag)
        }
    }
}

extension CompiledView {
    /// A number as this view serves it: int for views over int fields, else an exact decimal; a
    /// sum of ints past the 64-bit range is the exact decimal with no fractional digits (its JSON
    /// is the same integer, with every digit), never a clamped int.
    func number(micros: Int128) -> FeatureValue {
        if numbersAreInts, micros % 1_000_000 == 0, let whole = Int64(exactly: micros / 1_000_000) {
            return .int(whole)
        }
        return .decimal(ExactDecimal(micros: micros))
    }
}
