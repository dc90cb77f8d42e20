import Synchronization
import TallyLMDB

/// What one retention step did (``Tally/reclaimRetained(limit:)``).
public struct RetentionProgress: Sendable, Equatable {
    /// Log records dropped (with their idempotency entries).
    public var droppedRecords = 0
    /// View-state keys the sweep visited.
    public var visitedStateKeys = 0
    /// View-state entries the sweep deleted.
    public var reclaimedStateEntries = 0
    /// The oldest answerable read point after the step.
    public var floor: RetentionFloor = .none

    /// Whether the step changed anything (a caller loops while it does).
    public var didWork: Bool { droppedRecords > 0 || visitedStateKeys > 0 }
}

extension Tally {
    /// The oldest read point answered exactly; reads before it fail with
    /// ``TallyError/Code/notRetained``.
    public var retentionFloor: RetentionFloor {
        get throws { try read { try $0.retentionFloor } }
    }

    /// One retention step, in one write transaction queued behind (and grouped with) ingest: drops
    /// up to `limit` log records older than the retention period, then, when the floor has moved
    /// since the last sweep, visits up to `4 × limit` view-state keys. Nothing happens while a
    /// definitions change is backfilling. The store runs these steps by itself (see
    /// ``Options/retentionInterval``); call this to drive retention by hand.
    @discardableResult
    public func reclaimRetained(limit: Int = 1_024) async throws(TallyError) -> RetentionProgress {
        let state = definitionsState
        let databases = databases
        let idHash = options.idHash
        let shape = options.idIndexShape
        let sweepEvery = options.sweepEvery
        // A step depends only on the store's state and `limit`, so the journaled mode records it.
        let journal = options.isJournaled ? JournalEntry.retention(limit: limit) : nil
        return try await write(cost: limit, journal: journal) { txn in
            try Tally.retentionStep(
                state.current, limit: limit, idHash: idHash, idIndexShape: shape, sweepEvery: sweepEvery, in: txn,
                databases: databases)
        }
    }

    /// The write half of ``reclaimRetained(limit:)`` (also its journal replay).
    static func retentionStep(
        _ current: DefinitionsState.Current, limit: Int, idHash: @Sendable ([UInt8]) -> UInt64,
        idIndexShape shape: IdIndexShape, sweepEvery: Int64, in txn: WriteTransaction, databases: Databases
    ) throws -> RetentionProgress {
        guard current.pending == nil else {
            return RetentionProgress(floor: try RetentionFloor.read(txn, meta: databases.meta))
        }
        let log = try LogRetention.step(current, limit: limit, idHash: idHash, idIndexShape: shape, in: txn, databases)
        var progress = RetentionProgress(droppedRecords: log.dropped, floor: log.floor)
        let floor = log.floor
        let schedule = try ViewStateSweep.Schedule.read(txn, meta: databases.meta)
        guard schedule.isDue(floor: floor, every: sweepEvery) else { return progress }
        let sweep = try ViewStateSweep.step(
            from: schedule.position, limit: 4 * limit, reclaims: ViewStateSweep.reclaims(current, floor: floor),
            in: txn, views: databases.views)
        if let next = sweep.next {
            try txn.put(databases.meta, MetaKey.sweepPosition, next)
        } else {
            _ = try txn.delete(databases.meta, MetaKey.sweepPosition)
            try txn.put(databases.meta, MetaKey.sweptThrough, BigEndian.bytes(floor.time))
        }
        progress.visitedStateKeys = sweep.visited
        progress.reclaimedStateEntries = sweep.reclaimed
        return progress
    }

    /// Runs retention steps while they find work, then waits `interval`; ends when the store
    /// closes. Holds the store only weakly (and never across the wait), so dropping the store
    /// still closes it.
    static func startRetention(_ store: Tally, every interval: Duration) -> Task<Void, Never> {
        Task { [weak store] in
            while !Task.isCancelled {
                guard let worked = await retentionTurn(store) else { return }
                if !worked { try? await Task.sleep(for: interval) }
            }
        }
    }

    /// One background step: whether it found work; nil when the store is gone, closed or
    /// read-only. A full write queue just means "try again later". An idle store costs one read
    /// transaction per turn, never a write (a write is a commit, and a commit is an fsync).
    private static func retentionTurn(_ store: Tally?) async -> Bool? {
        guard let store else { return nil }
        do {
            guard try store.retentionDue() else { return false }
            return try await store.reclaimRetained().didWork
        } catch let error as TallyError {
            return error.code == .overloaded ? false : nil
        } catch {
            return nil
        }
    }

    /// Whether a retention step would find work, judged from one read transaction: the oldest
    /// retained record is past the retention period, or a view-state sweep is running or due.
    func retentionDue() throws -> Bool {
        let state = definitionsState.current
        guard state.pending == nil else { return false }
        let sweepEvery = options.sweepEvery
        return try read { snapshot in
            let floor = try snapshot.retentionFloor
            if try LogRetention.isDue(state, floor: floor, snapshot.transaction, databases) { return true }
            return try ViewStateSweep.Schedule.read(snapshot.transaction, meta: databases.meta)
                .isDue(floor: floor, every: sweepEvery)
        }
    }
}
