import TallyLMDB

/// The steps of a definitions change (SPEC §1–2, docs/DEFINITIONS.md "Changing definitions"), each
/// inside one write transaction:
///
/// 1. **begin**: record the new version (not served yet); event types become what ingest decodes
///    with; states new to the store get codes, and ingest maintains them from now on beside the
///    served ones. Events already logged (up to the head LSN) are left to the backfill.
/// 2. **backfill** (``step(_:chunk:in:_:)``), in chunks that ingest interleaves with: replay the
///    logged events into the new states. Progress is in `meta`, so a crash resumes it.
/// 3. **serve**: log the change (it takes the next LSN) and serve the new version from that LSN.
///    Reads at earlier LSNs keep using the version served then.
///
/// Every step computes its result from what the transaction reads and from `current`'s versions,
/// so a step re-applied after an abort gives the same result.
enum DefinitionsChange {
    /// The definitions a store holds, for opening it. A store written before versions were
    /// recorded serves its one version from LSN 0.
    static func load(_ txn: some TransactionReading, meta: Database) throws -> DefinitionsState.Current {
        var current = DefinitionsState.Current()
        let records = try DefinitionsHistory.records(txn, meta: meta)
        guard !records.isEmpty else {
            guard let stored = try StoredDefinitions.read(txn, meta: meta) else { return current }
            current.versions[stored.version] = stored
            current.served = [(0, stored.version)]
            current.newest = stored
            current.maintenance = stored.views
            return current
        }
        for record in records {
            let stored = try StoredDefinitions(record, txn, meta: meta)
            current.versions[record.version] = stored
            if let from = record.servedFrom { current.served.append((from, record.version)) }
        }
        current.served.sort { $0.from < $1.from }
        current.newest = records.last.flatMap { current.versions[$0.version] }
        current.pending = try DefinitionsHistory.pending(txn, meta: meta)
        current.maintenance = maintenance(current)
        return current
    }

    /// Records the store's one version as served from LSN 0 if it predates recorded versions.
    static func recordLegacyVersion(_ current: DefinitionsState.Current, in txn: WriteTransaction, meta: Database)
        throws
    {
        guard let stored = current.newest,
            try txn.value(meta, DefinitionsHistory.recordKey(stored.version)) == nil
        else { return }
        try DefinitionsHistory.write(stored.record(servedFrom: 0), in: txn, meta: meta)
    }

    /// Begins making `new` the store's definitions. Unchanged definitions change nothing; a change
    /// with nothing to backfill is served at once.
    static func begin(
        _ new: Definitions, _ current: DefinitionsState.Current, in txn: WriteTransaction, _ databases: Tally.Databases
    ) throws -> DefinitionsState.Current {
        let meta = databases.meta
        if let pending = try DefinitionsHistory.pending(txn, meta: meta) {
            throw TallyError(
                .changeInProgress,
                "definitions version \(pending.version) is still being backfilled (\(pending.replayed) events "
                    + "replayed, up to LSN \(pending.target)); apply again once it is served")
        }
        let before = try StoredDefinitions.read(txn, meta: meta)
        let (stored, fresh) = try StoredDefinitions.apply(new, in: txn, meta: meta)
        if let before, before.version == stored.version, fresh.isEmpty { return current }
        let unanswerable = try widenedPastRetention(stored, fresh: fresh, current, floor: .read(txn, meta: meta))
        guard unanswerable.isEmpty else {
            // Thrown after writes: the writer aborts the transaction, so nothing changes.
            throw TallyError(
                .incompatibleDefinitions,
                unanswerable.joined(separator: "; ")
                    + ". Retention has reclaimed that state below its widest window so far, so a wider window "
                    + "could not be answered exactly. Windows up to that width can be added; a wider one needs "
                    + "the events ingested into a new store (docs/RETENTION.md)")
        }
        var next = current
        next.versions[stored.version] = stored
        next.newest = stored
        try DefinitionsHistory.write(stored.record(servedFrom: nil), in: txn, meta: meta)
        let head = try headLSN(txn, meta)
        guard !fresh.isEmpty, head > 0 else { return try serve(stored, next, in: txn, databases) }
        let pending = PendingDefinitions(
            version: stored.version, fresh: fresh.sorted(), target: head, next: 1, replayed: 0)
        try DefinitionsHistory.write(pending, in: txn, meta: meta)
        next.pending = pending
        next.maintenance = maintenance(next)
        return next
    }

    /// The views of `stored` that would read a state retention has already swept with a window
    /// wider than any version gave that state (the sweep kept only what those windows reach, so a
    /// wider one would find a checkpoint where it needs entries: a silently wrong value). A state new
    /// to the store is backfilled instead, and a lifetime count_distinct state is never swept.
    static func widenedPastRetention(
        _ stored: StoredDefinitions, fresh: Set<UInt16>, _ current: DefinitionsState.Current, floor: RetentionFloor
    ) -> [String] {
        guard !floor.isEmpty else { return [] }
        // What the sweep has kept: the same spans it reclaims by, over every version so far.
        let (kept, lifetime) = ViewStateSweep.windowSpans(current.versions.values.map(\.views))
        var problems: [String] = []
        for view in stored.views.views {
            let state = stored.views.states[view.state]
            guard !fresh.contains(state.code), let widest = kept[state.code] else { continue }
            if state.kind == .members && lifetime.contains(state.code) { continue }
            let wanted = view.definition.windows.compactMap(\.milliseconds).max() ?? 0
            if wanted > widest {
                problems.append(
                    "view \(view.definition.name)'s \(DefinitionsReader.describe(wanted)) window reads a state whose "
                        + "widest window so far is "
                        + (widest == 0 ? "lifetime only" : DefinitionsReader.describe(widest)))
            }
        }
        return problems
    }

    /// Backfills up to `chunk` logged events into the pending version's new states; serves the
    /// version once every event up to its target is replayed. Also returns the events replayed
    /// so far.
    static func step(
        _ current: DefinitionsState.Current, chunk: Int, in txn: WriteTransaction, _ databases: Tally.Databases
    ) throws -> (current: DefinitionsState.Current, replayed: UInt64) {
        guard var pending = try DefinitionsHistory.pending(txn, meta: databases.meta) else { return (current, 0) }
        guard let stored = current.versions[pending.version] else {
            throw TallyError(.storageFailure, "definitions version \(pending.version) is pending but not recorded")
        }
        let progress = try ViewBackfill.replay(
            stored, codes: Set(pending.fresh), from: pending.next, through: pending.target, limit: chunk, in: txn,
            log: databases.log, views: databases.views)
        pending.next = progress.next
        pending.replayed += UInt64(progress.replayed)
        var next = current
        if pending.next > pending.target {
            return (try serve(stored, next, in: txn, databases), pending.replayed)
        }
        try DefinitionsHistory.write(pending, in: txn, meta: databases.meta)
        next.pending = pending
        return (next, pending.replayed)
    }

    /// Serves `stored`: from LSN 0 for a store's first version, otherwise from a logged change at
    /// the next LSN.
    private static func serve(
        _ stored: StoredDefinitions, _ current: DefinitionsState.Current, in txn: WriteTransaction,
        _ databases: Tally.Databases
    ) throws -> DefinitionsState.Current {
        let meta = databases.meta
        var from: UInt64 = 0
        if current.served.contains(where: { $0.version != stored.version }) {
            from = try headLSN(txn, meta) + 1
            try txn.put(
                databases.log, BigEndian.bytes(from), LogRecord.definitionsChange(version: stored.version),
                flags: .append)
            try txn.put(meta, MetaKey.headLSN, BigEndian.bytes(from))
        }
        try DefinitionsHistory.write(stored.record(servedFrom: from), in: txn, meta: meta)
        try DefinitionsHistory.write(nil, in: txn, meta: meta)
        var next = current
        next.served.removeAll { $0.version == stored.version }
        next.served.append((from, stored.version))
        next.pending = nil
        next.maintenance = stored.views
        return next
    }

    /// Served states, plus the pending version's while it is backfilled.
    private static func maintenance(_ current: DefinitionsState.Current) -> ViewCatalog? {
        guard let served = current.newestServed else { return current.newest?.views }
        guard let pending = current.pending, let new = current.versions[pending.version] else { return served.views }
        return ViewCatalog(maintaining: [new.views, served.views])
    }

    private static func headLSN(_ txn: some TransactionReading, _ meta: Database) throws -> UInt64 {
        try MetaKey.headLSN.withUnsafeBytes { try txn.get(meta, $0).flatMap(BigEndian.uint64) } ?? 0
    }
}
