import CLMDB
import CardStream
import Foundation
import Histogram

/// A raw-LMDB spike for issue 5's ingest gate: does grouping one event's view state by event,
/// instead of by state, cut the pages a durable commit writes enough to matter?
///
/// Every layout writes, per event, the same entries of `Examples/cards.yaml`'s 10 views with
/// today's value sizes (`docs/VIEWS.md`): a card's running totals, min/max raw value, tiles and
/// chain, last value, distinct member, member index and count tiles, exposure, heads, and a
/// merchant's count; plus an id-index entry (random key) and a log record (appended), in durable
/// transactions of 1,024 events, one producer, on the generator's Zipf-distributed cards.
///
/// - `stateMajor` keys them as the store does today, `entity · state · tag · …`: one event touches
///   about 20 positions spread over its card's key range.
/// - `eventRecord` is a layout a reader could use as it is: one record per (entity, event) holding
///   the running totals of every invertible state and the event's own values; `last`, the
///   min/max chain, the tiles (in post-order, so an event's tiles are neighbours) and the
///   member index keep regions of their own: about 9 positions.
/// - `eventMajor` keeps what must stay addressable by member (the distinct member's latest
///   occurrence and the members ordered by it) where it is, and puts everything else of the event
///   — the same bytes — into one record `entity · 01 · time · LSN`: about 4 positions. It is the
///   best a per-event record layout could do (tiles inside the record are an optimistic
///   stand-in for a tile layout that keeps the newest tiles together), so it bounds the gain.
///
/// - `staged` writes `stateMajor`'s entries into a small `stage` database instead (a delete becomes a
///   tombstone there, a get looks in the stage first), and each commit then moves, in key order
///   from where the previous commit stopped, as many stage entries into `views` as the stage holds
///   beyond `stageEntries`. A card's entries that reach the stage in several commits move together,
///   so `views` gets one write per region per move instead of one per event (an LSM's two levels
///   in one environment). Reads would look in both (not measured here).
///
/// The spike does not read anything back: it measures the write side only.
struct LayoutSpike {
    enum Layout: String { case stateMajor, eventRecord, eventMajor, staged }

    let directory: String
    let events: Int
    let cards: Int
    let layout: Layout
    /// `staged`: the entries the stage holds before each commit moves the excess into `views`.
    var stageEntries = 1_000_000

    /// Tile widths in ms: 1 s × 16^k up to the widest window, as today's min/max (24 h: 5 levels)
    /// and distinct (5 m: 3 levels) states keep them.
    private static let maxTileWidths: [Int64] = (0..<5).map { Int64(1_000) << (4 * $0) }
    private static let countTileWidths: [Int64] = (0..<3).map { Int64(1_000) << (4 * $0) }

    func run() throws -> (Result, IngestFigures) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_mapsize(env, 64 << 30)
        mdb_env_set_maxdbs(env, 4)
        guard mdb_env_open(env, directory, UInt32(MDB_NOTLS), 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { mdb_env_close(env) }
        var txn: OpaquePointer?
        var views: MDB_dbi = 0
        var ids: MDB_dbi = 0
        var log: MDB_dbi = 0
        var stage: MDB_dbi = 0
        mdb_txn_begin(env, nil, 0, &txn)
        mdb_dbi_open(txn, "views", UInt32(MDB_CREATE), &views)
        mdb_dbi_open(txn, "stage", UInt32(MDB_CREATE), &stage)
        mdb_dbi_open(txn, "ids", UInt32(MDB_CREATE), &ids)
        mdb_dbi_open(txn, "log", UInt32(MDB_CREATE), &log)
        precondition(mdb_txn_commit(txn) == 0)

        var random = SplitMix64(seed: 42)
        let cardRanks = ZipfDistribution(count: cards, exponent: 1.05)
        let merchantRanks = ZipfDistribution(count: max(10, cards / 20), exponent: 1.05)
        // The emulation's own bookkeeping (which tiles are new): a Swift dictionary is fine here,
        // the spike measures LMDB's writes, not Tally's reads.
        var lastTime = [Int: Int64]()
        let device = DeviceIO(directory: directory)
        let bytesBefore = device.bytesWritten()
        var latency = newHistogram()
        let clock = ContinuousClock()
        let start = clock.now
        let logRecord = [UInt8](repeating: 0x61, count: 250)
        var lsn: UInt64 = 0
        var commits: UInt64 = 0
        let spanMillis: Int64 = 80_000_000  // the ingest case's stream: 10M events over 80,000 s
        var moveFrom: [UInt8] = []
        var moved = 0
        while lsn < UInt64(events) {
            let t0 = clock.now
            precondition(mdb_txn_begin(env, nil, 0, &txn) == 0)
            for _ in 0..<min(1_024, events - Int(lsn)) {
                lsn += 1
                let time = 1_790_000_000_000 + Int64(lsn) * spanMillis / Int64(events)
                let card = cardRanks.sample(&random)
                let merchant = merchantRanks.sample(&random)
                let previous = lastTime.updateValue(time, forKey: card)
                let writer = SpikeWriter(txn: txn!, dbi: views, stage: layout == .staged ? stage : nil)
                // The generator's mix: 80 % authorizations, 15 % settlements and reversals, 5 % declines.
                let roll = random.unit()
                if roll < 0.80 {
                    writeAuthorization(
                        writer, card: card, merchant: merchant, time: time, previous: previous, lsn: lsn, &random)
                } else if roll < 0.95 {
                    writeOther(writer, entity: Self.entity("card_\(card)"), state: 6, bytes: 24, time: time, lsn: lsn)
                } else if random.unit() < 0.75 {  // declines that pass the view's filter
                    writeOther(writer, entity: Self.entity("m_\(merchant)"), state: 8, bytes: 8, time: time, lsn: lsn)
                }
                var id = [UInt8](repeating: 0, count: 35)
                for i in stride(from: 0, to: 32, by: 8) {
                    withUnsafeBytes(of: random.next()) { id.replaceSubrange(i..<(i + 8), with: $0) }
                }
                SpikeWriter(txn: txn!, dbi: ids).put(id, [UInt8](repeating: 1, count: 16))
                SpikeWriter(txn: txn!, dbi: log).put(BigEndian.bytes(lsn), logRecord, flags: UInt32(MDB_APPEND))
            }
            if layout == .staged {
                moved += Self.moveExcess(txn: txn!, stage: stage, views: views, budget: stageEntries, from: &moveFrom)
            }
            precondition(mdb_txn_commit(txn) == 0)
            commits += 1
            _ = latency.record(nanoseconds(clock.now - t0))
        }
        let seconds = (clock.now - start).secondsValue
        if layout == .staged { print("  staged: \(moved) entries moved into views, stage budget \(stageEntries)") }
        sync()
        let written = device.bytesWritten() - bytesBefore
        let storeBytes = DirectorySize.bytes(directory)
        let result = Result(
            name: "layout-\(layout.rawValue)", records: events, seconds: seconds, commits: commits, latency: latency)
        let figures = IngestFigures(
            events: events, cards: cards, ndjsonBytesPerEvent: 0,
            writeBytesPerEvent: Double(written) / Double(events), storeBytes: storeBytes,
            storeBytesPerEvent: Double(storeBytes) / Double(events))
        return (result, figures)
    }

    /// A settlement or reversal (the card's exposure) or a decline (the merchant's count): one
    /// running total and the entity's head, or one record.
    private func writeOther(
        _ views: SpikeWriter, entity: [UInt8], state: UInt16, bytes: Int, time: Int64, lsn: UInt64
    ) {
        let occurrence = BigEndian.bytes(UInt64(time)) + BigEndian.bytes(lsn)
        switch layout {
        case .stateMajor, .staged:
            views.put(entity + [0, 0], BigEndian.bytes(lsn))
            views.put(Self.key(entity, state: state, tag: 1, occurrence), [UInt8](repeating: 1, count: bytes))
        case .eventRecord:
            views.put(entity + [0, 0], BigEndian.bytes(lsn))
            views.put(Self.key(entity, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: 8 + 24 + 24))
        case .eventMajor:
            views.put(Self.key(entity, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: bytes))
        }
    }

    /// A tile's key in post-order (every tile after the tiles inside it): the start of its
    /// top-level tile, then one digit per finer level down to its own (its position in its
    /// parent), then 0xFF for the levels below. The tiles an event writes, one per level on the
    /// path to its time, are then the last keys of the region, next to each other.
    private static func postOrderTile(_ widths: [Int64], level: Int, time: Int64) -> [UInt8] {
        let top = widths.count - 1
        var key = BigEndian.bytes(UInt64(time - time % widths[top]))
        for finer in stride(from: top - 1, through: 0, by: -1) {
            if finer < level {
                key.append(0xFF)
            } else {
                key.append(UInt8((time % widths[finer + 1]) / widths[finer]))
            }
        }
        return key
    }

    /// The view-state writes of one authorization on `card` at `merchant`.
    private func writeAuthorization(
        _ views: SpikeWriter, card: Int, merchant: Int, time: Int64, previous: Int64?, lsn: UInt64,
        _ random: inout SplitMix64
    ) {
        let cardKey = Self.entity("card_\(card)")
        let member = Array("m_\(merchant)".utf8)
        let merchantKey = Self.entity("m_\(merchant)")
        let memberValue = [UInt8](repeating: 2, count: 16)
        let memberKey = Self.key(cardKey, state: 5, tag: 3, member)
        // A tile is new when the card's previous event was in another tile of that level; an
        // existing one is widened (rewritten) now and then.
        func tileWrites(_ widths: [Int64], widen: Double) -> [Int] {
            widths.indices.filter { level in
                let width = widths[level]
                guard let previous, previous - previous % width == time - time % width else { return true }
                return random.unit() < widen
            }
        }
        let maxTiles = tileWrites(Self.maxTileWidths, widen: 0.25)
        let countTiles = tileWrites(Self.countTileWidths, widen: 0.5)
        // The member's latest occurrence moves: the old "members by occurrence" entry goes.
        if let old = views.get(memberKey) {
            views.delete(Self.key(cardKey, state: 5, tag: 4, old + member))
        }
        let occurrence = BigEndian.bytes(UInt64(time)) + BigEndian.bytes(lsn)
        views.put(memberKey, occurrence)
        views.put(Self.key(cardKey, state: 5, tag: 4, occurrence + member), [])
        // The min/max tiles (state 3) and count tiles (state 5) this event writes, keyed by level
        // and start today, in post-order in the event-record layout.
        func putTiles(state: UInt16, tag: UInt8, widths: [Int64], levels: [Int], bytes: Int) {
            for level in levels {
                let suffix =
                    layout == .stateMajor || layout == .staged
                    ? [UInt8(level + 1)] + BigEndian.bytes(UInt64(time - time % widths[level]))
                    : Self.postOrderTile(widths, level: level, time: time)
                views.put(Self.key(cardKey, state: state, tag: tag, suffix), [UInt8](repeating: 1, count: bytes))
            }
        }

        switch layout {
        case .stateMajor, .staged:
            views.put(cardKey + [0, 0], BigEndian.bytes(lsn))
            views.put(Self.key(cardKey, state: 1, tag: 1, occurrence), [UInt8](repeating: 1, count: 8))
            views.put(Self.key(cardKey, state: 2, tag: 1, occurrence), [UInt8](repeating: 1, count: 24))
            views.put(Self.key(cardKey, state: 3, tag: 1, occurrence), [UInt8](repeating: 1, count: 17))
            putTiles(state: 3, tag: 2, widths: Self.maxTileWidths, levels: maxTiles, bytes: 36)
            views.put(Self.key(cardKey, state: 3, tag: 7, occurrence), [UInt8](repeating: 1, count: 17))
            views.put(Self.key(cardKey, state: 4, tag: 1, occurrence), [UInt8](repeating: 1, count: 3))
            views.put(Self.key(cardKey, state: 5, tag: 1, occurrence), memberValue)
            putTiles(state: 5, tag: 6, widths: Self.countTileWidths, levels: countTiles, bytes: 8)
            views.put(Self.key(cardKey, state: 6, tag: 1, occurrence), [UInt8](repeating: 1, count: 24))
            views.put(merchantKey + [0, 0], BigEndian.bytes(lsn))
            views.put(Self.key(merchantKey, state: 7, tag: 1, occurrence), [UInt8](repeating: 1, count: 8))
        case .eventRecord:
            // One record per event for what running totals answer (count, sum and avg, exposure)
            // and the event's own max and member values; last, the chain, the tiles and the
            // member index keep regions of their own, tiles in post-order.
            views.put(cardKey + [0, 0], BigEndian.bytes(lsn))
            views.put(
                Self.key(cardKey, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: 8 + 24 + 24 + 17 + 16))
            views.put(Self.key(cardKey, state: 4, tag: 1, occurrence), [UInt8](repeating: 1, count: 3))
            views.put(Self.key(cardKey, state: 3, tag: 7, occurrence), [UInt8](repeating: 1, count: 17))
            putTiles(state: 3, tag: 2, widths: Self.maxTileWidths, levels: maxTiles, bytes: 36)
            putTiles(state: 5, tag: 6, widths: Self.countTileWidths, levels: countTiles, bytes: 8)
            views.put(merchantKey + [0, 0], BigEndian.bytes(lsn))
            views.put(Self.key(merchantKey, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: 16))
        case .eventMajor:
            // The same bytes as the state-major entries above (values plus, per entry, the key
            // suffix a reader would need to tell them apart), in one record.
            let recordBytes = 8 + 24 + 17 + 17 + 3 + 16 + 24 + maxTiles.count * (36 + 10) + countTiles.count * (8 + 10)
            views.put(Self.key(cardKey, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: recordBytes))
            views.put(Self.key(merchantKey, state: 0, tag: 1, occurrence), [UInt8](repeating: 1, count: 8))
        }
    }

    /// Moves stage entries beyond `budget` into `views` in key order, starting at `from` and
    /// wrapping at the end: a live entry is put, a tombstone deletes; both leave the stage.
    /// Returns how many moved.
    private static func moveExcess(
        txn: OpaquePointer, stage: MDB_dbi, views: MDB_dbi, budget: Int, from: inout [UInt8]
    ) -> Int {
        var stat = MDB_stat()
        mdb_stat(txn, stage, &stat)
        var excess = Int(stat.ms_entries) - budget
        guard excess > 0 else { return 0 }
        let total = excess
        var cursor: OpaquePointer?
        precondition(mdb_cursor_open(txn, stage, &cursor) == 0)
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var status = from.withUnsafeMutableBytes { start -> Int32 in
            key = MDB_val(mv_size: start.count, mv_data: start.baseAddress)
            return start.isEmpty
                ? mdb_cursor_get(cursor, &key, &value, MDB_FIRST) : mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
        let target = SpikeWriter(txn: txn, dbi: views)
        while excess > 0 {
            if status == MDB_NOTFOUND {
                status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
                continue
            }
            precondition(status == 0)
            let k = Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
            let v = Array(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
            if v.first == 1 { target.put(k, Array(v.dropFirst())) } else { target.delete(k) }
            precondition(mdb_cursor_del(cursor, 0) == 0)
            excess -= 1
            from = k
            // After a delete the cursor stands before the next entry; MDB_NEXT returns it.
            status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        return total
    }

    /// `tag · 2-byte length · UTF-8`, as ``ViewStateKey`` builds entity keys.
    private static func entity(_ text: String) -> [UInt8] {
        [1] + BigEndian.bytes(UInt16(text.utf8.count)) + Array(text.utf8)
    }

    private static func key(_ entity: [UInt8], state: UInt16, tag: UInt8, _ rest: [UInt8]) -> [UInt8] {
        entity + BigEndian.bytes(state) + [tag] + rest
    }
}

/// Puts, gets and deletes on one database of a raw write transaction; any failure stops the run.
/// With a `stage`, writes go there (a value behind a 1 byte, a delete as the tombstone 0) and a
/// get looks there before `dbi`.
private struct SpikeWriter {
    let txn: OpaquePointer
    let dbi: MDB_dbi
    var stage: MDB_dbi? = nil

    func put(_ key: [UInt8], _ value: [UInt8], flags: UInt32 = 0) {
        if let stage {
            SpikeWriter(txn: txn, dbi: stage).put(key, [1] + value)
            return
        }
        var key = key
        var value = value
        let status = key.withUnsafeMutableBytes { k in
            value.withUnsafeMutableBytes { v in
                var mk = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                var mv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                return mdb_put(txn, dbi, &mk, &mv, flags)
            }
        }
        precondition(status == 0, "mdb_put failed: \(status)")
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        if let stage {
            if let staged = SpikeWriter(txn: txn, dbi: stage).get(key) {
                return staged.first == 1 ? Array(staged.dropFirst()) : nil
            }
            return SpikeWriter(txn: txn, dbi: dbi).get(key)
        }
        var key = key
        return key.withUnsafeMutableBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            var mv = MDB_val()
            guard mdb_get(txn, dbi, &mk, &mv) == 0 else { return nil }
            return Array(UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size))
        }
    }

    func delete(_ key: [UInt8]) {
        if let stage {
            SpikeWriter(txn: txn, dbi: stage).put(key, [0])
            return
        }
        var key = key
        let status = key.withUnsafeMutableBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            return mdb_del(txn, dbi, &mk, nil)
        }
        precondition(status == 0 || status == MDB_NOTFOUND, "mdb_del failed: \(status)")
    }
}

/// Big-endian bytes of fixed-width integers (the spike's own; the engine's helper is internal).
private enum BigEndian {
    static func bytes(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }
    static func bytes(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }
}
