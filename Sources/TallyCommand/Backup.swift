import ArgumentParser
import Foundation
import Tally

/// `tally backup DIR [--compact]`: an online, consistent copy of the store.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the store, consistent as of one snapshot, into DIR (safe while a server writes it).",
        discussion: """
            DIR is created if absent and must be empty. The copy is a complete store: point --data-dir at it. \
            The data directory's token file (tokens.json, hashes only), if there is one, is copied beside it \
            (mode 0600), so a server started on the copy accepts the same tokens.
            """)

    @Argument(help: "The directory to write the copy into.") var directory: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Flag(help: "Leave free pages out (a smaller copy, slower to make).") var compact = false

    func run() async throws {
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let lsn = try store.backup(to: directory, compact: compact)
        print("backed up \(dataDirectory.resolved) at lsn \(lsn) into \(directory)\(compact ? " (compacted)" : "")")
        copyTokenFile()
    }

    /// Copies DATA_DIR/tokens.json into the backup, owner-only like the original.
    private func copyTokenFile() {
        let manager = FileManager.default
        let source = URL(fileURLWithPath: dataDirectory.resolved).appendingPathComponent("tokens.json").path
        guard manager.fileExists(atPath: source) else { return }
        let target = URL(fileURLWithPath: directory).appendingPathComponent("tokens.json").path
        // The store's copy is complete either way: a token file that cannot be copied is a
        // warning (exit 0), not a failed backup.
        guard let contents = manager.contents(atPath: source), Self.create(target, contents) else {
            try? manager.removeItem(atPath: target)
            FileHandle.standardError.write(
                Data("tally backup: warning: the token file \(source) could not be copied; back it up yourself\n".utf8))
            return
        }
        print("copied the token file to \(target)")
    }

    /// Creates `path` with mode 0600 from the start (never readable by others) and writes `contents`.
    private static func create(_ path: String, _ contents: Data) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return contents.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { return false }
                offset += written
            }
            return fsync(descriptor) == 0
        }
    }
}
