/// What a write resolves to: the closure's value and the number of the commit that made it
/// durable (1 for the first commit of this writer).
package struct Committed<Value: Sendable>: Sendable {
    package let value: Value
    package let commitSequence: UInt64
}

/// Why a write did not commit (besides an error thrown by the write closure itself).
package enum WriterError: Error, Sendable, Equatable {
    /// The writer is closed or closing.
    case closed
    /// `maxPendingWrites` requests are already waiting.
    case overloaded(pending: Int)
    /// A commit or sync failed earlier; the store is read-only until reopened.
    case readOnly(cause: LMDBError)
}

/// A queued write request, type-erased for the writer's queue.
protocol PendingWrite: AnyObject, Sendable {
    /// Relative size, so one commit does not grow without bound (e.g. records in a request).
    var cost: Int { get }
    /// The request as the journaled mode records it (replayed by the store's owner at recovery);
    /// nil for writes that are made durable by a checkpoint right after their commit instead.
    var journalEntry: [UInt8]? { get }
    /// Runs the closure in `transaction`. May run more than once (after a map growth or when
    /// another request of the same group failed mid-write): it must act only through the
    /// transaction.
    func apply(_ transaction: WriteTransaction) throws
    func succeed(commitSequence: UInt64)
    func fail(_ error: any Error)
}

final class TypedPendingWrite<Value: Sendable>: PendingWrite, @unchecked Sendable {
    let cost: Int
    let journalEntry: [UInt8]?
    private let body: (WriteTransaction) throws -> Value
    private var value: Value?
    private let continuation: CheckedContinuation<Committed<Value>, any Error>

    init(
        cost: Int, journalEntry: [UInt8]?, body: @escaping @Sendable (WriteTransaction) throws -> Value,
        continuation: CheckedContinuation<Committed<Value>, any Error>
    ) {
        self.cost = cost
        self.journalEntry = journalEntry
        self.body = body
        self.continuation = continuation
    }

    func apply(_ transaction: WriteTransaction) throws {
        value = try body(transaction)
    }

    func succeed(commitSequence: UInt64) {
        continuation.resume(returning: Committed(value: value!, commitSequence: commitSequence))
    }

    func fail(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}
