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

/// How the crash tests reopen a store a child wrote in `durability` ("durable" or "journaled"):
/// a journaled store alternately in its own mode and in the durable one, which retires its journal.
func reopenOptions(_ durability: String, run: Int) -> Tally.Options {
    var options = Tally.Options()
    if durability == "journaled" && run % 2 == 0 { options.durability = .journaled() }
    return options
}

/// The stable code of the error `body` throws (a non-Tally error as its description); nil when it
/// succeeds.
func errorCode(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch let error as TallyError {
        return error.code.rawValue
    } catch {
        return "\(error)"
    }
}
