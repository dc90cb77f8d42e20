import Glibc

/// A durable point of the journaled mode: LMDB's two meta pages as they were right after the
/// checkpointed commit, saved once that commit's pages were flushed, plus the journal position
/// after it.
///
/// Why the meta pages: the journaled mode commits with `MDB_NOSYNC`, so after a power loss
/// `data.mdb` may hold a meta page whose tree did not reach the disk. Writing the saved meta pages
/// back before `mdb_env_open` returns the environment to the checkpointed snapshot. That snapshot's
/// own pages are intact because the writing process holds a read transaction on it (the pin) until
/// a newer checkpoint is durable, so LMDB reuses none of its pages in the meantime. The journal
/// then replays the groups after it.
///
/// File `checkpoint`: magic `TCK1` (4), format (4), covered sequence (8), next journal file (4),
/// page size (4), journal id (8), the two meta pages, CRC-32 of everything before it (4).
/// Little-endian.
struct Checkpoint: Equatable {
    static let magic: UInt32 = 0x314B_4354  // "TCK1"
    static let format: UInt32 = 1

    /// Journal records up to this sequence are in the checkpointed snapshot.
    var covered: UInt64
    /// The journal file the records after `covered` start in (at offset 0).
    var nextFile: Int
    /// The id of the journal run whose records follow (``Journal``).
    var journalID: UInt64
    /// Pages 0 and 1 of `data.mdb`.
    var metaPages: [UInt8]

    static func path(_ directory: String) -> String { directory + "/checkpoint" }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        appendLittleEndian(Checkpoint.magic, to: &bytes)
        appendLittleEndian(Checkpoint.format, to: &bytes)
        appendLittleEndian(covered, to: &bytes)
        appendLittleEndian(UInt32(nextFile), to: &bytes)
        appendLittleEndian(UInt32(metaPages.count / 2), to: &bytes)
        appendLittleEndian(journalID, to: &bytes)
        bytes.append(contentsOf: metaPages)
        var crc = CRC32()
        crc.update(bytes[...])
        appendLittleEndian(crc.value, to: &bytes)
        return bytes
    }

    /// The checkpoint in `directory`; nil when there is none. A file that is not a whole
    /// checkpoint is an error: the rename that installs it is atomic, so that is damage.
    static func load(_ directory: String) throws(LMDBError) -> Checkpoint? {
        let path = path(directory)
        guard access(path, F_OK) == 0 else { return nil }
        let bytes = Journal.readWhole(path)
        guard bytes.count >= 36,
            readLittleEndian(bytes, at: 0, as: UInt32.self) == magic,
            readLittleEndian(bytes, at: 4, as: UInt32.self) == format
        else { throw LMDBError(status: EINVAL, operation: "read(\(path)): not a tally checkpoint") }
        let pageSize = Int(readLittleEndian(bytes, at: 20, as: UInt32.self))
        guard bytes.count == 32 + 2 * pageSize + 4 else {
            throw LMDBError(status: EINVAL, operation: "read(\(path)): truncated checkpoint")
        }
        var crc = CRC32()
        crc.update(bytes[0..<(bytes.count - 4)])
        guard crc.value == readLittleEndian(bytes, at: bytes.count - 4, as: UInt32.self) else {
            throw LMDBError(status: EINVAL, operation: "read(\(path)): checkpoint checksum mismatch")
        }
        return Checkpoint(
            covered: readLittleEndian(bytes, at: 8, as: UInt64.self),
            nextFile: Int(readLittleEndian(bytes, at: 16, as: UInt32.self)) & 1,
            journalID: readLittleEndian(bytes, at: 24, as: UInt64.self),
            metaPages: Array(bytes[32..<(32 + 2 * pageSize)]))
    }

    func save(_ directory: String) throws(LMDBError) {
        try FileSync.replace(Checkpoint.path(directory), with: encoded(), directory: directory)
    }

    /// Removes the checkpoint and, unless `keepingJournal`, the journal files, after a flush made
    /// `data.mdb` authoritative (a store leaving the journaled mode; recovery done at an open).
    /// Without a checkpoint no open reads the journal; kept, the writer reuses its files.
    static func remove(_ directory: String, keepingJournal: Bool = false) throws(LMDBError) {
        unlink(path(directory))
        if !keepingJournal {
            for file in 0..<2 { unlink(Journal.path(directory, file: file)) }
        }
        try FileSync.directory(directory)
    }
}

/// LMDB's meta pages in `data.mdb`, read and written with plain file I/O.
enum MetaPages {
    static func dataPath(_ directory: String) -> String { directory + "/data.mdb" }

    /// Pages 0 and 1 as the page cache holds them now.
    static func read(_ directory: String, pageSize: Int) throws(LMDBError) -> [UInt8] {
        let path = dataPath(directory)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(status: errno, operation: "open(\(path))") }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 2 * pageSize)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count == bytes.count else {
            throw LMDBError(status: count < 0 ? errno : EIO, operation: "pread(\(path))")
        }
        return bytes
    }

    /// Writes `pages` over pages 0 and 1 and flushes them. Refuses (store busy) while another
    /// process has the environment open: LMDB's shared lock table would keep the newer snapshot.
    static func restore(_ directory: String, _ pages: [UInt8]) throws {
        let lockPath = directory + "/lock.mdb"
        let lockFD = Glibc.open(lockPath, O_RDWR | O_CLOEXEC)
        if lockFD >= 0 {
            defer { Glibc.close(lockFD) }
            // LMDB's own exclusive-open probe: a write lock on byte 0 of the lock file.
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = 0
            lock.l_len = 1
            guard fcntl(lockFD, F_SETLK, &lock) == 0 else {
                throw EnvironmentError.recoveryNeedsExclusiveAccess(path: directory)
            }
            try write(directory, pages)
        } else {
            try write(directory, pages)
        }
    }

    private static func write(_ directory: String, _ pages: [UInt8]) throws(LMDBError) {
        let path = dataPath(directory)
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(status: errno, operation: "open(\(path))") }
        defer { Glibc.close(fd) }
        let count = pages.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard count == pages.count else {
            throw LMDBError(status: count < 0 ? errno : EIO, operation: "pwrite(\(path))")
        }
        guard fdatasync(fd) == 0 else { throw LMDBError(status: errno, operation: "fdatasync(\(path))") }
    }
}
