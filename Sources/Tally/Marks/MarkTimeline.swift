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
/// per key (the newest change's LSN and the latest end of any true interval) answers "holds no
/// more" at once for reads at or after that end, the usual read at "now" of a flag that expired.
enum MarkTimeline {
    /// The summary's key: kind + 2 (3: list, 4: flag) · name · member; value: the newest change's
    /// LSN (8) and the latest `until` of its true intervals (8), big-endian.
    static func summaryKey(_ kind: MarkKind, _ name: String, _ member: [UInt8]) -> [UInt8] {
        var key = MarkKey.prefix(kind, name)
        key[0] = kind.rawValue + 2
        return key + member
    }

    struct Summary {
        var lsn: UInt64
        var latestEnd: Int64

        var bytes: [UInt8] {
            var out = BigEndian.bytes(lsn)
            BigEndian.append(latestEnd, to: &out)
            return out
        }

        init(lsn: UInt64, latestEnd: Int64) {
            self.lsn = lsn
            self.latestEnd = latestEnd
        }

        init?(_ raw: UnsafeRawBufferPointer) {
            guard raw.count == 16, let lsn = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: raw[0..<8])),
                let end = BigEndian.int64(UnsafeRawBufferPointer(rebasing: raw[8..<16]))
            else { return nil }
            self.lsn = lsn
            latestEnd = end
        }
    }

    static func summary(_ key: [UInt8], in txn: some TransactionReading, marks: Database) throws -> Summary? {
        try key.withUnsafeBytes { try txn.get(marks, $0).flatMap(Summary.init) }
    }

    /// The key's state at `(lsn, at)`: whether it holds, and the change that decides it (the one
    /// covering `at`, else the newest at or before `lsn`, for display).
    static func read(
        _ kind: MarkKind, _ name: String, _ member: [UInt8], lsn: UInt64, at: Int64, in txn: some TransactionReading,
        marks: Database
    ) throws -> (holds: Bool, state: MarkState) {
        let memberKey = MarkKey.member(kind, name, member)
        guard lsn > 0 else { return (false, .never) }
        if let summary = try summary(summaryKey(kind, name, member), in: txn, marks: marks), summary.lsn <= lsn,
            at >= summary.latestEnd
        {
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

    /// Stores a change painted at `lsn` and keeps the summary.
    static func write(
        _ change: MarkEntry, _ kind: MarkKind, _ name: String, _ member: [UInt8], lsn: UInt64, in txn: WriteTransaction,
        marks: Database
    ) throws {
        let summaryKey = summaryKey(kind, name, member)
        var summary = try summary(summaryKey, in: txn, marks: marks) ?? Summary(lsn: lsn, latestEnd: Int64.min)
        summary.lsn = lsn
        if change.added { summary.latestEnd = max(summary.latestEnd, change.until) }
        try txn.put(marks, MarkKey.entry(MarkKey.member(kind, name, member), lsn: lsn), change.bytes)
        try txn.put(marks, summaryKey, summary.bytes)
    }
}
