import TallyLMDB

/// A contiguous range of LSNs assigned to one request.
public struct LSNRange: Sendable, Hashable, CustomStringConvertible {
    public let first: LSN
    public let last: LSN
    public var count: Int { Int(last.rawValue - first.rawValue + 1) }
    public var description: String { "\(first)...\(last)" }
}

extension Tally {
    /// Appends opaque records to the log in one request: they get dense consecutive LSNs and become
    /// visible together at one commit. Resolves after that commit is durable.
    ///
    /// The storage primitive under event ingest; exposed as SPI for the benchmarks, the crash
    /// harness and the engine's own tests.
    @_spi(RawLog)
    public func appendRawRecords(_ records: [[UInt8]]) async throws(TallyError) -> LSNRange {
        guard !records.isEmpty else { throw TallyError(.invalidArgument, "append at least one record") }
        let databases = databases
        let journal = options.isJournaled ? JournalEntry.rawRecords(records) : nil
        return try await write(cost: records.count, journal: journal) { txn in
            try Tally.appendRaw(records, in: txn, databases: databases)
        }
    }

    /// The write half of ``appendRawRecords(_:)`` (also its journal replay).
    static func appendRaw(_ records: [[UInt8]], in txn: WriteTransaction, databases: Databases) throws -> LSNRange {
        let head = try MetaKey.headLSN.withUnsafeBytes { key in
            try txn.get(databases.meta, key).flatMap(BigEndian.uint64) ?? 0
        }
        var lsn = head
        for record in records {
            lsn += 1
            try txn.put(databases.log, BigEndian.bytes(lsn), LogRecord.raw(record), flags: .append)
        }
        try txn.put(databases.meta, MetaKey.headLSN, BigEndian.bytes(lsn))
        return LSNRange(first: LSN(head + 1), last: LSN(lsn))
    }
}

extension Snapshot {
    /// The record logged at `lsn`, if retained.
    @_spi(RawLog)
    public func rawRecord(at lsn: LSN) throws -> [UInt8]? {
        try storageCall {
            try transaction.value(databases.log, BigEndian.bytes(lsn.rawValue)).map { Array($0.dropFirst()) }
        }
    }

    /// Calls `body` for every retained record in LSN order, from `start`, with its bytes after the
    /// kind byte; stop by returning false.
    @_spi(RawLog)
    public func forEachRawRecord(from start: LSN = LSN(1), _ body: (LSN, UnsafeRawBufferPointer) throws -> Bool) throws
    {
        try storageCall {
            try transaction.withCursor(databases.log) { cursor in
                var entry = try BigEndian.bytes(start.rawValue).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                while let current = entry, let lsn = BigEndian.uint64(current.key) {
                    guard try body(LSN(lsn), UnsafeRawBufferPointer(rebasing: current.value.dropFirst())) else {
                        return
                    }
                    entry = try cursor.next()
                }
            }
        }
    }
}
