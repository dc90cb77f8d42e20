import TallyLMDB

/// A write request as the journaled mode records it, and its replay at recovery
/// (docs/STORAGE.md, "The journaled mode").
///
/// Replay must redo exactly what the request did in its original transaction, so an entry holds
/// every input the request's outcome depends on: for an ingest, the definitions version it was
/// decoded with, the wall-clock time it was judged against (`max_future`, ingest time) and each
/// decoded event's canonical payload. Events rejected while decoding are left out: they changed
/// nothing. A retention step depends only on the store's state and its limit. Writes that are not
/// journaled (definitions changes and backfill) are made durable by a checkpoint before they
/// resolve, so every journaled group replays on the state it first ran on.
///
/// Layout: kind (1); ingest: version (4), now (8), count (4), then length (4) and payload per
/// event; raw records: count (4), then length (4) and bytes per record; retention: limit (8); a
/// list or flag change: its ``MarkChange`` bytes; a decision: its ``DecisionInput`` bytes.
/// Little-endian.
enum JournalEntry {
    static let ingestKind: UInt8 = 1
    static let rawRecordsKind: UInt8 = 2
    static let retentionKind: UInt8 = 3
    static let markChangeKind: UInt8 = 4
    static let decisionKind: UInt8 = 5

    static func decision(_ input: DecisionInput) -> [UInt8] { [decisionKind] + input.bytes }

    static func markChange(_ change: MarkChange) -> [UInt8] { [markChangeKind] + change.bytes }

    static func ingest(version: UInt32, now: Int64, events: [Result<DecodedEvent, EventRejection>]) -> [UInt8] {
        var bytes: [UInt8] = [ingestKind]
        appendLittleEndian(version, to: &bytes)
        appendLittleEndian(now, to: &bytes)
        LengthPrefixedChunks.append(events.compactMap { try? $0.get().payload }, to: &bytes)
        return bytes
    }

    static func retention(limit: Int) -> [UInt8] {
        var bytes: [UInt8] = [retentionKind]
        appendLittleEndian(Int64(limit), to: &bytes)
        return bytes
    }

    static func rawRecords(_ records: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = [rawRecordsKind]
        LengthPrefixedChunks.append(records, to: &bytes)
        return bytes
    }

    /// Redoes `entry` in `txn`, as its request did when it was journaled.
    static func replay(
        _ entry: [UInt8], sequence: UInt64, in txn: WriteTransaction, databases: Tally.Databases,
        definitions current: DefinitionsState.Current, options: Tally.Options
    ) throws {
        func damaged(_ what: String) -> TallyError {
            TallyError(.storageFailure, "journal group \(sequence) cannot be replayed: \(what)")
        }
        switch entry.first {
        case rawRecordsKind:
            guard let records = LengthPrefixedChunks.decode(entry, from: 1) else {
                throw damaged("a malformed raw-records entry")
            }
            _ = try Tally.appendRaw(records, in: txn, databases: databases)
        case markChangeKind:
            guard let change = MarkChange(Array(entry.dropFirst())) else {
                throw damaged("a malformed list or flag change")
            }
            _ = try change.apply(in: txn, databases: databases)
        case decisionKind:
            guard let input = DecisionInput(Array(entry.dropFirst())) else { throw damaged("a malformed decision") }
            // The request saw the same definitions; if they were not the newest, it wrote nothing.
            guard current.newest?.version == input.version else { return }
            _ = try DecisionTransaction(
                txn: txn, databases: databases, current: current, input: input, idIndexShape: options.idIndexShape,
                idHash: options.idHash
            ).run()
        case retentionKind:
            guard entry.count == 9 else { throw damaged("a malformed retention entry") }
            _ = try Tally.retentionStep(
                current, limit: Int(readLittleEndian(entry, at: 1, as: Int64.self)), idHash: options.idHash,
                idIndexShape: options.idIndexShape, sweepEvery: options.sweepEvery, in: txn, databases: databases)
        case ingestKind:
            guard entry.count >= 13, let payloads = LengthPrefixedChunks.decode(entry, from: 13) else {
                throw damaged("a malformed ingest entry")
            }
            let version = readLittleEndian(entry, at: 1, as: UInt32.self)
            let now = readLittleEndian(entry, at: 5, as: Int64.self)
            // The request saw the same definitions; if they were not the newest, it wrote nothing.
            guard let newest = current.newest, newest.version == version, let catalog = current.maintenance else {
                return
            }
            let decoder = EventDecoder(catalog: newest.catalog, idHash: options.idHash)
            let events = try payloads.map { payload -> Result<DecodedEvent, EventRejection> in
                guard let value = try? StrictJSONParser.parse(payload),
                    case .success(let event) = decoder.decode(value),
                    event.payload == payload
                else { throw damaged("an event no longer decodes to the same canonical payload") }
                return .success(event)
            }
            _ = try IngestTransaction(
                txn: txn, databases: databases, views: ViewMaintenance(catalog: catalog, database: databases.views),
                now: now, maxFuture: newest.catalog.maxFuture, idIndexShape: options.idIndexShape,
                flags: current.newestServed?.flagRules
            ).apply(events)
        default:
            throw damaged("an entry of unknown kind \(entry.first.map(String.init) ?? "none")")
        }
    }
}

extension Tally {
    /// Replays the journal groups a writable open found after the last checkpoint, each in one
    /// write transaction, in order, before definitions are applied or the writer starts.
    static func replayJournal(_ environment: Environment, options: Options) throws {
        guard let recovery = environment.journalRecovery, !recovery.records.isEmpty else { return }
        let databases = Databases(environment)
        let current = try environment.read { txn in try DefinitionsChange.load(txn, meta: databases.meta) }
        for record in recovery.records {
            let txn = try environment.beginWriteTransaction()
            do {
                for entry in record.entries {
                    try JournalEntry.replay(
                        entry, sequence: record.sequence, in: txn, databases: databases, definitions: current,
                        options: options)
                }
                try txn.commit()
            } catch {
                txn.abort()
                throw error
            }
        }
    }
}
