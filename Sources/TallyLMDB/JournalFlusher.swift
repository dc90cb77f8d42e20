import Foundation

/// Appends a group's journal record on a thread of its own, `tally-journal`, while the writer
/// applies the group (docs/STORAGE.md, "The journaled mode").
///
/// A record holds the group's inputs, which are known before the group is applied, so its
/// `pwrite` and `fdatasync` need not wait for the apply, nor the apply for them: the writer hands
/// the record over (``start(_:)``), applies, then waits (``wait()``) before it commits. The
/// journal is touched by one thread at a time: this one between `start` and the end of `wait`,
/// the writer otherwise; the condition's lock orders the two.
final class JournalFlusher: @unchecked Sendable {
    private let journal: Journal
    private let condition = NSCondition()
    /// The entries of the record to append next.
    private var request: [[UInt8]]?
    /// The outcome of the last append, until ``wait()`` takes it.
    private var outcome: Result<UInt64, LMDBError>?
    /// Whether an append was started and not yet waited for.
    private(set) var inFlight = false
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    init(journal: Journal) {
        self.journal = journal
        let thread = Thread { [self] in self.run() }
        thread.name = "tally-journal"
        thread.start()
    }

    /// Starts appending `entries` as one record. Call ``wait()`` before the next start and before
    /// any other use of the journal.
    func start(_ entries: [[UInt8]]) {
        condition.lock()
        precondition(!inFlight, "one journal append at a time")
        inFlight = true
        request = entries
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the append started last and returns its record's sequence.
    func wait() throws(LMDBError) -> UInt64 {
        condition.lock()
        precondition(inFlight, "no journal append in flight")
        while outcome == nil { condition.wait() }
        let result = outcome!
        outcome = nil
        inFlight = false
        condition.unlock()
        return try result.get()
    }

    /// Ends the thread once the append in flight, if any, is done (its outcome is dropped).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        finished.wait()
    }

    private func run() {
        while true {
            condition.lock()
            while request == nil && !stopping { condition.wait() }
            guard let entries = request else {
                condition.unlock()
                finished.signal()
                return
            }
            request = nil
            condition.unlock()

            let result = Result { () throws(LMDBError) in try journal.append(entries: entries) }
            condition.lock()
            outcome = result
            condition.broadcast()
            condition.unlock()
        }
    }
}
