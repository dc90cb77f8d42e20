import CLMDB
import Glibc
import Synchronization

/// Keeps `data.mdb`'s page cache in single-page folios, so LMDB's one-page overwrites stay cheap
/// in the kernel (docs/STORAGE.md, "Page-cache folios").
///
/// A filesystem with large folios (ext4 since Linux 6.16) caches a run of pages written by one
/// `pwritev` in one folio of up to 2 MiB, and every later 4 KiB write into it walks the whole
/// folio's buffer heads. LMDB writes the pages it allocates at the end of the file in long runs,
/// then rewrites them one page at a time for the rest of the store's life. The shaper extends the
/// file ahead of LMDB's last page (`ftruncate`; the new part is a hole) and reads each new page
/// once with readahead off, which caches it as one zero-filled single-page folio; LMDB's later
/// writes land in those. The environment is opened with `MDB_NORDAHEAD`, so a page read through
/// the map after a restart is cached alone too.
///
/// Only the writer thread calls ``prepare(usedBytes:mapSize:)``, between write transactions: the
/// `fstat`-then-`ftruncate` is safe only because nothing else writes `data.mdb` meanwhile (on
/// another thread it could shrink the file under LMDB's writes). A failure of any call leaves
/// the shaper off for the process: it changes what the kernel caches, never what LMDB stores.
final class PageCacheShaper {
    private let descriptor: Int32
    private let pageSize: Int
    /// Bytes of the file the shaper has extended and cached (at open: LMDB's used bytes, so a
    /// lead an earlier process prepared, no longer cached after a restart, is read again).
    private var preparedEnd: Int
    /// Set by the writer thread when a call fails; read by `/metrics` (any thread).
    private let failed = Atomic<Bool>(false)

    /// Whether the shaper still works: false once a call failed and turned it off for the process
    /// (commits are then slower, nothing else changes; `tally_store_page_cache_shaping` says so).
    var isActive: Bool { !failed.load(ordering: .relaxed) }

    /// How far past LMDB's last page the file is kept prepared, for a store using `usedBytes`:
    /// a quarter of the store, between 8 MiB and 256 MiB. More than one write transaction
    /// allocates (a 4,096-event request on the example definitions dirties about 110 MB at 10M
    /// events); a transaction that outruns it only gets large folios for the pages past it.
    static func lead(usedBytes: Int) -> Int { min(256 << 20, max(8 << 20, usedBytes / 4)) }

    init?(dataPath: String, pageSize: Int, usedBytes: Int) {
        let fd = open(dataPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            return nil
        }
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_RANDOM))
        descriptor = fd
        self.pageSize = pageSize
        preparedEnd = min(Int(status.st_size), usedBytes) / pageSize * pageSize
    }

    deinit { close(descriptor) }

    /// Extends and caches the file up to ``lead(usedBytes:)`` bytes past `usedBytes` (at most
    /// `mapSize`), in steps of a quarter of the lead so that most commits do nothing (the first
    /// call of a process prepares the whole lead, up to 256 MiB: 65,536 one-byte reads).
    func prepare(usedBytes: Int, mapSize: Int) {
        let lead = Self.lead(usedBytes: usedBytes)
        guard isActive, usedBytes + lead / 4 * 3 > preparedEnd, preparedEnd < mapSize else { return }
        let target = min(mapSize, (usedBytes + lead) / pageSize * pageSize)
        guard target > preparedEnd else { return }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return fail() }
        if Int(status.st_size) < target {
            guard ftruncate(descriptor, off_t(target)) == 0 else { return fail() }
        }
        var byte: UInt8 = 0
        var offset = preparedEnd
        while offset < target {
            guard pread(descriptor, &byte, 1, off_t(offset)) == 1 else { return fail() }
            offset += pageSize
        }
        preparedEnd = target
    }

    private func fail() { failed.store(true, ordering: .relaxed) }
}
