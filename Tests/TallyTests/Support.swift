import Foundation

@testable import Tally

/// A temporary data directory, removed by `remove()`.
struct TemporaryDirectory {
    let path = NSTemporaryDirectory() + "tally-test-\(UUID().uuidString)"
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The CrashProbe executable, built next to the test bundle.
var crashProbePath: String {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return executable.deletingLastPathComponent().appendingPathComponent("CrashProbe").path
}

/// Whether we run in CI (smaller counts, same checks).
var isCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }
