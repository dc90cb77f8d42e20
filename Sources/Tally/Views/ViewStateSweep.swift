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
/// min/max and count_distinct states are not reclaimed (their reads need more than one entry
/// below the cut).
enum ViewStateSweep {
    /// How one state's series is reclaimed.
    struct Reclaim {
        /// Entries with an event time below this may go (all but the newest).
        let cut: Int64
        /// Keep the series' oldest entry too (`first`).
        let keepFirst: Bool
    }

    struct Progress: Equatable {
        /// The next key to visit; nil when the pass reached the end.
        var next: [UInt8]?
        var visited = 0
        var reclaimed = 0
    }

    /// What each state code may lose at `floor`, over every definitions version (a removed view
    /// still answers old tokens).
    static func reclaims(_ definitions: DefinitionsState.Current, floor: RetentionFloor) -> [UInt16: Reclaim] {
        var widest: [UInt16: Int64] = [:]
        var keepFirst: Set<UInt16> = []
        var skipped: Set<UInt16> = []
        let catalogs = definitions.versions.values.map(\.views) + (definitions.maintenance.map { [$0] } ?? [])
        for catalog in catalogs {
            for view in catalog.views {
                let state = catalog.states[view.state]
                switch state.kind {
                case .count, .totals, .squares, .values: break
                case .extremes, .members: skipped.insert(state.code)
                }
                if view.aggregate == .first { keepFirst.insert(state.code) }
                let finite = view.definition.windows.compactMap(\.milliseconds).max() ?? 0
                widest[state.code] = max(widest[state.code] ?? 0, finite)
            }
        }
        var reclaims: [UInt16: Reclaim] = [:]
        for (code, width) in widest where !skipped.contains(code) {
            let (cut, overflow) = floor.time.subtractingReportingOverflow(width)
            guard !overflow, floor.time != .min else { continue }
            reclaims[code] = Reclaim(cut: cut, keepFirst: keepFirst.contains(code))
        }
        return reclaims
    }

    /// Visits up to `limit` keys from `start` (nil: the first key).
    static func step(
        from start: [UInt8]?, limit: Int, reclaims: [UInt16: Reclaim], in txn: WriteTransaction, views: Database
    ) throws -> Progress {
        var progress = Progress()
        var doomed: [[UInt8]] = []
        try txn.withCursor(views) { cursor in
            var entry: Entry?
            // Whether the entry before the current one belongs to the same series (so the current
            // one is not the series' oldest).
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
                    entry = try skip(past: parsed.view, &cursor)
                    continue
                }
                guard parsed.tag == ViewStateKey.seriesTag, key.count == parsed.view.count + 17 else {
                    previousSeries = nil
                    entry = try cursor.next()
                    continue
                }
                let series = Array(key[0..<(parsed.view.count + 1)])
                let time = ViewStateKey.timeAndLSN(current.key, prefixCount: series.count).time
                guard time < reclaim.cut else {
                    // The rest of this series is at or above the cut.
                    previousSeries = nil
                    entry = try (series + [0xFF]).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    continue
                }
                let oldest = previousSeries != series
                previousSeries = series
                let next = try cursor.next()
                // Delete unless it is the newest entry below the cut (the checkpoint) or a kept oldest.
                if let next, ViewStateKey.hasPrefix(next.key, series), next.key.count == key.count,
                    ViewStateKey.timeAndLSN(next.key, prefixCount: series.count).time < reclaim.cut,
                    !(oldest && reclaim.keepFirst)
                {
                    doomed.append(key)
                }
                entry = next
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
        return Array(key[0..<(parsed.view.count + 1)])
    }

    /// Moves to the first key after every key of `view` (entity · code).
    private static func skip(past view: [UInt8], _ cursor: inout Cursor) throws -> Entry? {
        try (view + [0xFF]).withUnsafeBytes { try cursor.seek(atLeast: $0) }
    }
}

extension ViewStateKey {
    /// The parts of a view-state key: `view` is entity · code; `tag` the byte after it. Nil for an
    /// entity head (code 0) or a key that does not parse.
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
        guard code != 0 else { return nil }
        return (Array(key[0..<(entityCount + 2)]), code, key[entityCount + 2])
    }
}
