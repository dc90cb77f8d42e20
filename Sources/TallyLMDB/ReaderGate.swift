import Foundation

/// Admits at most `limit` concurrent read transactions, keeps a pool of reset read transactions
/// for cheap reuse (`mdb_txn_renew`), and can quiesce all readers so the map can be resized.
///
/// LMDB does not check for live readers when the map is resized: a reader that holds a page pointer
/// across `mdb_env_set_mapsize` reads freed memory. The gate closes, waits until no reader is
/// inside, hands the pooled transactions to the resizer (which aborts them) and reopens.
final class ReaderGate: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var active = 0
    private var closed = false
    private var idle: [OpaquePointer] = []
    private(set) var peakActive = 0

    init(limit: Int) {
        precondition(limit > 0, "maxConcurrentReaders must be positive")
        self.limit = limit
    }

    /// Waits for a reader slot; returns a pooled reset transaction if one is available.
    func enter() -> OpaquePointer? {
        condition.lock()
        defer { condition.unlock() }
        while closed || active >= limit { condition.wait() }
        active += 1
        if active > peakActive { peakActive = active }
        return idle.popLast()
    }

    /// Gives the slot back, with the reset transaction to pool (or nil if it was aborted).
    func leave(pooling transaction: OpaquePointer?) {
        condition.lock()
        active -= 1
        if let transaction { idle.append(transaction) }
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` while no reader is inside and none can enter; `body` receives (and must end)
    /// every pooled transaction.
    func quiesce<R>(_ body: ([OpaquePointer]) throws -> R) rethrows -> R {
        condition.lock()
        while closed { condition.wait() }  // one resize at a time
        closed = true
        while active > 0 { condition.wait() }
        let pooled = idle
        idle.removeAll()
        condition.unlock()
        defer {
            condition.lock()
            closed = false
            condition.broadcast()
            condition.unlock()
        }
        return try body(pooled)
    }

    /// Readers currently inside.
    var activeCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return active
    }
}
