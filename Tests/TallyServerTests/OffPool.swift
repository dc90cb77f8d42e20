import Foundation

/// Runs blocking work (a child process's output and exit) on a thread of its own and awaits it.
///
/// On 2 cores the concurrency pool has two threads, shared by every test that runs in parallel; a
/// test blocked in `waitUntilExit` or a pipe read holds one of them, and the async work of every
/// other test stalls behind it (seen as client read timeouts in the full suite).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
