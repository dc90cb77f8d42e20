import Foundation
import Testing

@testable import Tally

/// `Tally.backup(to:compact:)` while a writer commits.
@Suite struct BackupTests {
    /// The LSN a backup reports is the copy's own: read from the copy, not from the source before
    /// or after (which a writer committing meanwhile has moved).
    @Test func aBackupNamesTheLSNOfTheSnapshotItCopied() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try ViewSemanticsTests.open(directory)
        defer { store.close() }
        let writer = Task {
            var n = 0
            while !Task.isCancelled {
                _ = try await store.ingest(ViewSemanticsTests.auth("w\(n)", ViewSemanticsTests.t0 + Int64(n)))
                n += 1
            }
        }
        defer { writer.cancel() }
        for round in 0..<3 {
            let copy = TemporaryDirectory()
            defer { copy.remove() }
            try await Task.sleep(for: .milliseconds(20))
            let reported = try store.backup(to: copy.path, compact: round == 1)
            var readOnly = Tally.Options()
            readOnly.access = .readOnly
            let restored = try Tally.open(directory: copy.path, options: readOnly)
            #expect(try restored.read { try $0.lsn } == reported)
            restored.close()
        }
    }
}
