import TallyLMDB

/// The idempotency index (`ids`), in levels for write locality.
///
/// Every id's entry is in exactly one level; its key is the level (1 byte) then the
/// ``IdIndexKey`` (type code and hash of the id), its value the event's LSN
/// (``IdempotencyEntry``). New ids go into level 0. When a level holds at least a chunk more than
/// its budget, the transaction moves the excess into the next level, in key order from where that
/// level's last move stopped (round robin over the key space). Budgets grow tenfold per level;
/// the last level has none.
///
/// Why: a random id makes an insert into one big B-tree dirty a random leaf and the branch above
/// it, about 1.3 pages per event in requests of 1,024 at 10M ids, and a page write is what a
/// commit pays for (docs/STORAGE.md). Level 0 is small, so a batch's inserts share its few leaves;
/// a move of a contiguous key range into a level ten times larger touches about one leaf there
/// per ten entries moved. A lookup reads every non-empty level: five B-tree descents at most.
struct IdIndex {
    let txn: WriteTransaction
    let database: Database
    let meta: Database
    let shape: IdIndexShape
    private(set) var levels: IdIndexLevels
    private var changed = false
    /// New ids this transaction added to level 0 (they size its move budget, ``settle()``).
    private var inserted = 0

    init(txn: WriteTransaction, database: Database, meta: Database, shape: IdIndexShape) throws {
        self.txn = txn
        self.database = database
        self.meta = meta
        self.shape = shape
        levels =
            try MetaKey.idIndexLevels.withUnsafeBytes { key in
                try txn.get(meta, key).map { raw throws(TallyError) -> IdIndexLevels in
                    guard let decoded = IdIndexLevels(decoding: raw) else {
                        throw TallyError(.storageFailure, "the id index's level record is damaged (\(raw.count) bytes)")
                    }
                    return decoded
                }
            } ?? IdIndexLevels()
    }

    /// Bytes of a key: the level, then the ``IdIndexKey``.
    static let keySize = 1 + IdIndexKey.size

    static func key(level: Int, _ indexKey: [UInt8]) -> [UInt8] { [UInt8(level)] + indexKey }

    /// The LSN stored for `indexKey` and the level that holds it.
    func find(_ indexKey: [UInt8]) throws -> (level: Int, lsn: UInt64)? {
        for level in 0..<IdIndexLevels.count where levels.entries[level] > 0 {
            if let lsn = try get(level, indexKey) { return (level, lsn) }
        }
        return nil
    }

    /// Adds `indexKey → lsn` to level 0 unless some level holds `indexKey`; then returns the LSN
    /// stored there and writes nothing.
    mutating func insertIfAbsent(_ indexKey: [UInt8], lsn: UInt64) throws -> UInt64? {
        for level in 1..<IdIndexLevels.count where levels.entries[level] > 0 {
            if let stored = try get(level, indexKey) { return stored }
        }
        let entry = IdempotencyEntry.encode(lsn: lsn)
        let hit = try Self.key(level: 0, indexKey).withUnsafeBytes { key in
            try entry.withUnsafeBytes { value in
                try txn.insertIfAbsent(database, key, value).flatMap(IdempotencyEntry.decode)
            }
        }
        if hit == nil {
            levels.entries[0] += 1
            inserted += 1
            changed = true
        }
        return hit
    }

    /// Deletes `indexKey` from `level`; returns false if it was not there.
    @discardableResult
    mutating func remove(level: Int, _ indexKey: [UInt8]) throws -> Bool {
        guard try txn.delete(database, Self.key(level: level, indexKey)) else { return false }
        levels.entries[level] = levels.entries[level] &- min(1, levels.entries[level])
        changed = true
        return true
    }

    /// Moves every level's excess (when it is at least a chunk) into the next level, within this
    /// transaction's move budget (``IdIndexShape/moveBudget(inserted:)``), then stores the level
    /// record if anything changed. Call once, at the end of the transaction's changes.
    ///
    /// A level over its budget that this transaction has no budget left for moves in the next
    /// ones: a cascade (level 0 fills level 1 past its budget, and so on) is spread over several
    /// small commits instead of lengthening one.
    mutating func settle() throws {
        var budget = shape.moveBudget(inserted: inserted)
        for level in 0..<(IdIndexLevels.count - 1) where budget > 0 {
            let limit = shape.budget(level: level)
            let held = Int(levels.entries[level])
            guard held >= limit + shape.chunk else { continue }
            budget -= try move(from: level, count: min(held - limit, budget))
        }
        if changed { try txn.put(meta, MetaKey.idIndexLevels, levels.encoded) }
    }

    private mutating func move(from level: Int, count: Int) throws -> Int {
        var moved = 0
        var position = levels.positions[level]
        var wrapped = false
        while moved < count {
            let run = try entries(of: level, from: position, limit: count - moved)
            guard let last = run.last else {
                if wrapped { break }
                wrapped = true  // past the level's last key: go on from its first
                position = IdIndexLevels.start
                continue
            }
            var key = [UInt8](repeating: 0, count: Self.keySize)
            for entry in run {
                key[0] = UInt8(level + 1)
                key.replaceSubrange(1..., with: entry.key)
                let displaced = try key.withUnsafeBytes { key in
                    try entry.value.withUnsafeBytes { value in try txn.insertIfAbsent(database, key, value) }
                }
                guard displaced == nil else {
                    throw TallyError(.storageFailure, "the id index holds one id in levels \(level) and \(level + 1)")
                }
                key[0] = UInt8(level)
                _ = try txn.delete(database, key)
            }
            levels.entries[level] = levels.entries[level] &- min(UInt64(run.count), levels.entries[level])
            levels.entries[level + 1] += UInt64(run.count)
            moved += run.count
            position = last.key  // gone now: the next seek lands on the key after it
        }
        levels.positions[level] = position
        changed = true
        return moved
    }

    /// Up to `limit` entries of `level` from `position` on, in key order, copied out of the map
    /// before anything is written (LMDB.md rule 6): one seek, then one step per entry.
    private func entries(of level: Int, from position: [UInt8], limit: Int) throws -> [(key: [UInt8], value: [UInt8])] {
        try txn.withCursor(database) { cursor in
            var run: [(key: [UInt8], value: [UInt8])] = []
            run.reserveCapacity(min(limit, 4_096))
            var entry = try Self.key(level: level, position).withUnsafeBytes { try cursor.seek(atLeast: $0) }
            while run.count < limit, let current = entry, current.key.count == Self.keySize,
                current.key[0] == UInt8(level)
            {
                run.append((Array(current.key[1...]), Array(current.value)))
                entry = try cursor.next()
            }
            return run
        }
    }

    private func get(_ level: Int, _ indexKey: [UInt8]) throws -> UInt64? {
        try Self.key(level: level, indexKey).withUnsafeBytes {
            try txn.get(database, $0).flatMap(IdempotencyEntry.decode)
        }
    }
}

/// How the leveled id index is sized (``IdIndex``).
struct IdIndexShape: Sendable, Equatable {
    /// Entries level 0 holds before its excess moves on; each deeper level holds ten times more.
    var base: Int = 4_096
    /// The least excess a level moves at once. A move writes about 0.1 page per entry whatever
    /// its length (the next level is ten times larger); shorter moves spread the work over more
    /// commits (docs/STORAGE.md: 64 with the budget below took the open loop's apply p99 at
    /// 10M ids from 0.86–1.36 ms to 0.57–0.63 ms).
    var chunk: Int = 64
    /// The most entries one transaction moves, all levels together.
    var maxMovesPerTransaction: Int = 16_384
    /// Moves a transaction may make per id it inserted. An id moves once per level over its
    /// life (four times), so twice that keeps the levels at their budgets under any load.
    static let movesPerInsert = 2 * (IdIndexLevels.count - 1)

    /// The entries one transaction may move, all levels together: a chunk, or more in
    /// proportion to the ids it inserted, up to ``maxMovesPerTransaction``.
    func moveBudget(inserted: Int) -> Int {
        min(
            maxMovesPerTransaction,
            max(chunk, inserted.multipliedReportingOverflow(by: Self.movesPerInsert).partialValue))
    }

    func budget(level: Int) -> Int {
        var budget = base
        for _ in 0..<level { budget = budget.multipliedReportingOverflow(by: 10).partialValue }
        return budget
    }
}

/// Per level: how many entries it holds and, for all but the last, where its next move starts;
/// stored in `meta` under ``MetaKey/idIndexLevels`` (5 × 8 bytes of counts, then 4 × 10 bytes of
/// positions).
struct IdIndexLevels: Equatable {
    static let count = 5
    static let start = [UInt8](repeating: 0, count: IdIndexKey.size)

    var entries = [UInt64](repeating: 0, count: count)
    var positions = [[UInt8]](repeating: start, count: count - 1)

    init() {}

    init?(decoding raw: UnsafeRawBufferPointer) {
        guard raw.count == Self.count * 8 + (Self.count - 1) * IdIndexKey.size else { return nil }
        entries = (0..<Self.count).map { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        positions = (0..<(Self.count - 1)).map { level in
            let offset = Self.count * 8 + level * IdIndexKey.size
            return Array(raw[offset..<(offset + IdIndexKey.size)])
        }
    }

    var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.count * 8 + (Self.count - 1) * IdIndexKey.size)
        for count in entries { BigEndian.append(count, to: &bytes) }
        for position in positions { bytes += position }
        return bytes
    }
}
