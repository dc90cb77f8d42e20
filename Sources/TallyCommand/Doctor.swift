import ArgumentParser
import Foundation
import Tally

/// `tally doctor`: opens (creating if needed) the store, makes one durable write and reads it
/// back, and reports what an operator needs to know.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the store, check the durable write path and print its health.")

    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() async throws {
        let directory = dataDirectory.resolved
        let started = ContinuousClock.now
        let store = try Tally.open(directory: directory, options: OpenProgress.options("tally doctor"))
        defer { store.close() }
        let opened = ContinuousClock.now
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let readBack = try await store.checkWritePath(nowMilliseconds: now)
        let written = ContinuousClock.now
        guard readBack == now else {
            throw ValidationError("write check failed: wrote \(now), read back \(readBack)")
        }
        let stats = try store.statistics()
        print("store       \(URL(fileURLWithPath: directory).standardizedFileURL.path)")
        print("format      \(stats.formatVersion)")
        print("durability  \(stats.durability)")
        print("open        \(milliseconds(opened - started)) ms")
        print("durable write + read back  \(milliseconds(written - opened)) ms  ok")
        print("lsn         \(stats.lsn)  (log entries: \(stats.logEntries))")
        print("map         \(stats.usedBytes / 1024) KiB used of \(stats.mapSizeBytes >> 20) MiB mapped")
        print("readers     \(stats.readerSlotsInUse) of \(stats.readerSlots) slots in use")
        print("healthy")
    }
}

func milliseconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.2f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
}
