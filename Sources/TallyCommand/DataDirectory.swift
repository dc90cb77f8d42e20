import ArgumentParser
import Foundation

/// `--data-dir`, shared by every command that opens a store.
struct DataDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The store's directory (default: $TALLY_DATA_DIR, else ./tally-data).")
    var path: String?

    /// The directory to use.
    var resolved: String {
        path ?? ProcessInfo.processInfo.environment["TALLY_DATA_DIR"] ?? "tally-data"
    }
}
