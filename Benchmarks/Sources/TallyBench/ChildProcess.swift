import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A server the tool starts (redis-server, tally serve): output to a log file, PID in a pid file
/// (so `Tools/bench-compare` can stop it if this process dies), stopped by PID.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let logPath: String
    private let process = Process()
    private let pidPath: String
    private var stopped = false

    init(name: String, executable: String, arguments: [String], workDirectory: String) throws {
        self.name = name
        logPath = "\(workDirectory)/\(name).log"
        pidPath = "\(workDirectory)/pids/\(name).pid"
        try FileManager.default.createDirectory(atPath: "\(workDirectory)/pids", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try String(process.processIdentifier).write(toFile: pidPath, atomically: true, encoding: .utf8)
    }

    var pid: Int32 { process.processIdentifier }

    /// The log's text once `pattern` (a regular expression) matches it; fails after `timeout`.
    func waitForOutput(matching pattern: String, timeout: Double = 30) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil { return text }
            guard process.isRunning else { throw BenchError("\(name) exited early; its log \(logPath):\n\(text)") }
            usleep(20_000)
        }
        throw BenchError("\(name) did not print /\(pattern)/ within \(timeout) s; see \(logPath)")
    }

    /// SIGTERM, then SIGKILL after 10 s; idempotent.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: pidPath)
    }

    deinit { stop() }
}

/// The first capture group of `pattern` in `text`.
func firstCapture(_ pattern: String, in text: String) -> String? {
    guard let regex = try? NSRegularExpression(pattern: pattern),
        let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
        let range = Range(match.range(at: 1), in: text)
    else { return nil }
    return String(text[range])
}
