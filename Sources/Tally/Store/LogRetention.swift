import TallyLMDB

/// Drops the oldest part of the log and its idempotency entries once it is older than the
/// retention period behind the watermark (SPEC §2, docs/RETENTION.md), a bounded batch per write
/// transaction.
///
/// The log is dropped as a prefix, in LSN order, while the watermark as of each record (the
/// newest event time up to and including it) is at most `watermark − retention`: everything
/// dropped is at least the retention period old, and the floor's time (that watermark minus the
/// largest lateness) bounds every event not yet accepted.
enum LogRetention {
    struct Progress: Equatable {
        var dropped = 0
        var floor: RetentionFloor
    }

    /// Drops up to `limit` records; returns how many and the floor after them.
    static func step(
        _ definitions: DefinitionsState.Current, limit: Int, idHash: ([UInt8]) -> UInt64,
        idIndexShape: IdIndexShape, in txn: WriteTransaction, _ databases: Tally.Databases
    ) throws -> Progress {
        let floor = try RetentionFloor.read(txn, meta: databases.meta)
        guard let horizon = try horizon(definitions, txn, meta: databases.meta) else { return Progress(floor: floor) }
        // Copy the batch out of the log before deleting (LMDB.md rule 6).
        var batch: [(lsn: UInt64, record: [UInt8])] = []
        var running = floor.watermark
        try txn.withCursor(databases.log) { cursor in
            var entry = try BigEndian.bytes(floor.lsn.rawValue + 1).withUnsafeBytes { try cursor.seek(atLeast: $0) }
            while let current = entry, batch.count < limit, let lsn = BigEndian.uint64(current.key),
                let after = watermark(afterDropping: current.value, behind: running, horizon: horizon)
            {
                running = after
                batch.append((lsn, Array(current.value)))
                entry = try cursor.next()
            }
        }
        guard let last = batch.last else { return Progress(floor: floor) }
        var index = try IdIndex(txn: txn, database: databases.ids, meta: databases.meta, shape: idIndexShape)
        for (lsn, record) in batch {
            _ = try txn.delete(databases.log, BigEndian.bytes(lsn))
            try forgetId(of: record, lsn: lsn, definitions, idHash: idHash, index: &index, in: txn, databases)
        }
        try index.settle()
        let lateness = definitions.largestLateness
        let time = running == .min ? floor.time : max(floor.time, running - lateness)
        let moved = RetentionFloor(lsn: LSN(last.lsn), time: time, watermark: running)
        try txn.put(databases.meta, MetaKey.retentionFloor, moved.encoded)
        return Progress(dropped: batch.count, floor: moved)
    }

    /// Whether the oldest retained record may go: whether ``step`` would drop anything.
    static func isDue(
        _ definitions: DefinitionsState.Current, floor: RetentionFloor, _ txn: some TransactionReading,
        _ databases: Tally.Databases
    ) throws -> Bool {
        guard let horizon = try horizon(definitions, txn, meta: databases.meta) else { return false }
        return try txn.withCursor(databases.log) { cursor in
            try BigEndian.bytes(floor.lsn.rawValue + 1).withUnsafeBytes { key in
                guard let oldest = try cursor.seek(atLeast: key) else { return false }
                return watermark(afterDropping: oldest.value, behind: floor.watermark, horizon: horizon) != nil
            }
        }
    }

    /// `watermark − retention`: a record goes while the watermark as of it is older than this.
    /// Nil before the first event or without definitions.
    private static func horizon(
        _ definitions: DefinitionsState.Current, _ txn: some TransactionReading, meta: Database
    ) throws -> Int64? {
        guard let newest = definitions.newest, let watermark = try txn.int64(meta, MetaKey.watermark) else {
            return nil
        }
        return watermark - newest.definitions.settings.retention
    }

    /// The watermark as of `record` when everything before it went at watermark `running`, if
    /// `record` may go too; nil if it stays.
    private static func watermark(
        afterDropping record: UnsafeRawBufferPointer, behind running: Int64, horizon: Int64
    ) -> Int64? {
        let after = max(running, LogRecord.decodeEvent(record)?.time ?? running)
        // A record before any event (a definitions change) has no age: it stays.
        guard after != .min, after < horizon else { return nil }
        return after
    }

    /// Deletes the id-index entry (or the full-id entry, for a hash collision) that points at
    /// the dropped event `lsn`.
    private static func forgetId(
        of record: [UInt8], lsn: UInt64, _ definitions: DefinitionsState.Current, idHash: ([UInt8]) -> UInt64,
        index: inout IdIndex, in txn: WriteTransaction, _ databases: Tally.Databases
    ) throws {
        let idKey: [UInt8]? = record.withUnsafeBytes { raw in
            guard let event = LogRecord.decodeEvent(raw), let schema = definitions.schema(code: event.typeCode) else {
                return nil
            }
            return schema.idKey(canonicalPayload: event.payload)
        }
        guard let idKey, idKey.count >= 2 else { return }
        let code = UInt16(idKey[0]) << 8 | UInt16(idKey[1])
        let indexKey = IdIndexKey.make(code: code, hash: idHash(idKey))
        if let found = try index.find(indexKey), found.lsn == lsn {
            try index.remove(level: found.level, indexKey)
        } else if try pointsAt(lsn, databases.idCollisions, idKey, txn) {
            _ = try txn.delete(databases.idCollisions, idKey)
        }
    }

    private static func pointsAt(_ lsn: UInt64, _ database: Database, _ key: [UInt8], _ txn: WriteTransaction)
        throws -> Bool
    {
        try key.withUnsafeBytes { try txn.get(database, $0).flatMap(IdempotencyEntry.decode) } == lsn
    }
}

extension DefinitionsState.Current {
    /// The largest lateness of any event type in any version: no event older than the watermark
    /// minus this is ever accepted.
    var largestLateness: Int64 {
        versions.values.flatMap { $0.catalog.schemasByCode.values.map(\.lateness) }.max() ?? 0
    }
}
