import Foundation
import TallyLMDB

extension Snapshot {
    /// Resolves a read point: `lsn` defaults to this snapshot's LSN (a larger one is
    /// ``TallyError/Code/invalidArgument``), `at` to the wall clock (epoch ms). A point older than
    /// what retention keeps (``retentionFloor``) is ``TallyError/Code/notRetained``.
    ///
    /// ```swift
    /// let token = try store.read { try $0.token(at: 1_732_370_000_000) }
    /// ```
    public func token(lsn: LSN? = nil, at: Int64? = nil) throws(TallyError) -> SnapshotToken {
        let current = try tallyCall { try self.lsn }
        if let lsn, lsn > current {
            throw TallyError(.invalidArgument, "lsn \(lsn) is ahead of the store, which is at lsn \(current)")
        }
        let time = at ?? wallClock()
        guard time >= 0, time <= Timestamp.maximum else {
            throw TallyError(.invalidArgument, "at = \(time) is not a time between 1970 and 9999 (epoch ms)")
        }
        let point = lsn ?? current
        if let refusal = floor.refusal(lsn: point, at: time) { throw refusal }
        return SnapshotToken(lsn: point, at: time, definitionsVersion: stored(at: point)?.version ?? 0)
    }

    /// The entity types of the definitions served at this snapshot's LSN.
    public var servedEntities: Set<String> { Set(stored.map { Array($0.views.entityKeyTypes.keys) } ?? []) }

    /// The served views of one entity at `token`: every window `(token.at − W, token.at]`, counting
    /// exactly the events with LSN ≤ `token.lsn`; and its flags and list memberships at `token.at`
    /// as of `token.lsn`. An unknown key reads as empty windows, unset flags and no memberships.
    ///
    /// ```swift
    /// let vector = try store.read { snapshot in
    ///     try snapshot.vector(entity: "card", key: "c1", at: try snapshot.token())
    /// }
    /// vector[view: "card_txn_count_60s"]   // .int(3)
    /// ```
    ///
    /// Throws ``TallyError/Code/unknownEntity`` for an entity type the definitions do not declare
    /// and ``TallyError/Code/invalidArgument`` for a key that is not one of its keys.
    public func vector(entity: String, key: String, at token: SnapshotToken) throws(TallyError) -> EntityVector {
        let stored = stored(at: token.lsn)
        if stored == nil, let pending = definitions.pending {
            // The store's only version is being rebuilt (docs/VIEWS.md, count tiles): no version
            // is served until the writer's open finishes it.
            throw TallyError(
                .notReady,
                "definitions version \(pending.version) is being built from the log (\(pending.replayed) events "
                    + "replayed, up to LSN \(pending.target)); no version is served until the writer finishes it")
        }
        guard let stored, let keyType = stored.views.entityKeyTypes[entity] else {
            let known = stored?.views.entityKeyTypes.keys.sorted().joined(separator: ", ") ?? "none"
            throw TallyError(.unknownEntity, "unknown entity type '\(entity)' (declared: \(known))")
        }
        guard stored.views.unbuilt.isEmpty else {
            throw TallyError(
                .notReady,
                "views \(stored.views.unbuilt.joined(separator: ", ")) are not built in this store yet: open it once "
                    + "with the writer (tally serve or tally ingest) to build them from the log")
        }
        let current = try tallyCall { try self.lsn }
        guard token.lsn <= current else {
            throw TallyError(.invalidArgument, "lsn \(token.lsn) is ahead of the store, which is at lsn \(current)")
        }
        if let refusal = floor.refusal(lsn: token.lsn, at: token.at) { throw refusal }
        let (encoded, canonical) = try Self.entityKey(key, type: keyType, entity: entity)
        return try tallyCall {
            try Self.vector(
                entity: entity, encoded: encoded, canonical: canonical, stored: stored, at: token, in: transaction,
                databases: databases, floor: floor)
        }
    }

    /// One entity's vector read in `txn` (a read transaction, or the write transaction of a
    /// decision that includes its event): the views from maintained state, recomputed when the
    /// entity changed after `token.lsn` or `recompute` asks; then its flags and lists.
    static func vector<Transaction: TransactionReading>(
        entity: String, encoded: [UInt8], canonical: String, stored: StoredDefinitions, at token: SnapshotToken,
        in txn: Transaction, databases: Tally.Databases, floor: RetentionFloor, recompute: Bool = false
    ) throws -> EntityVector {
        let newest =
            try ViewStateKey.head(encoded, code: stored.views.headCode).withUnsafeBytes {
                try txn.get(databases.views, $0)
            }
            .flatMap(BigEndian.uint64) ?? 0
        // State holds the entity's changes up to `newest`; a token before that recomputes (and
        // a decision's replay always does).
        let lsnLimit = newest > token.lsn.rawValue || recompute ? token.lsn.rawValue : nil
        let cursor = try txn.openCursor(databases.views, within: encoded)
        defer { cursor.close() }
        let reader = ViewReader(
            txn: txn, database: databases.views, cursor: cursor, floorTime: floor.isEmpty ? nil : floor.time)
        var views: [(name: String, value: FeatureValue)] = []
        views.reserveCapacity(stored.views.servedNameCount)
        for view in stored.views.views where view.definition.entity == entity {
            try reader.append(
                view, stored.views.states[view.state], entity: encoded, at: token.at, lsnLimit: lsnLimit, to: &views)
        }
        let marks = try marks(
            entity: entity, key: encoded, stored: stored, at: token, in: txn, databases)
        return EntityVector(
            entity: entity, key: canonical, views: views, flags: marks.flags, lists: marks.lists,
            recomputed: lsnLimit != nil)
    }

    /// The stored form of an entity key given as text (ints in decimal; strings NFC, 1…256 bytes),
    /// and the key as the vector names it: one spelling per entity (`01` and `+1` are `1`; a
    /// string in NFC), so answers about one entity name it alike.
    static func entityKey(_ key: String, type: ScalarType, entity: String) throws(TallyError) -> (
        encoded: [UInt8], canonical: String
    ) {
        let value: FieldValue
        let canonical: String
        switch type {
        case .int:
            guard let number = Int64(key) else {
                throw TallyError(.invalidArgument, "\(entity) keys are integers; '\(key.prefix(64))' is not one")
            }
            value = .int(number)
            canonical = String(number)
        default:
            let text = key.utf8.allSatisfy({ $0 < 0x80 }) ? key : key.precomposedStringWithCanonicalMapping
            let size = text.utf8.count
            guard size > 0, size <= EventDecoder.maxKeyBytes else {
                throw TallyError(
                    .invalidArgument, "\(entity) keys are 1 to \(EventDecoder.maxKeyBytes) bytes; this one is \(size)")
            }
            value = .string(text)
            canonical = text
        }
        guard let encoded = ViewStateKey.entity(value) else {
            throw TallyError(.invalidArgument, "'\(key.prefix(64))' cannot be a \(entity) key")
        }
        return (encoded, canonical)
    }
}
