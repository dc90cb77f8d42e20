// A child process for the crash-durability tests: `CrashProbe DIR ACKFILE RUN PRODUCERS`.
//
// PRODUCERS tasks each append single records "RUN:PRODUCER:SEQ" and await the durable ack; after
// each ack the record and its LSN are appended to ACKFILE and fsync'd, and only then is the next
// write issued. The test SIGKILLs this process at random moments and checks that every record in
// ACKFILE is in the store exactly once, at its LSN.
@_spi(RawLog) import Tally
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 5, let producers = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: CrashProbe DIR ACKFILE RUN PRODUCERS\n".utf8))
    exit(2)
}
let (directory, ackPath, run) = (arguments[1], arguments[2], arguments[3])

/// Appends lines to the ack file with write(2) + fsync(2), one writer at a time.
final class AckLog: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()

    init(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot open \(path)")
    }

    func record(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count && fsync(fd) == 0, "ack file write failed")
    }
}

do {
    let store = try Tally.open(directory: directory)
    let acks = AckLog(path: ackPath)
    FileHandle.standardOutput.write(Data("ready\n".utf8))
    await withThrowingTaskGroup(of: Void.self) { group in
        for producer in 0..<producers {
            group.addTask {
                var sequence = 0
                while true {
                    let record = "\(run):\(producer):\(sequence)"
                    let range = try await store.appendRawRecords([Array(record.utf8)])
                    acks.record("\(record) \(range.first)")
                    sequence += 1
                }
            }
        }
    }
} catch {
    FileHandle.standardError.write(Data("CrashProbe: \(error)\n".utf8))
    exit(1)
}
