import CLMDB

/// One key/value pair borrowed from the map; valid until the cursor moves or the transaction ends.
package struct Entry {
    package let key: UnsafeRawBufferPointer
    package let value: UnsafeRawBufferPointer
}

/// A positioned cursor over one database; obtained from `withCursor`.
///
/// Over a staged database whose stage holds entries (``StagedDatabase``) it merges two LMDB
/// cursors, the database's and the stage's, so that it moves over what the database holds once
/// the stage is moved into it: a stage entry replaces the database's entry under the same key,
/// and a stage tombstone hides it. Seeks (`first`, `last`, `seek(atLeast:)`) position it afresh;
/// after a write to the database, seek again before `next` or `previous`.
package struct Cursor {
    let handle: OpaquePointer
    let database: Database
    let counters: AccessCounters?
    /// Both positions when the cursor merges a stage.
    private var merge: StageMerge?

    /// `stage`: the stage's cursor, when the database is staged and its stage is not empty.
    init(handle: OpaquePointer, database: Database, counters: AccessCounters?, stage: OpaquePointer? = nil) {
        self.handle = handle
        self.database = database
        self.counters = counters
        if let stage, let dbi = database.stage { merge = StageMerge(handle: stage, dbi: dbi) }
    }

    private func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        try Self.move(handle, database.dbi, op, key: key, counters: counters, name: database.name)
    }

    static func move(
        _ handle: OpaquePointer, _ dbi: MDB_dbi, _ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil,
        counters: AccessCounters?, name: @autoclosure () -> String
    ) throws(LMDBError) -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        counters?.record(dbi)
        let status = mdb_cursor_get(handle, &k, &v, op)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_cursor_get(\(name()))")
        return Entry(
            key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Closes a cursor from ``TransactionReading/openCursor(_:)``; no copy of it may be used after.
    package func close() {
        mdb_cursor_close(handle)
        if let merge { mdb_cursor_close(merge.handle) }
    }

    package mutating func first() throws(LMDBError) -> Entry? {
        guard merge != nil else { return try move(MDB_FIRST) }
        return try merged(MDB_FIRST)
    }

    package mutating func last() throws(LMDBError) -> Entry? {
        guard merge != nil else { return try move(MDB_LAST) }
        return try merged(MDB_LAST)
    }

    package mutating func next() throws(LMDBError) -> Entry? {
        guard merge != nil else { return try move(MDB_NEXT) }
        return try step(forward: true)
    }

    package mutating func previous() throws(LMDBError) -> Entry? {
        guard merge != nil else { return try move(MDB_PREV) }
        return try step(forward: false)
    }

    /// Positions at the first key ≥ `key`.
    package mutating func seek(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        guard merge != nil else { return try move(MDB_SET_RANGE, key: key) }
        return try merged(MDB_SET_RANGE, key: key)
    }

    /// The last entry whose key is below `key` and starts with `prefix`, nil if there is none:
    /// the "newest up to" read. Seek again before `next` or `previous`.
    ///
    /// Over a staged database it looks at each level once (two moves each) and takes the later
    /// entry; only a stage tombstone there needs the full merge. `rewritesLater`: the caller
    /// knows that writes to the range follow the rule of running totals, where a put of a key
    /// also puts every later key of the range that exists. With groups
    /// (``DatabaseSpec/stageGroup``; the range lies in one group), a live stage entry is then
    /// the answer without a look at the database: it was written after every entry of the group
    /// the database holds (a move never splits a group), and the range's later keys were
    /// rewritten into the stage with it or after it.
    package mutating func last(
        below key: UnsafeRawBufferPointer, within prefix: UnsafeRawBufferPointer, rewritesLater: Bool = false
    ) throws(LMDBError) -> Entry? {
        guard merge != nil else {
            return try Self.last(
                below: key, within: prefix, in: handle, database.dbi, counters: counters, name: database.name)
        }
        merge!.positioned = false
        let staged = try Self.last(
            below: key, within: prefix, in: merge!.handle, merge!.dbi, counters: counters,
            name: database.name + "_stage")
        let live = staged.flatMap { StagedValue.live($0.value) }
        if let staged, let live, rewritesLater, database.stageGroup != nil {
            return Entry(key: staged.key, value: live)
        }
        let main = try Self.last(
            below: key, within: prefix, in: handle, database.dbi, counters: counters, name: database.name)
        guard let staged else { return main }
        // The database's entry is later: no tombstone hides it, the stage's last entry below
        // `key` being before it.
        if let main, StagedValue.compare(main.key, staged.key) > 0 { return main }
        if let live { return Entry(key: staged.key, value: live) }
        // A tombstone: what it hides and what lies before it need the merge.
        let after = try seek(atLeast: key)
        guard let before = after == nil ? try last() : try previous(), StagedValue.hasPrefix(before.key, prefix)
        else { return nil }
        return before
    }

    /// ``last(below:within:rewritesLater:)`` in one LMDB database.
    private static func last(
        below key: UnsafeRawBufferPointer, within prefix: UnsafeRawBufferPointer, in handle: OpaquePointer,
        _ dbi: MDB_dbi, counters: AccessCounters?, name: @autoclosure () -> String
    ) throws(LMDBError) -> Entry? {
        let after = try move(handle, dbi, MDB_SET_RANGE, key: key, counters: counters, name: name())
        guard let before = try move(handle, dbi, after == nil ? MDB_LAST : MDB_PREV, counters: counters, name: name()),
            StagedValue.hasPrefix(before.key, prefix)
        else { return nil }
        return before
    }

    // MARK: Merging a stage

    /// Whether the cursor merges a stage.
    var merges: Bool { merge != nil }

    /// The stage's first entry at or after `key`, tombstones included (``TransactionReading/openCursor(_:within:)``).
    func stageEntry(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        try moveStage(MDB_SET_RANGE, key: key)
    }

    /// Closes the stage's cursor; the cursor then reads the database alone.
    mutating func stopMerging() {
        if let merge { mdb_cursor_close(merge.handle) }
        merge = nil
    }

    private func moveStage(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        try Self.move(merge!.handle, merge!.dbi, op, key: key, counters: counters, name: database.name + "_stage")
    }

    /// Positions both cursors with `op` (first, last or set-range) and returns the merged entry.
    private mutating func merged(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        merge!.main = try move(op, key: key)
        merge!.staged = try moveStage(op, key: key)
        merge!.forward = op != MDB_LAST
        merge!.positioned = true
        return try resolve()
    }

    /// One step forward or backward. Each cursor stands at its database's first entry after
    /// (forward) or last entry before (backward) the merged position, or at it (`atMain`,
    /// `atStage`); nil when it ran off that end.
    private mutating func step(forward: Bool) throws(LMDBError) -> Entry? {
        guard merge!.positioned else { return try merged(forward ? MDB_FIRST : MDB_LAST) }
        if merge!.forward != forward {
            // Turning: a cursor not at the position stands beyond it in the old direction; one
            // step back brings it beyond the position in the new one (from its end if it ran off).
            let again = forward ? MDB_NEXT : MDB_PREV
            let restart = forward ? MDB_FIRST : MDB_LAST
            if !merge!.atMain { merge!.main = try move(merge!.main == nil ? restart : again) }
            if !merge!.atStage { merge!.staged = try moveStage(merge!.staged == nil ? restart : again) }
            merge!.forward = forward
        }
        let op = forward ? MDB_NEXT : MDB_PREV
        if merge!.atMain { merge!.main = try move(op) }
        if merge!.atStage { merge!.staged = try moveStage(op) }
        return try resolve()
    }

    /// The merged entry at the two cursors: the nearer key in the cursor's direction, the stage's
    /// on a tie; a stage tombstone is stepped over, with the database's entry it hides.
    private mutating func resolve() throws(LMDBError) -> Entry? {
        let op = merge!.forward ? MDB_NEXT : MDB_PREV
        while true {
            guard let staged = merge!.staged else {
                merge!.atMain = merge!.main != nil
                merge!.atStage = false
                return merge!.main
            }
            var tie = false
            if let main = merge!.main {
                let order = StagedValue.compare(staged.key, main.key)
                // The database's entry comes first in this direction: it is the position.
                if order != 0 && (order > 0) == merge!.forward {
                    merge!.atMain = true
                    merge!.atStage = false
                    return main
                }
                tie = order == 0
            }
            guard let value = StagedValue.live(staged.value) else {
                merge!.staged = try moveStage(op)
                if tie { merge!.main = try move(op) }
                continue
            }
            merge!.atMain = tie
            merge!.atStage = true
            return Entry(key: staged.key, value: value)
        }
    }
}

/// A cursor's positions in a staged database and in its stage.
private struct StageMerge {
    let handle: OpaquePointer
    let dbi: MDB_dbi
    var main: Entry?
    var staged: Entry?
    var atMain = false
    var atStage = false
    var forward = true
    var positioned = false
}
