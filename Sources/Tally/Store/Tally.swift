import Foundation
import Synchronization
import TallyLMDB

/// A Tally store: one LMDB environment in one directory, one writer thread, bounded readers.
///
/// ```swift
/// let store = try Tally.open(directory: "/var/lib/tally")
/// let lsn = try store.read { snapshot in snapshot.lsn }
/// store.close()
/// ```
///
/// Every read runs in one LMDB read transaction, so everything it returns was true at the same
/// commit. Writes resolve only after their commit is durable (see ``Durability``).
public final class Tally: Sendable {
    /// The data directory.
    public let directory: String
    /// The options the store was opened with.
    public let options: Options
    let environment: Environment
    /// Nil when opened read-only.
    let writer: Writer?
    let databases: Databases
    /// Every definitions version, the newest, and a change in progress.
    let definitionsState: DefinitionsState
    /// Background retention (writable stores with ``Options/retentionInterval``).
    private let retention = Mutex<Task<Void, Never>?>(nil)

    struct Databases: Sendable {
        let meta: Database
        let log: Database
        let ids: Database
        let idCollisions: Database
        let views: Database
        let marks: Database
        let decisions: Database

        init(_ environment: Environment) {
            meta = environment.database(StoreLayout.meta.name)
            log = environment.database(StoreLayout.log.name)
            ids = environment.database(StoreLayout.ids.name)
            idCollisions = environment.database(StoreLayout.idCollisions.name)
            views = environment.database(StoreLayout.views.name)
            marks = environment.database(StoreLayout.marks.name)
            decisions = environment.database(StoreLayout.decisions.name)
        }
    }

    private init(
        directory: String, options: Options, environment: Environment, writer: Writer?,
        definitions: DefinitionsState.Current
    ) {
        self.directory = directory
        self.options = options
        self.environment = environment
        self.writer = writer
        self.definitionsState = DefinitionsState(definitions)
        self.databases = Databases(environment)
    }

    /// Opens the store in `directory`, creating it when opened for writing.
    ///
    /// With `definitions`, the store serves them: on a new store they become version 1; on an
    /// existing one, changed definitions must keep event types compatible and get the next version
    /// (otherwise ``TallyError/Code/incompatibleDefinitions``). Without, the store serves the
    /// definitions it holds.
    ///
    /// Opening reads only the store's metadata (no log replay). A store written in another on-disk
    /// format is refused with ``TallyError/Code/unsupportedFormat``; a second writing process gets
    /// ``TallyError/Code/storeBusy``.
    public static func open(
        directory: String, definitions: Definitions? = nil, options: Options = Options()
    ) throws(TallyError) -> Tally {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TallyError(.invalidArgument, "the data directory \(directory) is a file, not a directory")
        }
        do {
            let environment = try Environment.open(
                path: directory, options: options.environmentOptions, databases: StoreLayout.all)
            let definitionsState: DefinitionsState.Current
            do {
                try checkFormat(environment, directory: directory, writable: options.access == .readWrite)
                try replayJournal(environment, options: options)
                // The open's own writes below (backfill, rebuild) must not run under the pin.
                try environment.settleJournalRecovery()
                definitionsState = try loadDefinitions(
                    environment, definitions, chunk: options.openBackfillChunk, writable: options.access == .readWrite,
                    onStep: options.backfillStepCommitted, progress: options.openBackfillProgress)
            } catch {
                environment.close()
                throw error
            }
            let writer: Writer?
            do {
                writer = options.access == .readWrite ? try Writer(environment: environment) : nil
            } catch {
                environment.close()
                throw error
            }
            let store = Tally(
                directory: directory, options: options, environment: environment, writer: writer,
                definitions: definitionsState)
            if writer != nil, let interval = options.retentionInterval {
                store.retention.withLock { $0 = startRetention(store, every: interval) }
            }
            return store
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
    }

    /// Reads the stored definitions; a writable open also finishes a change a crash interrupted
    /// and applies `definitions`, each step in its own transaction begun and committed on this
    /// thread, before the writer thread starts (so no read sees a view half built).
    private static func loadDefinitions(
        _ environment: Environment, _ definitions: Definitions?, chunk: Int, writable: Bool,
        onStep: (@Sendable (Int) -> Void)?, progress: (@Sendable (DefinitionsProgress) -> Void)?
    ) throws -> DefinitionsState.Current {
        let databases = Databases(environment)
        var current = try environment.read { txn in try DefinitionsChange.load(txn, meta: databases.meta) }
        guard writable else {
            guard definitions == nil else {
                throw TallyError(.openedReadOnly, "definitions can only be applied by the writing process")
            }
            return current
        }
        func inTransaction(_ body: (WriteTransaction) throws -> Void) throws {
            let txn = try environment.beginWriteTransaction()
            do {
                try body(txn)
                try txn.commit()
            } catch {
                txn.abort()
                throw error
            }
        }
        var steps = 0
        func finishPendingChange() throws {
            while let pending = current.pending {
                var replayed: UInt64 = 0
                try inTransaction { txn in
                    let step = try DefinitionsChange.step(current, chunk: chunk, in: txn, databases)
                    current = step.current
                    replayed = step.replayed
                }
                steps += 1
                onStep?(steps)
                // Still pending: its recorded progress; served: every event up to the target.
                progress?(
                    current.pending.map(DefinitionsProgress.init)
                        ?? DefinitionsProgress(
                            version: pending.version, target: LSN(pending.target), replayedEvents: replayed,
                            next: LSN(pending.target + 1)))
            }
        }
        try inTransaction { txn in try DefinitionsChange.recordLegacyVersion(current, in: txn, meta: databases.meta) }
        try finishPendingChange()
        // Without new definitions, states the served ones lack or hold in an older layout (a
        // store written before count tiles, docs/VIEWS.md) are built by re-applying the stored
        // definitions.
        let rebuild = current.newest.map { !$0.views.unbuilt.isEmpty || !$0.views.legacy.isEmpty } ?? false
        if let apply = definitions ?? (rebuild ? current.newest?.definitions : nil) {
            try inTransaction { txn in current = try DefinitionsChange.begin(apply, current, in: txn, databases) }
            try finishPendingChange()
        }
        return current
    }

    /// Stamps a new store with the format version, or checks an existing one's. Runs before the
    /// writer thread starts; the write transaction begins and commits on this one thread.
    private static func checkFormat(_ environment: Environment, directory: String, writable: Bool) throws {
        let meta = environment.database(StoreLayout.meta.name)
        let stored = try environment.read { txn in
            try MetaKey.formatVersion.withUnsafeBytes { try txn.get(meta, $0).map { BigEndian.uint32($0) } }
        }
        func stamp(new: Bool) throws {
            let txn = try environment.beginWriteTransaction()
            do {
                try txn.put(meta, MetaKey.formatVersion, BigEndian.bytes(StoreLayout.formatVersion))
                if new { try ViewCodes.stampHeadCode(in: txn, meta: meta) }
                try txn.commit()
            } catch {
                txn.abort()
                throw error
            }
        }
        switch stored {
        case .some(.some(StoreLayout.formatVersion)):
            return
        case .some(.some(let old)) where !writable && StoreLayout.readableAsIs.contains(old):
            return
        case .some(.some(let old)) where writable && StoreLayout.upgradable.contains(old):
            try stamp(new: false)  // the open created the databases the newer format adds: stamping is the upgrade
        case .some(let other):
            let found = other.map(String.init) ?? "unreadable"
            throw TallyError(
                .unsupportedFormat,
                "the store at \(directory) has on-disk format \(found); this build reads format "
                    + "\(StoreLayout.formatVersion). Use a tally build for format \(found)")
        case .none:
            guard writable else { return }  // a reader of a store being created: nothing to check yet
            try stamp(new: true)
        }
    }

    /// A store dropped without ``close()`` still stops its writer thread and closes the environment.
    deinit { close() }

    /// Stops the writer (committing queued writes first) and closes the environment. Reads and
    /// writes after `close` are programming errors. Idempotent.
    public func close() {
        retention.withLock { $0?.cancel() }
        writer?.close()
        environment.close()
    }

    /// Runs `body` on one consistent snapshot (one LMDB read transaction).
    ///
    /// `body` is synchronous on purpose: a read transaction must not live across an `await`, and
    /// the snapshot is valid only inside `body`. Do not call `read` inside `body`.
    ///
    /// ```swift
    /// let lsn = try store.read { $0.lsn }
    /// ```
    public func read<Result>(_ body: (Snapshot) throws -> Result) throws -> Result {
        do {
            return try environment.read { txn in
                try body(
                    Snapshot(
                        transaction: txn, databases: databases, definitions: definitionsState.current,
                        wallClock: options.wallClock))
            }
        } catch let error as LMDBError {
            throw TallyError.fromStorage(error, path: directory)
        }
    }

    /// ``read(_:)`` for the typed-throwing API: every failure is a ``TallyError`` (an error `body`
    /// throws that is not one is a `storage_failure`).
    func readTyped<Result>(_ body: (Snapshot) throws -> Result) throws(TallyError) -> Result {
        do {
            return try read(body)
        } catch let error as TallyError {
            throw error
        } catch {
            throw TallyError(.storageFailure, "reading the store failed: \(error)", cause: error)
        }
    }

    /// Applies `body` in a write transaction on the writer thread; resolves after the durable
    /// commit. `body` may run more than once (see ``Writer``) and must act only through `txn`.
    ///
    /// `journal` is the request as ``JournalEntry`` records it for the journaled mode; writes
    /// without one are checkpointed before they resolve in that mode.
    func write<Value: Sendable>(
        cost: Int = 1, journal: [UInt8]? = nil, _ body: @escaping @Sendable (WriteTransaction) throws -> Value
    ) async throws(TallyError) -> Value {
        guard let writer else {
            throw TallyError(.openedReadOnly, "the store at \(directory) was opened read-only")
        }
        do {
            return try await writer.write(cost: cost, journal: journal, body).value
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
    }
}
