import Foundation
// A child process for the process-level tests.
//
// `CrashProbe write DIR ACKFILE RUN PRODUCERS`: PRODUCERS tasks each append single records
// "RUN:PRODUCER:SEQ" and await the durable ack; after each ack the record and its LSN are
// appended to ACKFILE and fsync'd, and only then is the next write issued. The crash test SIGKILLs
// this process at random moments and checks every acknowledged record is stored exactly once.
//
// `CrashProbe ingest DIR DEFS ACKFILE RUN PRODUCERS`: the same with events of the view tests'
// definitions: each producer ingests single `auth` events (id "RUN-PRODUCER-SEQ", card c<SEQ % 3>,
// amount SEQ % 97, time from the wall clock) and records "ID LSN" after each durable ack.
//
// `CrashProbe apply DIR DEFS CHUNK [PAUSE]`: prints "ready", then opens the store with the
// definitions in DEFS, backfilling their new views CHUNK events per durable transaction inside
// `open`, then prints "served". With PAUSE, after the PAUSE-th backfill transaction has committed
// it prints "paused" and sleeps: the backfill crash test SIGKILLs it there, mid-backfill.
//
// `CrashProbe read DIR STOPFILE`: opens the store read-only with a tiny map beside a writing
// process and reads until STOPFILE exists (at most 120 s), checking that the record at the
// visible head LSN is whole ("r<lsn>" padded). Prints `reads=N resizes=M errors=E` (resizes:
// MDB_MAP_RESIZED adopted).
@_spi(RawLog) @_spi(Testing) import Tally

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("CrashProbe: \(message)\n".utf8))
    exit(2)
}

/// Appends lines to the ack file with write(2) + fsync(2), one writer at a time, and prints
/// "acked" once the first is on disk (the crash tests kill after it, so that every kill lands
/// while acknowledged writes exist, however slow the machine).
final class AckLog: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var announced = false

    init(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { fail("cannot open \(path)") }
    }

    func record(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written != bytes.count || fsync(fd) != 0 { fail("ack file write failed") }
        if !announced {
            announced = true
            FileHandle.standardOutput.write(Data("acked\n".utf8))
        }
    }
}

/// `TALLY_DURABILITY=journaled` runs the write and ingest modes in the journaled mode, with a
/// checkpoint every 20 ms so kills land in every phase of it.
func probeOptions() -> Tally.Options {
    var options = Tally.Options()
    options.viewStageEntries = 32  // a kill finds view state in both the stage and `views`
    if ProcessInfo.processInfo.environment["TALLY_DURABILITY"] == "journaled" {
        options.durability = .journaled(checkpointInterval: .milliseconds(20))
    }
    return options
}

func writeMode(directory: String, ackPath: String, run: String, producers: Int) async throws {
    let store = try Tally.open(directory: directory, options: probeOptions())
    let acks = AckLog(path: ackPath)
    FileHandle.standardOutput.write(Data("ready\n".utf8))
    try await withThrowingTaskGroup(of: Void.self) { group in
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
        try await group.waitForAll()
    }
}

func ingestMode(directory: String, definitions: String, ackPath: String, run: String, producers: Int) async throws {
    let store = try Tally.open(
        directory: directory, definitions: try DefinitionsLoader.load(path: definitions), options: probeOptions())
    let acks = AckLog(path: ackPath)
    FileHandle.standardOutput.write(Data("ready\n".utf8))
    try await withThrowingTaskGroup(of: Void.self) { group in
        for producer in 0..<producers {
            group.addTask {
                var sequence = 0
                while true {
                    let id = "\(run)-\(producer)-\(sequence)"
                    let time = Int64(Date().timeIntervalSince1970 * 1000)
                    let event =
                        #"{"type":"auth","id":"\#(id)","ts":\#(time),"card":"c\#(sequence % 3)","merchant":"m\#(producer)","amount":\#(sequence % 97),"n":1,"country":"FR"}"#
                    let result = try await store.ingest(json: Array(event.utf8))
                    guard case .accepted(let lsn) = result.outcomes[0] else { fail("not accepted: \(result.outcomes)") }
                    acks.record("\(id) \(lsn)")
                    sequence += 1
                }
            }
        }
        try await group.waitForAll()
    }
}

func readMode(directory: String, stopFile: String) throws {
    var options = Tally.Options()
    options.access = .readOnly
    options.initialMapSize = 64 << 10  // smaller than the writer's: growth must be adopted
    let store = try Tally.open(directory: directory, options: options)
    let deadline = Date().addingTimeInterval(120)
    var reads = 0
    var errors = 0
    FileHandle.standardError.write(Data("reading\n".utf8))
    while Date() < deadline, reads == 0 || reads % 64 != 0 || !FileManager.default.fileExists(atPath: stopFile) {
        do {
            let whole = try store.read { snapshot -> Bool in
                let lsn = try snapshot.lsn
                guard lsn > .zero else { return true }
                guard let record = try snapshot.rawRecord(at: lsn) else { return false }
                return record.starts(with: Array("r\(lsn.rawValue)|".utf8))
            }
            if !whole { errors += 1 }
        } catch {
            FileHandle.standardError.write(Data("read failed: \(error)\n".utf8))
            errors += 1
        }
        reads += 1
    }
    let resizes = try store.statistics().mapGrowths
    print("reads=\(reads) resizes=\(resizes) errors=\(errors)")
    store.close()
}

func applyMode(directory: String, definitionsPath: String, chunk: Int, pause: Int?) throws {
    let definitions = try DefinitionsLoader.load(path: definitionsPath)
    var options = Tally.Options()
    options.backfillChunk = chunk
    options.openBackfillChunk = chunk
    if let pause {
        options.backfillStepCommitted = { step in
            guard step == pause else { return }
            FileHandle.standardOutput.write(Data("paused\n".utf8))
            while true { sleep(60) }
        }
    }
    options.retentionInterval = nil
    FileHandle.standardOutput.write(Data("ready\n".utf8))
    let store = try Tally.open(directory: directory, definitions: definitions, options: options)
    FileHandle.standardOutput.write(Data("served\n".utf8))
    store.close()
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "write" where arguments.count == 5:
        guard let producers = Int(arguments[4]) else { fail("PRODUCERS must be a number") }
        try await writeMode(directory: arguments[1], ackPath: arguments[2], run: arguments[3], producers: producers)
    case "ingest" where arguments.count == 6:
        guard let producers = Int(arguments[5]) else { fail("PRODUCERS must be a number") }
        try await ingestMode(
            directory: arguments[1], definitions: arguments[2], ackPath: arguments[3], run: arguments[4],
            producers: producers)
    case "read" where arguments.count == 3:
        try readMode(directory: arguments[1], stopFile: arguments[2])
    case "apply" where arguments.count == 4 || arguments.count == 5:
        guard let chunk = Int(arguments[3]) else { fail("CHUNK must be a number") }
        let pause = arguments.count == 5 ? Int(arguments[4]) : nil
        if arguments.count == 5, pause == nil { fail("PAUSE must be a number") }
        try applyMode(directory: arguments[1], definitionsPath: arguments[2], chunk: chunk, pause: pause)
    default:
        fail(
            "usage: CrashProbe write DIR ACKFILE RUN PRODUCERS | CrashProbe ingest DIR DEFS ACKFILE RUN PRODUCERS | "
                + "CrashProbe read DIR STOPFILE | CrashProbe apply DIR DEFS CHUNK [PAUSE]")
    }
} catch {
    fail("\(error)")
}
