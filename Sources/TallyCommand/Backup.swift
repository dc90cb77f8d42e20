import ArgumentParser
import Foundation
import Tally

/// `tally backup DIR [--compact]`: an online, consistent copy of the store.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the store, consistent as of one snapshot, into DIR (safe while a server writes it).",
        discussion: "DIR is created if absent and must be empty. The copy is a complete store: point --data-dir at it.")

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
    }
}
