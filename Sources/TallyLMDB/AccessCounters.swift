import Synchronization

/// Counts entries touched (gets and cursor moves) per database, when enabled in the options.
/// Tests use it to prove bounds: opening a store reads no log entry; a vector read touches a
/// bounded number of entries whatever the event count.
package final class AccessCounters: Sendable {
    private let counts: Mutex<[MDB_dbi_ID: Int]>

    package typealias MDB_dbi_ID = UInt32

    init() { counts = Mutex([:]) }

    func record(_ dbi: UInt32) {
        counts.withLock { $0[dbi, default: 0] += 1 }
    }

    /// Entries of `database` touched since open (or the last reset); of a staged database, its
    /// stage's included.
    package func count(_ database: Database) -> Int {
        counts.withLock { counts in
            (counts[database.dbi] ?? 0) + (database.stage.flatMap { counts[$0] } ?? 0)
        }
    }

    package func reset() {
        counts.withLock { $0.removeAll() }
    }
}
