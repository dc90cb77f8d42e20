import TallyLMDB

/// Reclaims view-state entries no answerable read can need (docs/RETENTION.md), a bounded number
/// of keys per write transaction, walking the `views` database in key order.
///
/// A read answers only `at ≥ floor.time`, so a window `(at − W, at]` of a state never reaches
/// below `cut = floor.time − W_max` (the state's widest window; 0 for lifetime only). Entries of
/// running totals (count, sum, avg, stddev) and of first/last below the cut are deleted except the
/// newest one, which becomes the checkpoint: it carries the running totals (or the last value)
/// of everything before it, and every event folded into it has an LSN ≤ the floor's LSN, so reads
/// at any answerable token still subtract it exactly. `first` also keeps a series' oldest entry.
/// min/max lose raw values, tiles and chain entries no read at or after the floor uses; count_distinct over
/// finite windows loses events, members and index entries below the cut (a lifetime distinct
/// count keeps everything).
enum ViewStateSweep {
    /// How one state is reclaimed.
    struct Reclaim {
        enum Kind {
            /// Running totals and first/last: keep the newest entry below the cut (and the
            /// oldest, for `first`).
            case series(keepFirst: Bool)
            /// min/max: raw values and tiles no read at or after the floor can use.
            case extremes(tileWidths: [Int64], lifetime: Bool)
            /// count_distinct over finite windows only: events, members, their index and count
            /// tiles below the cut.
            case members(tileWidths: [Int64])
        }
        /// Entries with an event time below this may go (per kind, above).
        let cut: Int64
        let kind: Kind
    }

    struct Progress: Equatable {
        /// The next key to visit; nil when the pass reached the end.
        var next: [UInt8]?
        var visited = 0
        var reclaimed = 0
    }

    /// Where the sweep stands, in `meta`: a pass in progress (the next key), and the floor time
    /// the last complete pass reclaimed up to.
    struct Schedule {
        let position: [UInt8]?
        let sweptThrough: Int64

        static func read(_ txn: some TransactionReading, meta: Database) throws -> Schedule {
            Schedule(
                position: try txn.value(meta, MetaKey.sweepPosition),
                sweptThrough: try txn.int64(meta, MetaKey.sweptThrough) ?? .min)
        }

        /// Whether to visit keys now: a pass is running, or the floor moved `every` ms of event
        /// time since the last complete one.
        func isDue(floor: RetentionFloor, every: Int64) -> Bool {
            guard floor.time != .min else { return false }
            if position != nil { return true }
            return floor.time > sweptThrough && (sweptThrough == .min || floor.time - sweptThrough >= every)
        }
    }

    /// What each state code may lose at `floor`, over every definitions version (a removed view
    /// still answers old tokens).
    static func reclaims(_ definitions: DefinitionsState.Current, floor: RetentionFloor) -> [UInt16: Reclaim] {
        guard floor.time != .min else { return [:] }
        var keepFirst: Set<UInt16> = []
        var states: [UInt16: ViewState] = [:]
        let catalogs = definitions.versions.values.map(\.views) + (definitions.maintenance.map { [$0] } ?? [])
        for catalog in catalogs {
            for view in catalog.views {
                let state = catalog.states[view.state]
                states[state.code] = state
                if view.aggregate == .first { keepFirst.insert(state.code) }
            }
        }
        let (widest, lifetime) = windowSpans(catalogs)
        var reclaims: [UInt16: Reclaim] = [:]
        for (code, state) in states {
            let (cut, overflow) = floor.time.subtractingReportingOverflow(widest[code] ?? 0)
            guard !overflow else { continue }
            switch state.kind {
            case .count, .totals, .squares, .values:
                reclaims[code] = Reclaim(cut: cut, kind: .series(keepFirst: keepFirst.contains(code)))
            case .extremes:
                // Whole seconds, so a lifetime read splits at a tile boundary (ViewReader).
                let aligned = cut - ((cut % 1000) + 1000) % 1000
                reclaims[code] = Reclaim(
                    cut: aligned, kind: .extremes(tileWidths: state.tileWidths, lifetime: lifetime.contains(code)))
            case .members:
                // A lifetime distinct count needs every member ever seen: not reclaimed.
                if !lifetime.contains(code) {
                    reclaims[code] = Reclaim(cut: cut, kind: .members(tileWidths: state.tileWidths))
                }
            }
        }
        return reclaims
    }

    /// For each state code over `catalogs`: the widest finite window any view gives it (0 when
    /// only `lifetime` reads it), and whether a `lifetime` window reads it. What the sweep may
    /// reclaim below, and what a definitions change may not widen past once it has.
    static func windowSpans(_ catalogs: [ViewCatalog]) -> (widest: [UInt16: Int64], lifetime: Set<UInt16>) {
        var widest: [UInt16: Int64] = [:]
        var lifetime: Set<UInt16> = []
        for catalog in catalogs {
            for view in catalog.views {
                let code = catalog.states[view.state].code
                if view.definition.windows.contains(where: { $0.milliseconds == nil }) { lifetime.insert(code) }
                widest[code] = max(widest[code] ?? 0, view.definition.windows.compactMap(\.milliseconds).max() ?? 0)
            }
        }
        return (widest, lifetime)
    }

    /// Visits up to `limit` keys from `start` (nil: the first key).
    static func step(
        from start: [UInt8]?, limit: Int, reclaims: [UInt16: Reclaim], in txn: WriteTransaction, views: Database
    ) throws -> Progress {
        var progress = Progress()
        var doomed: [[UInt8]] = []
        try txn.withCursor(views) { cursor in
            var entry: Entry?
            // The series of the entry before the current one (so the current one is not the
            // series' oldest when they match).
            var previousSeries: [UInt8]?
            if let start {
                entry = try start.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                if let current = entry {
                    let key = Array(current.key)
                    if let before = try cursor.previous() { previousSeries = seriesPrefix(Array(before.key)) }
                    entry = try key.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                }
            } else {
                entry = try cursor.first()
            }
            func seek(_ key: [UInt8]) throws -> Entry? { try key.withUnsafeBytes { try cursor.seek(atLeast: $0) } }
            while let current = entry, progress.visited < limit {
                progress.visited += 1
                let key = Array(current.key)
                guard let parsed = ViewStateKey.parse(key) else {
                    previousSeries = nil
                    entry = try cursor.next()
                    continue
                }
                guard let reclaim = reclaims[parsed.code] else {
                    previousSeries = nil
                    entry = try seek(parsed.view + [0xFF])
                    continue
                }
                let view = parsed.view
                switch (reclaim.kind, parsed.tag) {
                case (.series(let keepFirst), ViewStateKey.seriesTag) where key.count == view.count + 17:
                    let series = view + [ViewStateKey.seriesTag]
                    let time = ViewStateKey.timeAndLSN(current.key, prefixCount: series.count).time
                    guard time < reclaim.cut else {
                        previousSeries = nil
                        entry = try seek(view + [0xFF])  // the rest of this state is at or above the cut
                        continue
                    }
                    let oldest = previousSeries != series
                    previousSeries = series
                    let next = try cursor.next()
                    // Delete unless it is the newest entry below the cut (the checkpoint) or a kept oldest.
                    if let next, ViewStateKey.hasPrefix(next.key, series), next.key.count == key.count,
                        ViewStateKey.timeAndLSN(next.key, prefixCount: series.count).time < reclaim.cut,
                        !(oldest && keepFirst)
                    {
                        doomed.append(key)
                    }
                    entry = next
                    continue
                case (.extremes, ViewStateKey.seriesTag) where key.count == view.count + 17:
                    // Raw values: a read at or after the floor scans them only inside its window,
                    // whose start is at or above the cut (a lifetime read: above the aligned cut).
                    let time = ViewStateKey.timeAndLSN(current.key, prefixCount: view.count + 1).time
                    guard time < reclaim.cut - 1000 else {
                        entry = try seek(view + [ViewStateKey.tileTag])
                        continue
                    }
                    doomed.append(key)
                case (.extremes(let widths, let lifetime), ViewStateKey.tileTag) where key.count == view.count + 10:
                    let level = Int(key[view.count + 1])
                    let tileStart = Int64(
                        bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: current.key[(view.count + 2)...]))
                            ?? 0)
                    guard level >= 1, level <= widths.count else { break }
                    // A lifetime read [0, x], x ≥ the cut, uses level-L tiles only within the next
                    // level's width of x, and the top level's everywhere.
                    let gone: Bool
                    if level < widths.count {
                        gone = tileStart < reclaim.cut - widths[level]
                    } else {
                        gone = !lifetime && tileStart + widths[level - 1] <= reclaim.cut
                    }
                    guard gone else {
                        entry = try seek(view + [ViewStateKey.tileTag, UInt8(level + 1)])
                        continue
                    }
                    doomed.append(key)
                case (.extremes, ViewStateKey.chainTag) where key.count == view.count + 17:
                    // Chain entries: a read uses the first one at or after its window's start,
                    // which is above the cut.
                    let time = ViewStateKey.timeAndLSN(current.key, prefixCount: view.count + 1).time
                    guard time < reclaim.cut else {
                        entry = try seek(view + [ViewStateKey.chainTag + 1])
                        continue
                    }
                    doomed.append(key)
                case (.members, ViewStateKey.seriesTag) where key.count == view.count + 17:
                    let time = ViewStateKey.timeAndLSN(current.key, prefixCount: view.count + 1).time
                    guard time < reclaim.cut else {
                        entry = try seek(view + [ViewStateKey.memberTag])
                        continue
                    }
                    doomed.append(key)
                case (.members, ViewStateKey.memberTag):
                    // The member's latest occurrence; below the cut, no window reaches it.
                    if current.value.count == 16,
                        Int64(bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: current.value[0..<8])) ?? 0)
                            < reclaim.cut
                    {
                        doomed.append(key)
                    }
                case (.members, ViewStateKey.lastSeenTag) where key.count >= view.count + 17:
                    let time = ViewStateKey.timeAndLSN(current.key, prefixCount: view.count + 1).time
                    guard time < reclaim.cut else {
                        entry = try seek(view + [ViewStateKey.memberIndexUnusableTag])
                        continue
                    }
                    doomed.append(key)
                case (.members(let widths), ViewStateKey.countTileTag) where key.count == view.count + 10:
                    // A tile wholly below the cut: reads (whose windows start above it) never
                    // use it, and its members' index entries went with it.
                    let level = Int(key[view.count + 1])
                    let tileStart = Int64(
                        bitPattern: BigEndian.uint64(UnsafeRawBufferPointer(rebasing: current.key[(view.count + 2)...]))
                            ?? 0)
                    guard level >= 1, level <= widths.count else { break }
                    guard tileStart + widths[level - 1] <= reclaim.cut else {
                        entry = try seek(view + [ViewStateKey.countTileTag, UInt8(level + 1)])
                        continue
                    }
                    doomed.append(key)
                default:
                    break
                }
                previousSeries = nil
                entry = try cursor.next()
            }
            progress.next = entry.map { Array($0.key) }
        }
        for key in doomed { _ = try txn.delete(views, key) }
        progress.reclaimed = doomed.count
        return progress
    }

    /// The series prefix (`view · 0x01`) of a series key, nil for any other key.
    private static func seriesPrefix(_ key: [UInt8]) -> [UInt8]? {
        guard let parsed = ViewStateKey.parse(key), parsed.tag == ViewStateKey.seriesTag else { return nil }
        return parsed.view + [ViewStateKey.seriesTag]
    }
}

extension ViewStateKey {
    /// The parts of a view-state key: `view` is entity · code; `tag` the byte after it. Nil for an
    /// entity head (code 0 or 0xFFFF, which no state gets) or a key that does not parse.
    static func parse(_ key: [UInt8]) -> (view: [UInt8], code: UInt16, tag: UInt8)? {
        guard let tag = key.first else { return nil }
        let entityCount: Int
        switch tag {
        case 1:
            guard key.count >= 3 else { return nil }
            entityCount = 3 + (Int(key[1]) << 8 | Int(key[2]))
        case 2:
            entityCount = 9
        default:
            return nil
        }
        guard key.count > entityCount + 2 else { return nil }
        let code = UInt16(key[entityCount]) << 8 | UInt16(key[entityCount + 1])
        guard code != ViewStateKey.headBeforeStates, code != ViewStateKey.headAfterStates else { return nil }
        return (Array(key[0..<(entityCount + 2)]), code, key[entityCount + 2])
    }
}
