import CLMDB
import Synchronization

extension Writer {
    /// Applies `batch` in one write transaction and commits it; resumes every request.
    /// Runs on the writer thread only.
    func execute(_ batch: [any PendingWrite]) {
        var pending = batch
        var growthsThisBatch = 0
        let clock = ContinuousClock()
        let began = clock.now
        attempt: while !pending.isEmpty {
            let transaction: WriteTransaction
            do {
                transaction = try environment.beginWriteTransaction()
            } catch {
                // Cannot even begin: the environment is unusable for writes.
                enterReadOnly(error, failing: pending)
                return
            }
            // The journaled mode writes and flushes the group's record (its inputs, known now) on
            // the journal thread while the group is applied. An attempt that will not commit the
            // group as journaled withdraws the record, durably, before it fails, refuses or
            // retries anything, so recovery never redoes a request whose caller was told otherwise.
            if let journaled {
                let entries = pending.compactMap(\.journalEntry)
                if !entries.isEmpty { journaled.startAppend(entries) }
            }
            /// Withdraws the record in flight, if any; false when that failed and the store
            /// turned read-only (the group failed).
            func withdrawJournal() -> Bool {
                guard let journaled, journaled.appendInFlight else { return true }
                do {
                    try journaled.withdrawAppend()
                    return true
                } catch {
                    enterReadOnly(error, failing: pending)
                    return false
                }
            }
            var refused: [ObjectIdentifier: any Error] = [:]
            var unjournaledWrites = false
            for request in pending {
                let writesBefore = transaction.writeCount
                defer {
                    if request.journalEntry == nil && transaction.writeCount > writesBefore { unjournaledWrites = true }
                }
                do {
                    try request.apply(transaction)
                } catch let error as LMDBError where error.isMapFull && growthsThisBatch < 32 {
                    transaction.abort()
                    guard withdrawJournal() else { return }
                    growthsThisBatch += 1
                    if !grow(failing: pending) { return }
                    continue attempt
                } catch let error as LMDBError {
                    transaction.abort()
                    guard withdrawJournal() else { return }
                    request.fail(error)
                    pending.removeAll { $0 === request }
                    continue attempt
                } catch {
                    if transaction.writeCount == writesBefore {
                        refused[ObjectIdentifier(request)] = error  // nothing written: the group goes on
                    } else {
                        transaction.abort()
                        guard withdrawJournal() else { return }
                        request.fail(error)
                        pending.removeAll { $0 === request }
                        continue attempt
                    }
                }
            }
            let applied = clock.now
            var journaledAs: UInt64?
            if let journaled {
                do {
                    if journaled.appendInFlight {
                        // The record in flight holds every request's entry; it stands unless one
                        // was refused, and then the applied ones are journaled again below.
                        if refused.isEmpty {
                            journaledAs = try journaled.finishAppend()
                        } else {
                            try journaled.withdrawAppend()
                        }
                    }
                    if journaledAs == nil {
                        let entries = pending.compactMap {
                            refused[ObjectIdentifier($0)] == nil ? $0.journalEntry : nil
                        }
                        if !entries.isEmpty { journaledAs = try journaled.append(entries) }
                    }
                } catch {
                    transaction.abort()
                    enterReadOnly(error, failing: pending)
                    return
                }
            }
            do {
                try commit(transaction)
            } catch let error where error.isMapFull && growthsThisBatch < 32 {
                if let journaledAs { journaled?.cancel(journaledAs) }
                growthsThisBatch += 1  // the failed commit freed the transaction
                if !grow(failing: pending) { return }
                continue attempt
            } catch {
                if let journaledAs { journaled?.cancel(journaledAs) }
                enterReadOnly(error, failing: pending)
                return
            }
            if let journaled {
                journaled.committed()
                if unjournaledWrites {
                    do {
                        try journaled.checkpointNow()
                    } catch {
                        enterReadOnly(error, failing: pending)
                        return
                    }
                }
            }
            let committed = clock.now
            let sequence = commitCounter.add(1, ordering: .releasing).newValue
            // Observed before the callers resume, so a caller that stops observing once its
            // writes resolved has seen their commit.
            if let observer = commitObserver.withLock({ $0 }) {
                var cost = 0
                for request in pending where refused[ObjectIdentifier(request)] == nil { cost += request.cost }
                observer(
                    CommitTiming(
                        requests: pending.count - refused.count, cost: cost, apply: applied - began,
                        commit: committed - applied))
            }
            for request in pending {
                if let error = refused[ObjectIdentifier(request)] {
                    request.fail(error)
                } else {
                    request.succeed(commitSequence: sequence)
                }
            }
            if let shaper {
                let info = environment.info
                shaper.prepare(usedBytes: info.usedBytes, mapSize: info.mapSize)
            }
            return
        }
    }

    private func commit(_ transaction: WriteTransaction) throws(LMDBError) {
        if let status = takeInjectedCommitFailure() {
            transaction.abort()
            throw LMDBError(status: status, operation: "mdb_txn_commit (injected)")
        }
        try transaction.commit()
    }

    /// Grows the map; on failure fails the group (the store stays writable: the next group
    /// tries again). Returns whether the group should be retried.
    private func grow(failing pending: [any PendingWrite]) -> Bool {
        do {
            try environment.growMap()
            mapGrowthCounter.add(1, ordering: .relaxed)
            return true
        } catch {
            for request in pending { request.fail(error) }
            return false
        }
    }

    private func enterReadOnly(_ cause: LMDBError, failing pending: [any PendingWrite]) {
        enterReadOnly(cause)
        for request in pending { request.fail(WriterError.readOnly(cause: cause)) }
    }
}
