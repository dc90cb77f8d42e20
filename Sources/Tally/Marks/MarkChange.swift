import TallyLMDB

/// One requested change of a list membership or a flag, as the journal records it and as its
/// write applies it (docs/LISTS.md, "Model"): an add (set) paints `[from, until)` true, a remove
/// (clear) paints `[at, ∞)` false; ``MarkTimeline`` reads them. A time left out is the wall clock
/// at the request; a flag's `until` left out is `from` plus the flag's `for`. A change that would
/// change nothing (the same add again, a remove when nothing holds at or after its time) is not
/// logged and takes no LSN.
struct MarkChange: Equatable {
    var kind: MarkKind
    var name: String
    /// The member in ``ViewStateKey/entity(_:)`` form.
    var member: [UInt8]
    var add: Bool
    /// An add's start; nil: the wall clock.
    var from: Int64?
    /// An add's end, or when a remove takes effect; nil: open-ended (add) or the wall clock (remove).
    var until: Int64?
    /// A flag's `for` (ms): the default length of an add without `until`.
    var duration: Int64?
    /// The wall clock at the request, epoch ms.
    var wallClock: Int64

    /// Encoded for the journal: kind (1), name length (1), name, member, add (1), then `from`,
    /// `until`, `duration` (8 each, big-endian, Int64.min for none) and the wall clock (8).
    var bytes: [UInt8] {
        var out = MarkKey.member(kind, name, member)
        out.append(add ? 1 : 0)
        for value in [from, until, duration] { BigEndian.append(value ?? Int64.min, to: &out) }
        BigEndian.append(wallClock, to: &out)
        return out
    }

    init(
        kind: MarkKind, name: String, member: [UInt8], add: Bool, from: Int64?, until: Int64?, duration: Int64?,
        wallClock: Int64
    ) {
        self.kind = kind
        self.name = name
        self.member = member
        self.add = add
        self.from = from
        self.until = until
        self.duration = duration
        self.wallClock = wallClock
    }

    init?(_ bytes: [UInt8]) {
        let parsed: MarkChange? = bytes.withUnsafeBytes { raw in
            guard raw.count >= 2, let kind = MarkKind(rawValue: raw[0]) else { return nil }
            let nameEnd = 2 + Int(raw[1])
            guard raw.count > nameEnd,
                let memberLength = MarkKey.memberLength(UnsafeRawBufferPointer(rebasing: raw[nameEnd...])),
                raw.count == nameEnd + memberLength + 33
            else { return nil }
            let rest = nameEnd + memberLength
            func int64(_ offset: Int) -> Int64 {
                Int64(bigEndian: raw.loadUnaligned(fromByteOffset: rest + offset, as: Int64.self))
            }
            func optional(_ offset: Int) -> Int64? { int64(offset) == Int64.min ? nil : int64(offset) }
            return MarkChange(
                kind: kind, name: String(decoding: UnsafeRawBufferPointer(rebasing: raw[2..<nameEnd]), as: UTF8.self),
                member: Array(raw[nameEnd..<rest]), add: raw[rest] == 1, from: optional(1), until: optional(9),
                duration: optional(17), wallClock: int64(25))
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Applies the change in `txn`: logs it at the next LSN and stores the member's new entry,
    /// unless it changes nothing. Returns the LSN (nil when unchanged) and the resulting state.
    /// An empty interval is refused before anything is written.
    func apply(in txn: WriteTransaction, databases: Tally.Databases) throws -> (lsn: UInt64?, state: MarkState) {
        let memberKey = MarkKey.member(kind, name, member)
        let meta = databases.meta
        let head = try MetaKey.headLSN.withUnsafeBytes { try txn.get(meta, $0).flatMap(BigEndian.uint64) } ?? 0
        let newest = try Self.newest(memberKey, atOrBefore: head, in: txn, marks: databases.marks)
        let unchanged = (nil as UInt64?, newest.map { $0.entry.state(lsn: $0.lsn) } ?? .never)
        let paint: MarkEntry
        if add {
            let start = from ?? wallClock
            let end = until ?? duration.map { min(start + $0, Timestamp.maximum) } ?? Int64.max
            guard start < end else {
                throw TallyError(.invalidArgument, "until (\(end)) must be after from (\(start))")
            }
            paint = MarkEntry(added: true, from: start, until: end)
            if newest?.entry == paint { return unchanged }
        } else {
            let at = until ?? wallClock
            // Nothing holds at or after `at` (never added there, expired, or already ended): no change.
            guard try MarkTimeline.holdsAnywhere(from: at, memberKey, in: txn, marks: databases.marks) else {
                return unchanged
            }
            paint = MarkEntry(added: false, from: at, until: Int64.max)
        }
        let lsn = head + 1
        var record: [UInt8] = [LogRecord.markKind]
        record.append(contentsOf: memberKey)
        record.append(contentsOf: paint.bytes)
        try txn.put(databases.log, BigEndian.bytes(lsn), record, flags: .append)
        try txn.put(meta, MetaKey.headLSN, BigEndian.bytes(lsn))
        try MarkTimeline.write(paint, kind, name, member, lsn: lsn, in: txn, marks: databases.marks)
        return (lsn, paint.state(lsn: lsn))
    }

    /// The newest entry of `memberKey` logged at or before `lsn`, and its LSN.
    static func newest(
        _ memberKey: [UInt8], atOrBefore lsn: UInt64, in txn: some TransactionReading, marks: Database
    ) throws -> (lsn: UInt64, entry: MarkEntry)? {
        guard lsn > 0 else { return nil }
        return try txn.withReadingCursor(marks) { cursor in
            let after = MarkKey.entry(memberKey, lsn: lsn &+ 1)
            let landed = try after.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            guard let found = try (landed == nil ? cursor.last() : cursor.previous()),
                found.key.count == memberKey.count + 8,
                found.key.starts(with: memberKey),
                let entryLSN = BigEndian.uint64(UnsafeRawBufferPointer(rebasing: found.key[memberKey.count...])),
                let entry = MarkEntry(found.value)
            else { return nil }
            return (entryLSN, entry)
        }
    }
}
