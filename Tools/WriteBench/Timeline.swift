import Foundation
import Synchronization
import Tally

/// A timeline of one case, kept when `TALLY_TIMELINE_DIR` names a directory: every commit (with
/// its group size, apply and commit times) and every acknowledgement of the open loop, on one
/// monotonic clock, written to `DIR/<case>.timeline` when the case ends. What the tail waited for
/// shows there (`Tools/WriteBench/timeline.py` groups the slow acknowledgements with the
/// commits around them); the summary rows cannot say it.
///
/// Lines: `commit END_NS REQUESTS APPLY_NS COMMIT_NS` and `ack END_NS LATENCY_NS [LSN]` (the
/// commit LSN the acknowledgement carried, when the case knows it).
final class Timeline: Sendable {
    /// The timeline being kept, if `TALLY_TIMELINE_DIR` is set.
    static let shared: Timeline? = ProcessInfo.processInfo.environment["TALLY_TIMELINE_DIR"].map(Timeline.init)

    private let directory: String
    private let lines = Mutex<[String]>([])

    private init(directory: String) { self.directory = directory }

    /// Nanoseconds on `CLOCK_MONOTONIC`.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    func commit(_ report: CommitReport) {
        let line = "commit \(Self.now()) \(report.requests) \(nanoseconds(report.apply)) \(nanoseconds(report.commit))"
        lines.withLock { $0.append(line) }
    }

    func ack(latency: UInt64, lsn: UInt64? = nil) {
        let line = "ack \(Self.now()) \(latency)" + (lsn.map { " \($0)" } ?? "")
        lines.withLock { $0.append(line) }
    }

    /// Writes what was kept since the last save as `<name>.timeline`, and starts afresh.
    func save(as name: String) {
        let kept = lines.withLock { lines in
            defer { lines.removeAll() }
            return lines
        }
        let path = "\(directory)/\(name).timeline"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try (kept.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            print("  timeline: \(path) (\(kept.count) lines)")
        } catch {
            print("  timeline: could not write \(path): \(error)")
        }
    }
}
