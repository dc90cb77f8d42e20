import CLMDB
import Glibc

/// A write transaction. It begins and must end on the one writer thread (LMDB.md rule 1): the
/// writer lock is a process-shared mutex, and committing from another thread leaves it held so the
/// next write blocks forever. `commit` and `abort` check the thread and stop the process otherwise.
package final class WriteTransaction: TransactionReading {
    package let handle: OpaquePointer
    package let counters: AccessCounters?
    /// Whether staging is on: this transaction's writes to a staged database go to its stage.
    package var stageMayGrow: Bool { stages?.budget != nil }
    /// With staging off the open emptied every stage, and this transaction's writes bypass it.
    package var stagesHoldEntries: Bool { stageMayGrow }
    private let owner: pthread_t
    private var finished = false
    /// Successful puts and deletes so far: the writer uses it to tell whether a failed request
    /// left changes behind (then the transaction must be aborted and the others re-run).
    package private(set) var writeCount = 0
    /// One cursor per database, opened on first use and freed by LMDB when the transaction ends.
    /// Every get, put and delete goes through it: LMDB checks whether a key falls inside the leaf
    /// page the cursor is on before descending from the root, and ingest's view writes for one
    /// entity mostly land on the page its reads just visited.
    private var cursors: [(dbi: MDB_dbi, handle: OpaquePointer)] = []
    /// The environment's stage budget and move positions (``StagedDatabase``).
    private let stages: StageMoves?
    /// Staged databases this transaction wrote to: its commit moves their stages' excess.
    private var stagedWrites: [Database] = []
    /// Per staged database, the visits of each group so far (``visit(_:group:)``), and the
    /// groups written through the stage for the rest of the transaction.
    private var visits: [MDB_dbi: [[UInt8]: Int]] = [:]
    private var writtenThrough: [MDB_dbi: Set<[UInt8]>] = [:]
    /// The group of the last key routed, and whether it is written through: an entity's writes
    /// come one after another.
    private var lastRoute: (dbi: MDB_dbi, group: [UInt8], through: Bool)?

    init(handle: OpaquePointer, counters: AccessCounters?, stages: StageMoves? = nil) {
        self.handle = handle
        self.counters = counters
        self.stages = stages
        self.owner = pthread_self()
    }

    deinit {
        if !finished { mdb_txn_abort(handle) }
    }

    /// The transaction's cursor over `database` (see `cursors`).
    private func cursor(_ database: Database) throws(LMDBError) -> OpaquePointer {
        try cursor(database.dbi, name: database.name)
    }

    private func cursor(_ dbi: MDB_dbi, name: @autoclosure () -> String) throws(LMDBError) -> OpaquePointer {
        for entry in cursors where entry.dbi == dbi { return entry.handle }
        var raw: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle, dbi, &raw), "mdb_cursor_open(\(name()))")
        cursors.append((dbi, raw!))
        return raw!
    }

    /// The stage of `database` when its writes go there: it is staged and staging is on.
    private func writeStage(_ database: Database) -> MDB_dbi? {
        stageMayGrow ? database.stage : nil
    }

    /// The transaction's cursor over the stage of a staged `database`, if staging is on.
    private func stageCursor(_ database: Database) throws(LMDBError) -> OpaquePointer? {
        guard let stage = writeStage(database) else { return nil }
        return try cursor(stage, name: database.name + "_stage")
    }

    /// One unit of work (for `views`: one event) is about to write `group` of the staged
    /// `database`. At the group's ``EnvironmentOptions/stageThroughVisits``-th visit in this
    /// transaction, its stage entries move into the database, and its writes for the rest of
    /// the transaction go there directly. A group this busy shares its pages within the commit
    /// anyway: staging it would write its entries twice (into the stage, then moved) and make
    /// its reads merge two levels. The stage's order holds: the group's database entries are
    /// still older than any stage entry of it (there is none until a later transaction's).
    /// Nothing when staging is off.
    package func visit(_ database: Database, group: [UInt8]) throws {
        guard let limit = stages?.throughVisits, let stage = writeStage(database), database.stageGroup != nil,
            !group.isEmpty
        else { return }
        if writtenThrough[database.dbi]?.contains(group) == true { return }
        let count = (visits[database.dbi]?[group] ?? 0) + 1
        guard count >= limit else {
            visits[database.dbi, default: [:]][group] = count
            return
        }
        try moveGroup(
            database, group, mainCursor: try cursor(database),
            stageCursor: try cursor(stage, name: database.name + "_stage"))
        writtenThrough[database.dbi, default: []].insert(group)
        lastRoute = nil
    }

    /// Whether `key` of a staged database belongs to a group written through the stage in this
    /// transaction (``visit(_:group:)``).
    private func writesThrough(_ database: Database, _ key: UnsafeRawBufferPointer) -> Bool {
        guard let groups = writtenThrough[database.dbi], !groups.isEmpty, let grouping = database.stageGroup else {
            return false
        }
        let length = min(max(0, grouping(key)), key.count)
        if let last = lastRoute, last.dbi == database.dbi, last.group.count == length,
            StagedValue.hasPrefix(key, last.group)
        {
            return last.through
        }
        let group = Array(key[..<length])
        let through = groups.contains(group)
        lastRoute = (database.dbi, group, through)
        return through
    }

    /// The value stored under `key`, borrowed from the map; nil if absent. In a staged database,
    /// the stage's entry if it has one (nil for a tombstone), else the database's.
    package func get(_ database: Database, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        if let stage = try stageCursor(database), !writesThrough(database, key),
            let staged = try rawGet(stage, database.stage!, key, database)
        {
            return StagedValue.live(staged)
        }
        return try rawGet(try cursor(database), database.dbi, key, database)
    }

    private func rawGet(_ cursor: OpaquePointer, _ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ database: Database)
        throws(LMDBError) -> UnsafeRawBufferPointer?
    {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        counters?.record(dbi)
        let status = mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY)
        if status == MDB_NOTFOUND { return nil }
        try lmdbCheck(status, "mdb_cursor_get(\(database), set)")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Runs `body` with the transaction's cursor over `database`; `body` must not write, nor
    /// close the cursor (LMDB frees it with the transaction).
    package func withReadingCursor<R>(_ database: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        // With staging off the stage is empty (the open emptied it): no need to look.
        let stage = try writeStage(database) == nil || stageIsEmpty(database) ? nil : stageCursor(database)
        var shared = Cursor(handle: try cursor(database), database: database, counters: counters, stage: stage)
        return try body(&shared)
    }

    /// Stores `value` under `key`. A staged database takes no flags.
    package func put(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        if let stage = try stageCursor(database), !writesThrough(database, key) {
            precondition(flags.isEmpty, "put flags on staged database \(database)")
            try stagePut(stage, database, key, marker: StagedValue.live, value)
            noteStagedWrite(database)
            writeCount += 1
            return
        }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(mdb_cursor_put(try cursor(database), &k, &v, flags.rawValue), "mdb_put(\(database))")
        writeCount += 1
    }

    /// Stores `value` under `key` (array convenience).
    package func put(_ database: Database, _ key: [UInt8], _ value: [UInt8], flags: PutFlags = []) throws {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in try put(database, k, v, flags: flags) }
        }
    }

    /// Stores `value` under `key` unless the key exists; then returns the existing value (borrowed
    /// from the map) and writes nothing. One B-tree descent for "insert if absent".
    package func insertIfAbsent(
        _ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer
    ) throws(LMDBError) -> UnsafeRawBufferPointer? {
        if writeStage(database) != nil {
            if let existing = try get(database, key) { return existing }
            try put(database, key, value)
            return nil
        }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        counters?.record(database.dbi)
        let status = mdb_cursor_put(try cursor(database), &k, &v, UInt32(MDB_NOOVERWRITE))
        if status == MDB_KEYEXIST { return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size) }
        try lmdbCheck(status, "mdb_put(\(database), no-overwrite)")
        writeCount += 1
        return nil
    }

    /// Deletes `key`; returns false if it was absent. (No database here is `MDB_DUPSORT`: the
    /// cursor deletes the one item at `key`.)
    @discardableResult
    package func delete(_ database: Database, _ key: [UInt8]) throws -> Bool {
        if writeStage(database) != nil { return try stagedDelete(database, key) }
        return try key.withUnsafeBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            var v = MDB_val()
            let cursor = try cursor(database)
            let found = mdb_cursor_get(cursor, &k, &v, MDB_SET)
            if found == MDB_NOTFOUND { return false }
            try lmdbCheck(found, "mdb_cursor_get(\(database), set)")
            try lmdbCheck(mdb_cursor_del(cursor, 0), "mdb_del(\(database))")
            writeCount += 1
            return true
        }
    }

    /// Deletes `key` from a staged database: from the stage and from the database, so that
    /// no tombstone is left for a forward seek to step over (docs/VIEWS.md, "Read bound"). A
    /// delete takes no entry out of its entity's order (``DatabaseSpec/stageGroup``): it only
    /// removes. False if the key was absent (a tombstone an older build left counts as absent,
    /// and goes with what it hid).
    private func stagedDelete(_ database: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { raw in
            let stage = try stageCursor(database)!
            // A group written through holds nothing in the stage (``visit(_:group:)``).
            let staged =
                writesThrough(database, raw)
                ? nil : try rawGet(stage, database.stage!, raw, database).map { StagedValue.live($0) != nil }
            if staged != nil {
                // The stage's cursor is still on the key its get found.
                try lmdbCheck(mdb_cursor_del(stage, 0), "mdb_del(\(database)_stage)")
                noteStagedWrite(database)
            }
            let main = try cursor(database)
            let held = try rawGet(main, database.dbi, raw, database) != nil
            if held { try lmdbCheck(mdb_cursor_del(main, 0), "mdb_del(\(database))") }
            guard staged != nil || held else { return false }
            writeCount += 1
            return staged ?? held
        }
    }

    /// Moves the stage's entries beyond `budget` into `database` (``moveExcess``), whether or
    /// not staging is on: a writable open empties a stage an earlier run left.
    package func moveStage(_ database: Database, keeping budget: Int, from position: [UInt8]) throws -> [UInt8]? {
        guard let stage = database.stage else { return nil }
        return try moveExcess(
            database, mainCursor: try cursor(database), stageCursor: try cursor(stage, name: database.name + "_stage"),
            budget: budget, from: position)
    }

    private func noteStagedWrite(_ database: Database) {
        if !stagedWrites.contains(database) { stagedWrites.append(database) }
    }

    /// Commits. On failure LMDB has already freed the transaction (LMDB.md rule 5): never abort it.
    /// First moves the excess of every stage it wrote to (``StagedDatabase``); if that fails,
    /// the transaction is aborted, so a failed commit has freed it either way.
    package func commit() throws(LMDBError) {
        checkThread("commit")
        var moved: [(MDB_dbi, [UInt8])] = []
        if let stages, let budget = stages.budget {
            do {
                for database in stagedWrites {
                    if let next = try moveStage(database, keeping: budget, from: stages.position(database.dbi)) {
                        moved.append((database.dbi, next))
                    }
                }
            } catch {
                abort()
                throw error as? LMDBError ?? LMDBError(status: EIO, operation: "moving \(error)")
            }
        }
        finished = true
        cursors.removeAll()  // LMDB frees a write transaction's cursors when it ends
        try lmdbCheck(mdb_txn_commit(handle), "mdb_txn_commit")
        for (dbi, position) in moved { stages?.setPosition(dbi, position) }
    }

    /// Aborts; the only legal call after a failed operation.
    package func abort() {
        checkThread("abort")
        guard !finished else { return }
        finished = true
        cursors.removeAll()
        mdb_txn_abort(handle)
    }

    private func checkThread(_ operation: String) {
        precondition(
            !finished || operation == "abort", "LMDB write transaction used after it ended")
        precondition(
            pthread_equal(owner, pthread_self()) != 0,
            "LMDB write transaction \(operation) off the thread that began it: the writer lock would stay held")
    }
}
