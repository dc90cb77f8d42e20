import Foundation
import Testing

@testable import TallyLMDB

/// The page-cache shaper (docs/STORAGE.md, "Page-cache folios"): the writer keeps `data.mdb`
/// extended and cached ahead of LMDB's last page, and that changes nothing LMDB stores.
@Suite struct PageCacheShaperTests {
    static func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 2048) }

    /// `data.mdb`'s size in bytes.
    static func fileSize(_ directory: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/data.mdb")
        return try #require(attributes[.size] as? Int)
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Whether `directory` is on tmpfs, where reading a hole caches nothing.
    /// (The mount with the longest mount point that prefixes it, from `/proc/mounts`.)
    static func onTmpfs(_ directory: String) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let path: String = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path + "/"
        var best = ""
        var type = ""
        for line in mounts.split(separator: "\n") {
            let fields: [String] = line.split(separator: " ").map(String.init)
            guard fields.count > 2 else { continue }
            let point: String = fields[1] == "/" ? "/" : fields[1] + "/"
            if path.hasPrefix(point) && point.count > best.count {
                best = point
                type = fields[2]
            }
        }
        return type == "tmpfs"
    }

    /// How many of the file's pages in `range` (bytes, page-aligned) are in the page cache.
    static func residentPages(_ directory: String, _ range: Range<Int>) throws -> Int {
        let fd = open(directory + "/data.mdb", O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let length = range.upperBound
        let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
        try #require(map != MAP_FAILED)
        defer { munmap(map, length) }
        let page = pageSize
        var vector = [UInt8](repeating: 0, count: (length + page - 1) / page)
        try #require(mincore(map, length, &vector) == 0)
        return vector[(range.lowerBound / page)...].filter { $0 & 1 == 1 }.count
    }

    @Test func keepsTheFileCachedAheadOfLMDBsLastPage() async throws {
        let store = try TestStore()
        defer { store.close() }
        for i in 0..<200 { try await store.put("k\(i)", Self.value(i)) }
        store.writer.close()  // the writer prepares after acknowledging: let it finish
        let used = store.environment.info.usedBytes
        let size = try Self.fileSize(store.directory)
        // At least three quarters of the 8 MiB lead of a small store lies past the last page…
        #expect(size >= used + (6 << 20), "file \(size) bytes, LMDB uses \(used)")
        #expect(size <= store.environment.info.mapSize)
        // …and it is cached: the shaper read every page of it (at least half still there, in
        // case memory pressure evicted some; on tmpfs a read hole caches nothing).
        if !Self.onTmpfs(store.directory) {
            let prepared = try Self.residentPages(store.directory, used..<size)
            #expect(prepared * 2 >= (size - used) / Self.pageSize, "\(prepared) pages cached")
        }
        for i in [0, 99, 199] { #expect(try store.value("k\(i)") == Self.value(i)) }
    }

    @Test func aStoreWithAPreparedFileReopensWithItsData() async throws {
        let store = try TestStore()
        let directory = store.directory
        for i in 0..<200 { try await store.put("k\(i)", Self.value(i)) }
        let used = store.environment.info.usedBytes
        store.writer.close()
        store.environment.close()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.fileSize(directory) > used)

        var options = EnvironmentOptions()
        options.mapSize = 64 << 20
        let environment = try Environment.open(path: directory, options: options, databases: [DatabaseSpec("data")])
        let writer = try Writer(environment: environment)
        let data = environment.database("data")
        _ = try await writer.write { txn in try txn.put(data, Array("k200".utf8), Self.value(200)) }
        for i in [0, 199, 200] {
            #expect(try environment.read { txn in try txn.value(data, Array("k\(i)".utf8)) } == Self.value(i))
        }
        #expect(try environment.read { txn in try txn.entryCount(data) } == 201)
        writer.close()
        environment.close()
    }

    @Test func offLeavesTheFileAtLMDBsOwnSize() async throws {
        let store = try TestStore { $0.shapePageCache = false }
        defer { store.close() }
        for i in 0..<200 { try await store.put("k\(i)", Self.value(i)) }
        store.writer.close()
        let used = store.environment.info.usedBytes
        #expect(try Self.fileSize(store.directory) < used + (1 << 20))
    }

    /// A failed call turns the shaper off and says so (`tally_store_page_cache_shaping` 0): here
    /// `ftruncate` of a FIFO fails with EINVAL.
    @Test func aFailedCallTurnsTheShaperOffVisibly() throws {
        let path = NSTemporaryDirectory() + "shaper-fifo-\(UUID().uuidString)"
        #expect(mkfifo(path, 0o600) == 0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shaper = try #require(PageCacheShaper(dataPath: path, pageSize: Self.pageSize, usedBytes: 0))
        #expect(shaper.isActive)
        shaper.prepare(usedBytes: 0, mapSize: 1 << 30)
        #expect(!shaper.isActive)
        shaper.prepare(usedBytes: 0, mapSize: 1 << 30)  // off for good: no further calls
        #expect(!shaper.isActive)

        let store = try TestStore()
        defer { store.close() }
        #expect(store.writer.pageCacheShaping == true)
        let off = try TestStore { $0.shapePageCache = false }
        defer { off.close() }
        #expect(off.writer.pageCacheShaping == nil)
    }

    @Test func neverPreparesPastTheMap() async throws {
        let store = try TestStore { $0.mapSize = 1 << 20 }
        defer { store.close() }
        for i in 0..<8 { try await store.put("k\(i)", Self.value(i)) }
        store.writer.close()
        #expect(try Self.fileSize(store.directory) <= store.environment.info.mapSize)
    }
}
