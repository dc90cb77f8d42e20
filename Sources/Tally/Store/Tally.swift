import Foundation
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
    /// The definitions in force (nil for a store that has none yet).
    let stored: StoredDefinitions?

    struct Databases: Sendable {
        let meta: Database
        let log: Database
        let ids: Database
        let idCollisions: Database
        let views: Database
    }

    private init(
        directory: String, options: Options, environment: Environment, writer: Writer?, stored: StoredDefinitions?
    ) {
        self.directory = directory
        self.options = options
        self.environment = environment
        self.writer = writer
        self.stored = stored
        self.databases = Databases(
            meta: environment.database(StoreLayout.meta.name), log: environment.database(StoreLayout.log.name),
            ids: environment.database(StoreLayout.ids.name),
            idCollisions: environment.database(StoreLayout.idCollisions.name),
            views: environment.database(StoreLayout.views.name))
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
        do {
            let environment = try Environment.open(
                path: directory, options: options.environmentOptions, databases: StoreLayout.all)
            let stored: StoredDefinitions?
            do {
                try checkFormat(environment, directory: directory, writable: options.access == .readWrite)
                stored = try loadDefinitions(
                    environment, definitions, directory: directory, writable: options.access == .readWrite)
            } catch {
                environment.close()
                throw error
            }
            let writer = options.access == .readWrite ? Writer(environment: environment) : nil
            return Tally(
                directory: directory, options: options, environment: environment, writer: writer, stored: stored)
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
    }

    /// Applies `definitions` (writable) or reads the stored ones. Runs before the writer thread
    /// starts, in one transaction begun and committed on this thread.
    private static func loadDefinitions(
        _ environment: Environment, _ definitions: Definitions?, directory: String, writable: Bool
    ) throws -> StoredDefinitions? {
        let meta = environment.database(StoreLayout.meta.name)
        guard let definitions else {
            return try environment.read { txn in try StoredDefinitions.read(txn, meta: meta) }
        }
        guard writable else {
            throw TallyError(.openedReadOnly, "definitions can only be applied by the writing process")
        }
        let txn = try environment.beginWriteTransaction()
        do {
            let (stored, freshViews) = try StoredDefinitions.apply(definitions, in: txn, meta: meta)
            try ViewBackfill.run(
                stored, codes: freshViews, in: txn, log: environment.database(StoreLayout.log.name),
                views: environment.database(StoreLayout.views.name))
            try txn.commit()
            return stored
        } catch {
            txn.abort()
            throw error
        }
    }

    /// Stamps a new store with the format version, or checks an existing one's. Runs before the
    /// writer thread starts; the write transaction begins and commits on this one thread.
    private static func checkFormat(_ environment: Environment, directory: String, writable: Bool) throws {
        let meta = environment.database(StoreLayout.meta.name)
        let stored = try environment.read { txn in
            try MetaKey.formatVersion.withUnsafeBytes { try txn.get(meta, $0).map { BigEndian.uint32($0) } }
        }
        switch stored {
        case .some(.some(StoreLayout.formatVersion)):
            return
        case .some(let other):
            let found = other.map(String.init) ?? "unreadable"
            throw TallyError(
                .unsupportedFormat,
                "the store at \(directory) has on-disk format \(found); this build reads format "
                    + "\(StoreLayout.formatVersion). Use a tally build for format \(found)")
        case .none:
            guard writable else { return }  // a reader of a store being created: nothing to check yet
            let txn = try environment.beginWriteTransaction()
            do {
                try txn.put(meta, MetaKey.formatVersion, BigEndian.bytes(StoreLayout.formatVersion))
                try txn.commit()
            } catch {
                txn.abort()
                throw error
            }
        }
    }

    /// A store dropped without ``close()`` still stops its writer thread and closes the environment.
    deinit { close() }

    /// Stops the writer (committing queued writes first) and closes the environment. Reads and
    /// writes after `close` are programming errors. Idempotent.
    public func close() {
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
                try body(Snapshot(transaction: txn, databases: databases, stored: stored, wallClock: options.wallClock))
            }
        } catch let error as LMDBError {
            throw TallyError.fromStorage(error, path: directory)
        }
    }

    /// Applies `body` in a write transaction on the writer thread; resolves after the durable
    /// commit. `body` may run more than once (see ``Writer``) and must act only through `txn`.
    func write<Value: Sendable>(
        cost: Int = 1, _ body: @escaping @Sendable (WriteTransaction) throws -> Value
    ) async throws(TallyError) -> Value {
        guard let writer else {
            throw TallyError(.openedReadOnly, "the store at \(directory) was opened read-only")
        }
        do {
            return try await writer.write(cost: cost, body).value
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
    }
}
