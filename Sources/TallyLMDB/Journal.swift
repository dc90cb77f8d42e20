import Glibc

/// The write-ahead journal of the journaled sync mode (docs/STORAGE.md, "The journaled mode").
///
/// Two files, `journal-0` and `journal-1`, written alternately: each checkpoint switches the
/// writer to the other file at offset 0, so the file being overwritten holds only records the
/// previous (completed) checkpoint already covers. One record per group commit, appended with one
/// `pwrite` and one `fdatasync` of a preallocated file (no size change to journal), so a commit
/// costs one short sequential flush instead of LMDB's flush of every page it dirtied.
///
/// Record: magic `TJR1` (4), kind (4: 0 entries, 1 cancel), sequence (8), journal id (8),
/// payload length (4), CRC-32 of kind, sequence, id, length and payload (4), payload. The id is
/// drawn anew each time the journaled mode starts (and saved in the checkpoint), so records left
/// by an earlier run, whose sequence numbers may repeat, are never taken for this run's. An
/// entries payload is ``LengthPrefixedChunks``; a cancel record's payload is the cancelled
/// sequence. Integers are little-endian. Recovery stops at the first record whose magic, CRC or sequence
/// does not follow: a torn tail was never acknowledged.
package final class Journal: @unchecked Sendable {
    static let recordMagic: UInt32 = 0x3152_4A54  // "TJR1"
    static let headerSize = 32
    static let initialFileSize = 1 << 20
    static let growthLimit = 64 << 20

    let directory: String
    private var descriptors: [Int32]
    private var sizes: [Int]
    /// The file records go to now, and where the next one starts.
    package private(set) var file: Int
    package private(set) var offset: Int
    /// The sequence of the last record written (0 before the first).
    package private(set) var lastSequence: UInt64
    /// This run's journal id (see the record layout above).
    let id: UInt64

    static func path(_ directory: String, file: Int) -> String { directory + "/journal-\(file)" }

    /// Opens (creating and preallocating) both files; the next record is `after + 1`, written to
    /// `file` at offset 0.
    init(directory: String, id: UInt64, file: Int, after sequence: UInt64) throws(LMDBError) {
        self.directory = directory
        self.id = id
        self.file = file
        self.offset = 0
        self.lastSequence = sequence
        var descriptors: [Int32] = []
        var sizes: [Int] = []
        for index in 0..<2 {
            let path = Journal.path(directory, file: index)
            let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                for open in descriptors { Glibc.close(open) }
                throw LMDBError(status: errno, operation: "open(\(path))")
            }
            descriptors.append(fd)
            var status = stat()
            fstat(fd, &status)
            sizes.append(Int(status.st_size))
        }
        self.descriptors = descriptors
        self.sizes = sizes
        for index in 0..<2 where sizes[index] < Journal.initialFileSize {
            try grow(index, to: Journal.initialFileSize)
        }
        try FileSync.directory(directory)
    }

    deinit { close() }

    func close() {
        for fd in descriptors where fd >= 0 { Glibc.close(fd) }
        descriptors = [-1, -1]
    }

    /// Appends one record holding `entries` and flushes it; returns its sequence.
    func append(entries: [[UInt8]]) throws(LMDBError) -> UInt64 {
        var payload: [UInt8] = []
        LengthPrefixedChunks.append(entries, to: &payload)
        return try write(kind: 0, payload: payload)
    }

    /// Records that the group journaled as `sequence` did not commit (its commit failed after
    /// the journal flush), so recovery does not apply it. Best effort: the store turns read-only.
    func cancel(_ sequence: UInt64) throws(LMDBError) {
        var payload: [UInt8] = []
        appendLittleEndian(sequence, to: &payload)
        _ = try write(kind: 1, payload: payload)
    }

    /// Sends the next records to the other file, from its start. Call only once the checkpoint
    /// covering everything in that file is durable.
    func switchFile() {
        file = 1 - file
        offset = 0
    }

    private func write(kind: UInt32, payload: [UInt8]) throws(LMDBError) -> UInt64 {
        let sequence = lastSequence + 1
        let record = Journal.encode(kind: kind, sequence: sequence, id: id, payload: payload)
        let end = offset + record.count
        if end > sizes[file] {
            try grow(file, to: max(end, min(sizes[file] * 2, sizes[file] + Journal.growthLimit)))
        }
        let fd = descriptors[file]
        let written = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == record.count else {
            throw LMDBError(status: written < 0 ? errno : noSpaceStatus, operation: "pwrite(journal-\(file))")
        }
        guard fdatasync(fd) == 0 else { throw LMDBError(status: errno, operation: "fdatasync(journal-\(file))") }
        offset = end
        lastSequence = sequence
        return sequence
    }

    /// Extends file `index` with written zeros (not a hole or an unwritten extent, so later
    /// appends change no file metadata and `fdatasync` flushes the data alone).
    private func grow(_ index: Int, to size: Int) throws(LMDBError) {
        let fd = descriptors[index]
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        var position = sizes[index]
        while position < size {
            let count = min(chunk.count, size - position)
            let written = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, off_t(position)) }
            guard written == count else {
                throw LMDBError(
                    status: written < 0 ? errno : noSpaceStatus, operation: "pwrite(journal-\(index) growth)")
            }
            position += count
        }
        guard fsync(fd) == 0 else { throw LMDBError(status: errno, operation: "fsync(journal-\(index))") }
        sizes[index] = size
    }

    static func encode(kind: UInt32, sequence: UInt64, id: UInt64, payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(headerSize + payload.count)
        appendLittleEndian(recordMagic, to: &record)
        appendLittleEndian(kind, to: &record)
        appendLittleEndian(sequence, to: &record)
        appendLittleEndian(id, to: &record)
        appendLittleEndian(UInt32(payload.count), to: &record)
        var crc = CRC32()
        crc.update(record[4..<28])
        crc.update(payload[...])
        appendLittleEndian(crc.value, to: &record)
        record.append(contentsOf: payload)
        return record
    }
}

/// One group commit read back from the journal.
package struct JournalRecord: Sendable, Equatable {
    package let sequence: UInt64
    /// The requests of the group, in the order they were applied.
    package let entries: [[UInt8]]
}

extension Journal {
    /// The records after `sequence`, in order, starting in `file` and following into the other
    /// file if a checkpoint had switched to it; cancelled groups are left out. Also returns the
    /// last sequence read (cancel records included), which new records must follow.
    static func records(directory: String, id: UInt64, file: Int, after sequence: UInt64) -> (
        records: [JournalRecord], last: UInt64
    ) {
        var found: [JournalRecord] = []
        var cancelled: Set<UInt64> = []
        var expected = sequence + 1
        var current = file
        for _ in 0..<2 {
            let bytes = readWhole(path(directory, file: current))
            var offset = 0
            var readAny = false
            while let (kind, number, payload, next) = decode(bytes, at: offset, id: id), number == expected {
                readAny = true
                guard let content = content(kind: kind, payload: payload) else { break }
                switch content {
                case .entries(let entries): found.append(JournalRecord(sequence: number, entries: entries))
                case .cancel(let group): cancelled.insert(group)
                }
                expected += 1
                offset = next
            }
            if !readAny && current != file { break }
            current = 1 - current
        }
        return (found.filter { !cancelled.contains($0.sequence) }, expected - 1)
    }

    /// Whether ``records(directory:id:file:after:)`` would find any record (a cancel record
    /// included), read from the first record of each file instead of the whole files: a
    /// read-only open only asks this.
    static func hasRecord(directory: String, id: UInt64, file: Int, after sequence: UInt64) -> Bool {
        [file, 1 - file].contains { index in
            let path = path(directory, file: index)
            let header = readWhole(path, upTo: headerSize)
            guard header.count == headerSize else { return false }
            let length = Int(readLittleEndian(header, at: 24, as: UInt32.self))
            let bytes = readWhole(path, upTo: headerSize + length)
            guard let (kind, number, payload, _) = decode(bytes, at: 0, id: id) else { return false }
            return number == sequence + 1 && content(kind: kind, payload: payload) != nil
        }
    }

    /// What a record holds: a group's entries, or the sequence of a group it cancels.
    private enum Content {
        case entries([[UInt8]])
        case cancel(UInt64)
    }

    /// A record's content; nil for a kind or payload this format does not have (recovery stops
    /// there, as at a torn record).
    private static func content(kind: UInt32, payload: ArraySlice<UInt8>) -> Content? {
        if kind == 0, let entries = LengthPrefixedChunks.decode(Array(payload), from: 0) { return .entries(entries) }
        if kind == 1, payload.count == 8 { return .cancel(readLittleEndian(Array(payload), at: 0, as: UInt64.self)) }
        return nil
    }

    private static func decode(_ bytes: [UInt8], at offset: Int, id: UInt64) -> (
        UInt32, UInt64, ArraySlice<UInt8>, Int
    )? {
        guard offset + headerSize <= bytes.count,
            readLittleEndian(bytes, at: offset, as: UInt32.self) == recordMagic
        else { return nil }
        let kind = readLittleEndian(bytes, at: offset + 4, as: UInt32.self)
        let sequence = readLittleEndian(bytes, at: offset + 8, as: UInt64.self)
        guard readLittleEndian(bytes, at: offset + 16, as: UInt64.self) == id else { return nil }
        let length = Int(readLittleEndian(bytes, at: offset + 24, as: UInt32.self))
        let stored = readLittleEndian(bytes, at: offset + 28, as: UInt32.self)
        let start = offset + headerSize
        guard length <= bytes.count - start else { return nil }
        var crc = CRC32()
        crc.update(bytes[(offset + 4)..<(offset + 28)])
        crc.update(bytes[start..<(start + length)])
        guard crc.value == stored else { return nil }
        return (kind, sequence, bytes[start..<(start + length)], start + length)
    }

    /// The file's bytes, or its first `limit` bytes; fewer if it is shorter, none if it is absent.
    static func readWhole(_ path: String, upTo limit: Int = .max) -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: min(Int(status.st_size), limit))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if count <= 0 { break }
            done += count
        }
        return Array(bytes[0..<done])
    }
}

/// A count (4 bytes) then each chunk as its length (4 bytes) and bytes, little-endian: the
/// journal's entries payload, and the lists inside the store's own journal entries.
package enum LengthPrefixedChunks {
    package static func append(_ chunks: [[UInt8]], to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + 4 + chunks.reduce(0) { $0 + 4 + $1.count })
        appendLittleEndian(UInt32(chunks.count), to: &bytes)
        for chunk in chunks {
            appendLittleEndian(UInt32(chunk.count), to: &bytes)
            bytes.append(contentsOf: chunk)
        }
    }

    /// The chunks from `start` to the end of `bytes`; nil unless they fill it exactly.
    package static func decode(_ bytes: [UInt8], from start: Int) -> [[UInt8]]? {
        guard start + 4 <= bytes.count else { return nil }
        let count = Int(readLittleEndian(bytes, at: start, as: UInt32.self))
        var offset = start + 4
        var chunks: [[UInt8]] = []
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { return nil }
            let length = Int(readLittleEndian(bytes, at: offset, as: UInt32.self))
            offset += 4
            guard length <= bytes.count - offset else { return nil }
            chunks.append(Array(bytes[offset..<(offset + length)]))
            offset += length
        }
        return offset == bytes.count ? chunks : nil
    }
}

package func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

package func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
    var value: T = 0
    for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
    return value
}

/// CRC-32 (IEEE, reflected), enough to tell a torn or stale journal record from a whole one.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }
    private var state: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes { state = CRC32.table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8) }
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }
}

/// fsync helpers for files the journaled mode replaces by rename.
enum FileSync {
    static func directory(_ path: String) throws(LMDBError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(status: errno, operation: "open(\(path))") }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw LMDBError(status: errno, operation: "fsync(\(path))") }
    }

    /// Writes `bytes` to `path` durably and atomically (temporary file, fsync, rename, fsync of
    /// the directory).
    static func replace(_ path: String, with bytes: [UInt8], directory: String) throws(LMDBError) {
        let temporary = path + ".tmp"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LMDBError(status: errno, operation: "open(\(temporary))") }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = written == bytes.count && fsync(fd) == 0
        let error = errno
        Glibc.close(fd)
        guard synced else {
            throw LMDBError(status: written < 0 || error != 0 ? error : noSpaceStatus, operation: "write(\(temporary))")
        }
        guard rename(temporary, path) == 0 else { throw LMDBError(status: errno, operation: "rename(\(temporary))") }
        try FileSync.directory(directory)
    }
}
