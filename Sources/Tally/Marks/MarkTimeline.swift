import TallyLMDB

/// How one key's list membership or flag is read at `(lsn, at)` (docs/LISTS.md, "Model").
///
/// Every change **paints** an interval of event time: an add or a set paints `[from, until)` true,
/// a remove or a clear paints `[at, ∞)` false, a rule paints `[ts, ts + for)` true. The key holds at
/// `(lsn, at)` when the newest change at or before `lsn` whose interval contains `at` painted it
/// true; no such change means it does not hold. A change never rewrites event times it does not
/// cover, so a read at any event time gives, at every later LSN, what it gave when it was painted —
/// until a change that covers that time says otherwise.
///
/// Reading scans the key's changes backwards from `lsn` to the first that covers `at`; a summary
/// per key (the latest end of any true interval it ever painted) answers "holds no more" at once
/// for reads at or after that end, the usual read at "now" of a flag that expired. The summary only
/// grows, so it bounds every LSN's answer, also older ones.
enum MarkTimeline {
    /// The summary's key: the member's key with LSN 2⁶⁴ − 1 (no change has it), so it sorts right
    /// after the member's changes, on their page; value: the latest `until` of its true
    /// intervals (8 bytes, big-endian).
    static func summaryKey(_ memberKey: [UInt8]) -> [UInt8] { MarkKey.entry(memberKey, lsn: UInt64.max) }

    static func latestEnd(_ memberKey: [UInt8], in txn: some TransactionReading, marks: Database) throws -> Int64? {
        try summaryKey(memberKey).withUnsafeBytes { try txn.get(marks, $0).flatMap(BigEndian.int64) }
    }

    /// Whether the key holds at `(lsn, at)`, without the deciding change: one lookup for a key
    /// never painted true (it has no summary: a removal needs something to end) or read at or
    /// after its latest end, the common case of a vector read.
    static func holds(
        _ kind: MarkKind, _ name: String, _ member: [UInt8], lsn: UInt64, at: Int64, in txn: some TransactionReading,
        marks: Database
    ) throws -> Bool {
        guard let end = try latestEnd(MarkKey.member(kind, name, member), in: txn, marks: marks), at < end else {
            return false
        }
        return try read(kind, name, member, lsn: lsn, at: at, in: txn, marks: marks).holds
    }

    /// The key's state at `(lsn, at)`: whether it holds, and the change that decides it (the one
    /// covering `at`, else the newest at or before `lsn`, for display).
    static func read(
        _ kind: MarkKind, _ name: String, _ member: [UInt8], lsn: UInt64, at: Int64, in txn: some TransactionReading,
        marks: Database
    ) throws -> (holds: Bool, state: MarkState) {
        let memberKey = MarkKey.member(kind, name, member)
        guard lsn > 0 else { return (false, .never) }
        if let end = try latestEnd(memberKey, in: txn, marks: marks), at >= end {
            let newest = try MarkChange.newest(memberKey, atOrBefore: lsn, in: txn, marks: marks)
            return (false, newest.map { $0.entry.state(lsn: $0.lsn) } ?? .never)
        }
        return try txn.withReadingCursor(marks) { cursor in
            let after = MarkKey.entry(memberKey, lsn: lsn &+ 1)
            let landed = try after.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            var entry = try landed == nil ? cursor.last() : cursor.previous()
            var newest: MarkState?
            while let found = entry, found.key.count == memberKey.count + 8, found.key.starts(with: memberKey),
                let entryLSN = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: found.key[memberKey.count...])),
                let change = MarkEntry(found.value)
            {
                let state = change.state(lsn: entryLSN)
                if newest == nil { newest = state }
                if change.from <= at && at < change.until { return (change.added, state) }
                entry = try cursor.previous()
            }
            return (false, newest ?? .never)
        }
    }

    /// Whether the key, as of its newest change, holds at some event time at or after `at`: a
    /// removal at `at` changes a read only then. Walks the changes newest first, keeping the part
    /// of `[at, ∞)` newer changes already decide; a true paint over a part still open holds.
    static func holdsAnywhere(
        from at: Int64, _ memberKey: [UInt8], in txn: some TransactionReading, marks: Database
    ) throws -> Bool {
        guard let end = try latestEnd(memberKey, in: txn, marks: marks), at < end else { return false }
        return try txn.withReadingCursor(marks) { cursor in
            // Decided parts of [at, ∞), as sorted disjoint [lower, upper) intervals.
            var decided: [(lower: Int64, upper: Int64)] = []
            var entry = try summaryKey(memberKey).withUnsafeBytes { try cursor.seek(atLeast: $0) }
            entry = try entry == nil ? cursor.last() : cursor.previous()
            while let found = entry, found.key.count == memberKey.count + 8, found.key.starts(with: memberKey),
                let change = MarkEntry(found.value)
            {
                let lower = max(change.from, at)
                if lower < change.until {
                    if change.added, !covers(decided, lower, change.until) { return true }
                    decided = merged(decided, lower, change.until)
                    if decided.count == 1, decided[0].lower <= at, decided[0].upper == Int64.max { return false }
                }
                entry = try cursor.previous()
            }
            return false
        }
    }

    /// Whether the sorted disjoint `intervals` cover all of `[lower, upper)`.
    private static func covers(_ intervals: [(lower: Int64, upper: Int64)], _ lower: Int64, _ upper: Int64) -> Bool {
        var reached = lower
        for interval in intervals where interval.upper > reached {
            guard interval.lower <= reached else { return false }
            reached = interval.upper
            if reached >= upper { return true }
        }
        return reached >= upper
    }

    /// `intervals` with `[lower, upper)` added, still sorted and disjoint.
    private static func merged(_ intervals: [(lower: Int64, upper: Int64)], _ lower: Int64, _ upper: Int64)
        -> [(lower: Int64, upper: Int64)]
    {
        var result: [(lower: Int64, upper: Int64)] = []
        var current = (lower: lower, upper: upper)
        for interval in intervals {
            if interval.upper < current.lower {
                result.append(interval)
            } else if current.upper < interval.lower {
                result.append(current)
                current = interval
            } else {
                current = (min(current.lower, interval.lower), max(current.upper, interval.upper))
            }
        }
        result.append(current)
        return result
    }

    /// Stores a change painted at `lsn` and keeps the summary (written only when it grows).
    static func write(
        _ change: MarkEntry, _ kind: MarkKind, _ name: String, _ member: [UInt8], lsn: UInt64, in txn: WriteTransaction,
        marks: Database
    ) throws {
        let memberKey = MarkKey.member(kind, name, member)
        try txn.put(marks, MarkKey.entry(memberKey, lsn: lsn), change.bytes)
        let end = try latestEnd(memberKey, in: txn, marks: marks)
        if change.added, end.map({ change.until > $0 }) ?? true {
            try txn.put(marks, summaryKey(memberKey), BigEndian.bytes(change.until))
        }
    }
}
