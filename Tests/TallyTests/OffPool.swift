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

/// Reads a child's output off the concurrency pool until a line equal to one of `lines` arrives
/// or the output ends (the child exited); returns what was read.
func waitForLine(_ lines: String..., in output: Pipe) async throws -> String {
    let handle = output.fileHandleForReading
    let wanted = Set(lines.map { Substring($0) })
    return try await offPool {
        var printed = ""
        while !printed.split(separator: "\n").contains(where: wanted.contains) {
            let data = handle.availableData
            if data.isEmpty { break }
            printed += String(decoding: data, as: UTF8.self)
        }
        return printed
    }
}
