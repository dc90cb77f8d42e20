/// What one group commit of the writer took, reported to the observer set with
/// ``Writer/observeCommits(_:)`` on the writer thread, after the commit and before the group's
/// callers are resumed.
package struct CommitTiming: Sendable, Equatable {
    /// Requests committed together (requests that failed are not counted).
    package var requests: Int
    /// Their summed cost (records, for ingest requests).
    package var cost: Int
    /// From the first `mdb_txn_begin` of the group to just before its commit: applying every
    /// request, retries after a map growth or a failed request included.
    package var apply: Duration
    /// `mdb_txn_commit` alone: writing the dirty pages and, in the durable mode, both fsyncs.
    package var commit: Duration

    package init(requests: Int, cost: Int, apply: Duration, commit: Duration) {
        self.requests = requests
        self.cost = cost
        self.apply = apply
        self.commit = commit
    }
}
