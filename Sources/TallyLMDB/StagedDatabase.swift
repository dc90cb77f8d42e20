import CLMDB
import Glibc
import Synchronization

// A staged database (``DatabaseSpec/staged``) is an LSM's two levels inside one environment.
// With staging on (``EnvironmentOptions/stageEntries``), every put lands first in a small
// stage database beside it (the value behind a 1 byte), a delete removes the key from both
// (no tombstone is left for a forward seek to step over; a tombstone, the value 0, is still read
// where an older build left one), and every read merges the two (``Cursor``,
// ``TransactionReading/get(_:_:)``), so a reader sees exactly what it would see if the stage
// were empty and the writes had gone to the database. When a commit leaves the stage holding more
// than its budget (``EnvironmentOptions/stageEntries``), the commit first moves the excess into
// the database, in key order from where the previous move stopped, round the key space, never
// splitting a group (``DatabaseSpec/stageGroup``). A group that many units of work of one
// transaction write (``WriteTransaction/visit(_:group:)``) moves out and bypasses the stage for
// the rest of that transaction.
//
// Why: a commit of random entities' events writes one leaf page (and the branches above it) per
// entity region it touches, and a page write is what a commit pays for (docs/STORAGE.md). In the
// stage, the writes of a few commits share its few leaves; an entity's entries then stay there
// for many commits and move into the database together, one leaf write for what several events
// wrote (docs/VIEWS.md, "The view stage"). Both levels commit in the same transaction, so a
// snapshot is as coherent as before and a crash loses nothing.

/// The stage's value encoding.
enum StagedValue {
    static let live: UInt8 = 1
    static let tombstone: UInt8 = 0

    /// The value a stage entry holds, or nil for a tombstone.
    static func live(_ raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard raw.first == live else { return nil }
        return UnsafeRawBufferPointer(rebasing: raw[1...])
    }

    /// Whether `key` starts with `prefix`.
    static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) -> Bool {
        key.count >= prefix.count
            && (prefix.isEmpty || memcmp(key.baseAddress!, prefix.baseAddress!, prefix.count) == 0)
    }

    static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBytes { hasPrefix(key, $0) }
    }

    /// The first key after every key that starts with `prefix`: its last byte raised (bytes of
    /// 0xFF dropped first). Empty (the key space's start: the round begins again) when there is none.
    static func successor(_ prefix: [UInt8]) -> [UInt8] {
        var key = prefix
        while let last = key.last {
            if last < 0xFF {
                key[key.count - 1] = last + 1
                return key
            }
            key.removeLast()
        }
        return []
    }

    /// LMDB's default key order: bytes compared as unsigned, a prefix first.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return Int(order) }
        }
        return a.count - b.count
    }
}

/// Where each staged database's next move starts, and the stage's budget. Only the writer
/// thread touches the positions; a lost position (a restart) only restarts the round.
final class StageMoves: Sendable {
    /// Nil: staging is off (``EnvironmentOptions/stageEntries``).
    let budget: Int?
    /// The visit of a group in one transaction from which it is written through
    /// (``EnvironmentOptions/stageThroughVisits``); nil: never.
    let throughVisits: Int?
    private let positions = Mutex<[MDB_dbi: [UInt8]]>([:])

    init(budget: Int?, throughVisits: Int? = nil) {
        self.budget = budget.map { max(0, $0) }
        self.throughVisits = throughVisits.map { max(1, $0) }
    }

    func position(_ dbi: MDB_dbi) -> [UInt8] { positions.withLock { $0[dbi] ?? [] } }
    func setPosition(_ dbi: MDB_dbi, _ key: [UInt8]) { positions.withLock { $0[dbi] = key } }
}

extension TransactionReading {
    /// Entries (tombstones included) the stage of `database` holds in this transaction; 0
    /// without a stage.
    package func stageEntryCount(_ database: Database) throws(LMDBError) -> Int {
        guard let stage = database.stage else { return 0 }
        var stat = MDB_stat()
        try lmdbCheck(mdb_stat(handle, stage, &stat), "mdb_stat(\(database)_stage)")
        return stat.ms_entries
    }

    /// Entries (tombstones included) the stage of `database` holds under keys that start with
    /// `prefix` (for `views`, one entity's); 0 without a stage. Tests and diagnostics.
    package func stageEntryCount(_ database: Database, prefix: [UInt8]) throws -> Int {
        guard let stage = database.stage else { return 0 }
        var raw: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, stage, &raw), "mdb_cursor_open(\(database)_stage)")
        defer { mdb_cursor_close(raw) }
        var count = 0
        var entry = try prefix.withUnsafeBytes { key in
            try Cursor.move(raw!, stage, MDB_SET_RANGE, key: key, counters: nil, name: database.name + "_stage")
        }
        while let current = entry, StagedValue.hasPrefix(current.key, prefix) {
            count += 1
            entry = try Cursor.move(raw!, stage, MDB_NEXT, counters: nil, name: database.name + "_stage")
        }
        return count
    }

    /// Whether the stage of `database` holds nothing in this transaction: its cursors need
    /// not merge.
    func stageIsEmpty(_ database: Database) throws(LMDBError) -> Bool { try stageEntryCount(database) == 0 }
}

extension WriteTransaction {
    /// Puts `value` under `key` in the stage of `database`, behind the live byte.
    func stagePut(
        _ cursor: OpaquePointer, _ database: Database, _ key: UnsafeRawBufferPointer, marker: UInt8,
        _ value: UnsafeRawBufferPointer
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: 1 + value.count, mv_data: nil)
        try lmdbCheck(mdb_cursor_put(cursor, &k, &v, UInt32(MDB_RESERVE)), "mdb_put(\(database)_stage)")
        let target = UnsafeMutableRawBufferPointer(start: v.mv_data, count: v.mv_size)
        target[0] = marker
        if !value.isEmpty {
            target.baseAddress!.advanced(by: 1).copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
    }

    /// Moves stage entries beyond the budget into `database`, in key order from `from`,
    /// wrapping at the end: a live entry is put, a tombstone deletes. With groups
    /// (``DatabaseSpec/stageGroup``) a move goes on past the budget to the end of the last
    /// group it took, and `from` is where a group starts. Returns where the next move starts
    /// (nil: nothing moved).
    func moveExcess(
        _ database: Database, mainCursor: OpaquePointer, stageCursor: OpaquePointer, budget: Int, from: [UInt8]
    ) throws -> [UInt8]? {
        guard let stage = database.stage else { return nil }
        var excess = try stageEntryCount(database) - budget
        guard excess > 0 else { return nil }
        var position = from
        // The group of the entry moved last, while the move may still need to finish it.
        var group: [UInt8]?
        var entry = try position.withUnsafeBytes { start in
            try Cursor.move(
                stageCursor, stage, start.isEmpty ? MDB_FIRST : MDB_SET_RANGE, key: start, counters: nil,
                name: database.name + "_stage")
        }
        while true {
            guard let current = entry else {
                // The end of the key space: round again, unless only a group remained to finish.
                if excess <= 0 { break }
                entry = try Cursor.move(stageCursor, stage, MDB_FIRST, counters: nil, name: database.name + "_stage")
                continue
            }
            if excess <= 0 {
                guard let group, StagedValue.hasPrefix(current.key, group) else { break }
            }
            position = Array(current.key)
            if let grouping = database.stageGroup {
                let length = min(max(0, grouping(current.key)), current.key.count)
                if group == nil || !StagedValue.hasPrefix(current.key, group!) { group = Array(position[..<length]) }
            }
            try moveEntry(
                database, key: position, value: current.value, mainCursor: mainCursor, stageCursor: stageCursor)
            excess -= 1
            // The next stage entry: the first key after the one just moved.
            entry = try position.withUnsafeBytes { key in
                try Cursor.move(
                    stageCursor, stage, MDB_SET_RANGE, key: key, counters: nil, name: database.name + "_stage")
            }
        }
        // The next move starts after the whole group (writes to it since then wait for the next
        // round): the group's name with its last byte raised, past every key it starts.
        if let group { return StagedValue.successor(group) }
        return position
    }

    /// Moves every stage entry of `group` into `database` (``visit(_:group:)``).
    func moveGroup(
        _ database: Database, _ group: [UInt8], mainCursor: OpaquePointer, stageCursor: OpaquePointer
    ) throws {
        guard let stage = database.stage else { return }
        var position = group
        while true {
            let entry = try position.withUnsafeBytes { key in
                try Cursor.move(
                    stageCursor, stage, MDB_SET_RANGE, key: key, counters: nil, name: database.name + "_stage")
            }
            guard let current = entry, StagedValue.hasPrefix(current.key, group) else { return }
            position = Array(current.key)
            try moveEntry(
                database, key: position, value: current.value, mainCursor: mainCursor, stageCursor: stageCursor)
        }
    }

    /// Moves the stage entry `stageCursor` is on (`key`, raw `value`) into `database`: a live
    /// entry is put, a tombstone deletes.
    private func moveEntry(
        _ database: Database, key: [UInt8], value raw: UnsafeRawBufferPointer, mainCursor: OpaquePointer,
        stageCursor: OpaquePointer
    ) throws {
        try key.withUnsafeBytes { key in
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            if let live = StagedValue.live(raw) {
                // A copy: the put may spill dirty pages, the stage's among them.
                var value = Array(live)
                try value.withUnsafeMutableBytes { bytes in
                    var v = MDB_val(mv_size: bytes.count, mv_data: bytes.baseAddress)
                    try lmdbCheck(mdb_cursor_put(mainCursor, &k, &v, 0), "mdb_put(\(database), move)")
                }
            } else {
                var v = MDB_val()
                let found = mdb_cursor_get(mainCursor, &k, &v, MDB_SET)
                if found != MDB_NOTFOUND {
                    try lmdbCheck(found, "mdb_cursor_get(\(database), move)")
                    try lmdbCheck(mdb_cursor_del(mainCursor, 0), "mdb_del(\(database), move)")
                }
            }
            try lmdbCheck(mdb_cursor_del(stageCursor, 0), "mdb_del(\(database)_stage, move)")
        }
    }
}
