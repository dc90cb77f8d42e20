import TallyLMDB

/// Builds the state of views new to a store from the events its log holds, in chunks
/// (``DefinitionsChange``): each chunk is one write transaction, so ingest goes on between them,
/// and the new views are served only once every chunk is done.
enum ViewBackfill {
    /// Replays up to `limit` logged events with LSN in `start...end` into the states `codes` of
    /// `stored`. Returns the next LSN to replay and the events replayed.
    static func replay(
        _ stored: StoredDefinitions, codes: Set<UInt16>, from start: UInt64, through end: UInt64, limit: Int,
        in txn: WriteTransaction, log: Database, views: Database
    ) throws -> (next: UInt64, replayed: Int) {
        let maintenance = ViewMaintenance(catalog: stored.views, database: views)
        var next = start
        // Copy the chunk out of the log, then write: values from the map are valid only until the
        // next write (LMDB.md rule 6).
        var chunk: [(lsn: UInt64, code: UInt16, time: Int64, payload: [UInt8])] = []
        try txn.withCursor(log) { cursor in
            var entry = try BigEndian.bytes(start).withUnsafeBytes { try cursor.seek(atLeast: $0) }
            while let current = entry, chunk.count < limit, let lsn = BigEndian.uint64(current.key), lsn <= end {
                if let event = LogRecord.decodeEvent(current.value) {
                    chunk.append((lsn, event.typeCode, event.time, Array(event.payload)))
                }
                next = lsn + 1
                entry = try cursor.next()
            }
            if entry == nil || chunk.count < limit { next = max(next, end + 1) }
        }
        for record in chunk {
            guard let schema = stored.catalog.schemasByCode[record.code],
                let values = schema.values(canonicalPayload: record.payload)
            else { continue }
            let planned = try maintenance.plan(
                schema: schema, values: values, time: record.time, lsn: record.lsn, in: txn, only: codes)
            // An accepted event that would overflow a new state's running totals adds nothing to
            // it (docs/DEFINITIONS.md); every other state keeps it.
            if case .success(let writes) = planned { try maintenance.apply(writes, in: txn) }
        }
        return (next, chunk.count)
    }
}

extension EventSchema {
    /// The typed field values of a stored event, in field order (absent nullable fields are null).
    func values(canonicalPayload: [UInt8]) -> [FieldValue]? {
        guard case .object(let members)? = try? StrictJSONParser.parse(canonicalPayload) else { return nil }
        var values = [FieldValue](repeating: .null, count: fields.count)
        for (key, value) in members where key != "type" {
            guard let position = position(of: key) else { continue }
            values[position] = FieldValue(canonical: value, type: fields[position].type.base)
        }
        return values
    }
}
