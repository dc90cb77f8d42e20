import TallyLMDB

/// What one group commit took. The writer joins the write requests queued together into one
/// durable transaction (group commit); ``Tally/observeCommits(_:)`` reports each such commit.
///
/// ```swift
/// store.observeCommits { report in
///     commitSeconds.record(report.commit)   // the flush and fsyncs alone
/// }
/// ```
public struct CommitReport: Sendable, Equatable {
    /// Write requests committed together (those that failed are not counted).
    public var requests: Int
    /// Their summed size: an ingest request counts its events, a retention or backfill step its
    /// chunk limit, any other write 1.
    public var size: Int
    /// Applying the requests in the write transaction (checks, the log, the views), up to the
    /// commit.
    public var apply: Duration
    /// The commit alone: writing the changed pages and, when durable, the two fsyncs.
    public var commit: Duration
}

extension Tally {
    /// Calls `observer` after every commit, once the callers of that commit were answered, with
    /// what it took; replaces the observer set before, and nil removes it. It runs on the writer
    /// thread, so it must be cheap (record into a metric): the next commit waits for it.
    public func observeCommits(_ observer: (@Sendable (CommitReport) -> Void)?) {
        guard let observer else {
            writer?.observeCommits(nil)
            return
        }
        writer?.observeCommits { timing in
            observer(
                CommitReport(requests: timing.requests, size: timing.cost, apply: timing.apply, commit: timing.commit))
        }
    }
}
