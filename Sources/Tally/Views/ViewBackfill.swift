import TallyLMDB

/// Builds the state of views new to a store from the events its log holds, in the transaction
/// that makes them served, so no read ever sees a view half-built. (Chunked, resumable backfill
/// that does not hold the writer is issue 6.)
enum ViewBackfill {
    /// Replays every logged event into the views `codes` of `stored`. Returns the events replayed.
    @discardableResult
    static func run(
        _ stored: StoredDefinitions, codes: Set<UInt16>, in txn: WriteTransaction, log: Database, views: Database
    ) throws -> Int {
        guard !codes.isEmpty else { return 0 }
        let maintenance = ViewMaintenance(catalog: stored.views, database: views)
        var next: UInt64 = 1
        var replayed = 0
        while true {
            // Copy a chunk out of the log, then write: values from the map are valid only until the
            // next write (LMDB.md rule 6).
            var chunk: [(lsn: UInt64, code: UInt16, time: Int64, payload: [UInt8])] = []
            try txn.withCursor(log) { cursor in
                var entry = try BigEndian.bytes(next).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                while let current = entry, chunk.count < 4096, let lsn = BigEndian.uint64(current.key) {
                    if let event = LogRecord.decodeEvent(current.value) {
                        chunk.append((lsn, event.typeCode, event.time, Array(event.payload)))
                    }
                    next = lsn + 1
                    entry = try cursor.next()
                }
            }
            if chunk.isEmpty { return replayed }
            for record in chunk {
                guard let schema = stored.catalog.schemasByCode[record.code],
                    let values = schema.values(canonicalPayload: record.payload)
                else { continue }
                let planned = try maintenance.plan(
                    schema: schema, values: values, time: record.time, lsn: record.lsn, in: txn, only: codes)
                if case .success(let writes) = planned { try maintenance.apply(writes, in: txn) }
                replayed += 1
            }
        }
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
