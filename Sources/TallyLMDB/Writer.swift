import CLMDB
import DequeModule
import Foundation
import Synchronization

/// The single writer of an environment: a dedicated OS thread that owns every write transaction
/// (LMDB.md rule 1) and commits requests in groups (rule 3).
///
/// Each loop takes every queued request (up to `maxRequestsPerCommit` or the cost budget), applies
/// them in one write transaction, commits once — with one fsync in the durable mode — and only then
/// resumes the callers. A caller never resumes before its commit is durable.
///
/// Failure handling:
/// - a request that throws before writing anything fails alone; the group goes on;
/// - a request that throws after writing, or hits an LMDB error, poisons the transaction: it is
///   aborted, that request fails, and the others are re-applied in a new transaction;
/// - `MDB_MAP_FULL` aborts, grows the map with readers quiesced, and re-applies the group;
/// - a failed commit or sync turns the writer read-only: no blind retry (LMDB.md rule 5).
package final class Writer: @unchecked Sendable {
    package let environment: Environment
    private let condition = NSCondition()
    private var queue = Deque<any PendingWrite>()
    /// The summed cost of `queue`.
    private var queuedCost = 0
    private var state = State.running
    private var holds = 0
    private var injectedCommitFailure: Int32?
    /// Set once a commit, sync or checkpoint failed: nothing is flushed after that (a failed
    /// fsync may have dropped the pages it could not write; another one would not report it).
    private var failed = false
    private let finished = DispatchSemaphore(value: 0)
    let commitCounter = Atomic<UInt64>(0)
    let mapGrowthCounter = Atomic<Int>(0)
    let commitObserver = Mutex<(@Sendable (CommitTiming) -> Void)?>(nil)
    private let maxCostPerCommit = 65_536

    private enum State {
        case running
        case closing
        case closed
        case readOnly(LMDBError)
    }

    /// The journal and checkpoints of the journaled sync mode.
    let journaled: JournaledDurability?
    /// Keeps the data file's page cache in single-page folios (``PageCacheShaper``).
    let shaper: PageCacheShaper?

    /// Starts the writer thread. In the journaled mode this first makes the store's state a
    /// durable checkpoint; in the others it retires a checkpoint and journal a journaled run left.
    package init(environment: Environment) throws(LMDBError) {
        self.environment = environment
        if environment.options.shapePageCache {
            let info = environment.info
            shaper = PageCacheShaper(
                dataPath: MetaPages.dataPath(environment.path), pageSize: info.pageSize, usedBytes: info.usedBytes)
        } else {
            shaper = nil
        }
        switch environment.options.sync {
        case .journaled(let interval):
            journaled = try JournaledDurability(environment: environment, interval: interval)
        case .durable, .relaxed:
            journaled = nil
            if let recovery = environment.journalRecovery {
                try JournaledDurability.leave(environment, recovery: recovery)
            }
        }
        let thread = Thread { [self] in self.run() }
        thread.name = "tally-writer"
        thread.start()
    }

    // MARK: Submitting

    /// Applies `body` in a write transaction and resolves once that transaction is durably
    /// committed. `body` may be applied more than once and must act only through the
    /// transaction. `cost` is the request's relative size (e.g. its record count).
    ///
    /// In the journaled mode, `journal` is what recovery replays to redo `body` exactly (see
    /// ``JournalRecovery``); a write without it is made durable by a checkpoint before it resolves.
    package func write<Value: Sendable>(
        cost: Int = 1, journal: [UInt8]? = nil, _ body: @escaping @Sendable (WriteTransaction) throws -> Value
    ) async throws -> Committed<Value> {
        try await withCheckedThrowingContinuation { continuation in
            let request = TypedPendingWrite(
                cost: max(1, cost), journalEntry: journal, body: body, continuation: continuation)
            condition.lock()
            let refusal: WriterError?
            switch state {
            case .running:
                if queue.count >= environment.options.maxPendingWrites
                    || (!queue.isEmpty && queuedCost + request.cost > environment.options.maxPendingCost)
                {
                    refusal = .overloaded(pending: queue.count)
                } else {
                    refusal = nil
                    queue.append(request)
                    queuedCost += request.cost
                    condition.signal()
                }
            case .closing, .closed: refusal = .closed
            case .readOnly(let cause): refusal = .readOnly(cause: cause)
            }
            condition.unlock()
            if let refusal { request.fail(refusal) }
        }
    }

    /// Stops accepting writes, commits what is queued, ends the thread. Idempotent.
    package func close() {
        condition.lock()
        let wasStopped: Bool
        switch state {
        case .running, .readOnly:
            state = .closing
            wasStopped = false
        case .closing, .closed:
            wasStopped = true
        }
        condition.broadcast()
        condition.unlock()
        if !wasStopped { finished.wait() }
    }

    // MARK: Observing

    /// Whether the page-cache shaper is working: nil when the environment's options turn it off,
    /// false when it could not start or turned itself off after a failed call.
    package var pageCacheShaping: Bool? {
        environment.options.shapePageCache ? (shaper?.isActive ?? false) : nil
    }

    /// Commits completed (each one fsync'd in the durable mode).
    package var committedTransactions: UInt64 { commitCounter.load(ordering: .acquiring) }
    /// Map growths done for `MDB_MAP_FULL`.
    package var mapGrowths: Int { mapGrowthCounter.load(ordering: .relaxed) }
    /// Requests waiting for the writer.
    package var pendingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }
    /// Calls `observer` on the writer thread after every commit, before the group's callers are
    /// resumed, with what the group took; replaces the observer set before (nil removes it). Keep
    /// it cheap: the callers and the next group wait for it.
    package func observeCommits(_ observer: (@Sendable (CommitTiming) -> Void)?) {
        commitObserver.withLock { $0 = observer }
    }

    /// The failure that turned the writer read-only, if any.
    package var readOnlyCause: LMDBError? {
        condition.lock()
        defer { condition.unlock() }
        if case .readOnly(let cause) = state { return cause }
        return nil
    }

    // MARK: Test hooks

    /// Keeps the writer from starting a new group until `release` is called (group-commit tests).
    package func hold() -> WriterHold {
        condition.lock()
        holds += 1
        condition.unlock()
        return WriterHold { [self] in
            condition.lock()
            holds -= 1
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Makes the next commit fail with `status` as if `mdb_txn_commit` had (fault injection).
    package func injectCommitFailure(status: Int32) {
        condition.lock()
        injectedCommitFailure = status
        condition.unlock()
    }

    // MARK: The writer thread

    private func run() {
        let interval = environment.options.staleReaderCheckInterval
        let flushInterval: Duration? = if case .relaxed(let every) = environment.options.sync { every } else { nil }
        let checkpointPoll = Duration.milliseconds(5)
        var lastSync = ContinuousClock.now
        var lastReaderCheck = ContinuousClock.now
        // When the writer last asked for a checkpoint: one that is due but cannot start yet (the
        // last one still runs) is asked for again a poll later, not in a busy loop.
        var lastCheckpointCheck = ContinuousClock.now
        var unsynced = false
        // Callers seen together recently: the peak group size, decaying by one per group, so the
        // gather target does not ratchet down when one group happens to come up short.
        var peakGroupSize = 0
        var lastCommitEnd = ContinuousClock.now
        let gatherWindow = environment.options.gatherWindow
        while true {
            condition.lock()
            while queue.isEmpty || holds > 0, !isClosing {
                let now = ContinuousClock.now
                var deadline = lastReaderCheck + interval
                if unsynced, let flushInterval { deadline = min(deadline, lastSync + flushInterval) }
                if let due = journaled?.nextDeadline {
                    deadline = min(deadline, max(due, lastCheckpointCheck + checkpointPoll))
                }
                if now >= deadline { break }
                _ = condition.wait(until: Date().addingTimeInterval((deadline - now).seconds))
            }
            // Gather: the last group had several callers; give them a moment to queue again.
            while peakGroupSize > 1, queue.count < peakGroupSize, holds == 0, !isClosing {
                let deadline = lastCommitEnd + gatherWindow
                let now = ContinuousClock.now
                if now >= deadline { break }
                _ = condition.wait(until: Date().addingTimeInterval((deadline - now).seconds))
            }
            if isClosing && queue.isEmpty {
                state = .closed
                let failed = failed
                condition.unlock()
                if unsynced && !failed { flush() }
                if let journaled {
                    // A last checkpoint, so the next open finds the store clean; after a failure
                    // the next open recovers from the journal instead.
                    if !failed { try? journaled.checkpointNow() }
                    journaled.stop()
                }
                finished.signal()
                return
            }
            let batch = holds > 0 && !isClosing ? [] : takeBatch()
            condition.unlock()

            if !batch.isEmpty {
                execute(batch)
                if flushInterval != nil { unsynced = true }
                peakGroupSize = max(batch.count, peakGroupSize - 1)
                lastCommitEnd = .now
            }
            let now = ContinuousClock.now
            if unsynced, let flushInterval, now - lastSync >= flushInterval {
                flush()
                unsynced = false
                lastSync = now
            }
            if let journaled {
                lastCheckpointCheck = now
                do {
                    try journaled.startCheckpointIfDue()
                } catch {
                    enterReadOnly(error)
                }
            }
            if now - lastReaderCheck >= interval {
                environment.clearStaleReaders()
                lastReaderCheck = now
            }
        }
    }

    /// Called with the lock held.
    private var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    /// Called with the lock held.
    private func takeBatch() -> [any PendingWrite] {
        var batch: [any PendingWrite] = []
        var cost = 0
        while let next = queue.first, batch.count < environment.options.maxRequestsPerCommit,
            batch.isEmpty || cost + next.cost <= maxCostPerCommit
        {
            batch.append(queue.removeFirst())
            queuedCost -= next.cost
            cost += next.cost
        }
        return batch
    }

    /// Pops the injected commit failure, if any.
    func takeInjectedCommitFailure() -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        let status = injectedCommitFailure
        injectedCommitFailure = nil
        return status
    }

    private func flush() {
        do {
            try environment.sync()
        } catch {
            enterReadOnly(error)
        }
    }

    func enterReadOnly(_ cause: LMDBError) {
        condition.lock()
        state = .readOnly(cause)
        failed = true
        let rest = Array(queue)
        queue.removeAll()
        queuedCost = 0
        condition.unlock()
        for request in rest { request.fail(WriterError.readOnly(cause: cause)) }
    }
}

/// Returned by ``Writer/hold()``; call ``release()`` once.
package struct WriterHold: Sendable {
    let onRelease: @Sendable () -> Void
    package func release() { onRelease() }
}

extension Duration {
    var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
