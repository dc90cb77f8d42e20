import Foundation
import TallyLMDB

extension Tally {
    /// Writes a consistent copy of the store, as of one snapshot, into `directory` (created if
    /// absent, and it must be empty). Works while the store is being written, also from a
    /// read-only process beside the writer. With `compact`, free pages are left out (smaller, slower).
    /// The copy is a complete store: open it with ``Tally/open(directory:definitions:options:)``.
    ///
    /// ```swift
    /// try store.backup(to: "/backups/tally-2026-12-01", compact: true)
    /// ```
    public func backup(to directory: String, compact: Bool = false) throws(TallyError) {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TallyError(.invalidArgument, "cannot create the backup directory \(directory): \(error)")
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
    }
}
