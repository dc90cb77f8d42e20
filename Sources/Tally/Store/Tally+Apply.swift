/// What applying definitions did (``Tally/apply(_:waitUntilServed:)``).
public struct DefinitionsChangeReport: Sendable, Equatable {
    /// The version served before.
    public let previousVersion: UInt32
    /// The version applied (the previous one when nothing changed).
    public let version: UInt32
    /// Whether the definitions differed from the newest applied ones.
    public let changed: Bool
    /// The LSN from which reads use `version` (its logged change); nil while it is backfilled.
    public let servedFrom: LSN?
    /// Views whose state is built from the log for this version.
    public let backfilledViews: [String]
    /// Events replayed into them so far.
    public let replayedEvents: UInt64
}

/// A definitions change being backfilled.
public struct DefinitionsProgress: Sendable, Equatable {
    /// The version being built; reads keep using the served one until it is done.
    public let version: UInt32
    /// Logged events up to this LSN are replayed into its new views.
    public let target: LSN
    /// Events replayed so far.
    public let replayedEvents: UInt64
    /// The next LSN to replay.
    public let next: LSN

    init(version: UInt32, target: LSN, replayedEvents: UInt64, next: LSN) {
        self.version = version
        self.target = target
        self.replayedEvents = replayedEvents
        self.next = next
    }

    init(_ pending: PendingDefinitions) {
        self.init(
            version: pending.version, target: LSN(pending.target), replayedEvents: pending.replayed,
            next: LSN(pending.next))
    }
}

extension Tally {
    /// The definitions change being backfilled, if any.
    public var definitionsChangeInProgress: DefinitionsProgress? {
        definitionsState.current.pending.map(DefinitionsProgress.init)
    }

    /// Makes `definitions` the store's definitions while it keeps serving (SPEC §1–2): unchanged
    /// definitions change nothing; changed ones must keep every event type compatible (otherwise
    /// ``TallyError/Code/incompatibleDefinitions``) and get the next version.
    ///
    /// Views new to the store are backfilled from the log in chunks of write transactions that
    /// ingest interleaves with; reads keep the previous version (and its views) until every chunk
    /// is done, then the change is logged at the next LSN and served from it. Reads at earlier
    /// LSNs keep using the version served then, so an old token still answers a removed view.
    /// A crash during the backfill resumes it when the store is next opened for writing.
    ///
    /// ```swift
    /// let report = try await store.apply(try DefinitionsLoader.load(path: "cards.yaml"))
    /// report.version   // 2
    /// ```
    ///
    /// With `waitUntilServed: false` the call returns once the change has begun, and its report
    /// describes the change as it began: `servedFrom` is nil whenever new views need a backfill,
    /// however fast that backfill runs. Follow it with ``definitionsChangeInProgress``. One change at a time:
    /// ``TallyError/Code/changeInProgress`` while another is backfilled.
    @discardableResult
    public func apply(_ definitions: Definitions, waitUntilServed: Bool = true) async throws(TallyError)
        -> DefinitionsChangeReport
    {
        let state = definitionsState
        let before = state.current
        let previous = before.newestServed?.version ?? 0
        let began = try await beginDefinitionsChange(definitions)
        let version = began.newest?.version ?? previous
        let fresh = Set(began.pending?.fresh ?? [])
        let catalog = began.versions[version]?.views
        let backfilled =
            catalog.map { catalog in
                catalog.views.filter { fresh.contains(catalog.states[$0.state].code) }.map(\.name)
            } ?? []
        var replayed: UInt64 = 0
        if began.pending != nil {
            // The backfill runs on its own task, so a caller that stops waiting does not stop it.
            let backfill = Task { () async -> Result<UInt64, TallyError> in
                do throws(TallyError) { return .success(try await self.backfillPendingDefinitions()) } catch {
                    return .failure(error)
                }
            }
            if waitUntilServed { replayed = try await backfill.value.get() }
        }
        // Not waiting, the report describes the change as it began, so a backfill that happens to
        // finish before this line still answers 202 "backfilling": the answer depends on the
        // request, not on how the backfill task was scheduled.
        let settled = waitUntilServed ? state.current : began
        let servedFrom = settled.served.first(where: { $0.version == version }).map { LSN($0.from) }
        return DefinitionsChangeReport(
            previousVersion: previous, version: version, changed: version != (before.newest?.version ?? 0),
            servedFrom: servedFrom, backfilledViews: backfilled, replayedEvents: replayed)
    }

    /// Begins a definitions change without running its backfill (``apply(_:waitUntilServed:)``
    /// runs it next; tests stop here to leave what a crash during the backfill leaves).
    @discardableResult
    func beginDefinitionsChange(_ definitions: Definitions) async throws(TallyError) -> DefinitionsState.Current {
        let state = definitionsState
        let databases = databases
        return try await write { txn in
            let updated = try DefinitionsChange.begin(definitions, state.current, in: txn, databases)
            state.update { $0 = updated }
            return updated
        }
    }

    /// Runs the pending change's backfill chunks until its version is served; returns the events
    /// replayed.
    func backfillPendingDefinitions() async throws(TallyError) -> UInt64 {
        let state = definitionsState
        let databases = databases
        let chunk = options.backfillChunk
        var replayed: UInt64 = 0
        while state.current.pending != nil {
            do {
                replayed = try await write(cost: chunk) { txn in
                    let step = try DefinitionsChange.step(state.current, chunk: chunk, in: txn, databases)
                    state.update { $0 = step.current }
                    return step.replayed
                }
            } catch  where error.code == .overloaded {
                // A full write queue refuses new work; the backfill waits its turn instead of failing.
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        return replayed
    }
}
