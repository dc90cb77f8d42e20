import Foundation
import TallyLMDB

extension Tally {
    /// Writes a consistent copy of the store, as of one snapshot, into `directory` (created if
    /// absent, and it must be empty). Works while the store is being written, also from a
    /// read-only process beside the writer. With `compact`, free pages are left out (smaller, slower).
    /// The copy is a complete store: open it with ``Tally/open(directory:definitions:options:)``.
    /// Returns the copy's LSN, read from the copy itself (the snapshot LMDB copied, which a read
    /// before or after the copy would not name while a writer commits).
    ///
    /// ```swift
    /// let lsn = try store.backup(to: "/backups/tally-2026-12-01", compact: true)
    /// ```
    @discardableResult
    public func backup(to directory: String, compact: Bool = false) throws(TallyError) -> LSN {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TallyError(.invalidArgument, "the backup target \(directory) is a file, not a directory")
        }
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TallyError(
                .invalidArgument, "cannot create the backup directory \(directory): \(error.localizedDescription)")
        }
        let existing = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
        guard existing.isEmpty else {
            throw TallyError(.invalidArgument, "the backup directory \(directory) is not empty")
        }
        do {
            try environment.copy(to: directory, compact: compact)
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
        var options = Options()
        options.access = .readOnly
        let copy = try Tally.open(directory: directory, options: options)
        defer {
            copy.close()
            // The copy's own open made a lock file; the copy is whole without it.
            try? manager.removeItem(atPath: directory + "/lock.mdb")
        }
        return try copy.readTyped { try $0.lsn }
    }
}
