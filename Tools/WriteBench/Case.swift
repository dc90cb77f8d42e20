import CLMDB
import Foundation
import Histogram
import Synchronization
@_spi(RawLog) import Tally

/// One benchmark case on a fresh store.
struct Case {
    let directory: String
    let seconds: Double
    let recordSize: Int
    let durability: Durability

    private func record(_ n: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: recordSize)
        withUnsafeBytes(of: UInt64(n).bigEndian) { for (i, b) in $0.enumerated() where i < recordSize { bytes[i] = b } }
        return bytes
    }

    private func open() throws -> Tally {
        var options = Tally.Options()
        options.durability = durability
        return try Tally.open(directory: directory, options: options)
    }

    /// fdatasync of one 4 KiB write on this filesystem: what one durable commit cannot beat.
    func fsyncBaseline() throws -> Result {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = Foundation.open(directory + "/fsync-probe", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        var latency = newHistogram()
        let page = [UInt8](repeating: 7, count: 4096)
        let clock = ContinuousClock()
        let start = clock.now
        var n = 0
        while clock.now - start < .seconds(seconds) {
            let t0 = clock.now
            _ = page.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t((n % 64) * 4096)) }
            fdatasync(fd)
            _ = latency.record(nanoseconds(clock.now - t0))
            n += 1
        }
        return Result(
            name: "fsync", records: n, seconds: (clock.now - start).secondsValue, commits: UInt64(n), latency: latency)
    }

    /// Raw LMDB on this thread: one synced transaction per `batch` appends (no Tally in the way).
    func rawLMDB(batch: Int) throws -> Result {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_mapsize(env, 64 << 30)
        var flags = UInt32(MDB_NOTLS)
        if case .relaxed = durability { flags |= UInt32(MDB_NOSYNC) }
        guard mdb_env_open(env, directory, flags, 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { mdb_env_close(env) }
        var dbi: MDB_dbi = 0
        var txn: OpaquePointer?
        mdb_txn_begin(env, nil, 0, &txn)
        mdb_dbi_open(txn, nil, 0, &dbi)
        mdb_txn_commit(txn)
        let clock = ContinuousClock()
        let start = clock.now
        var latency = newHistogram()
        var n = 0
        var commits: UInt64 = 0
        while clock.now - start < .seconds(seconds) {
            let t0 = clock.now
            mdb_txn_begin(env, nil, 0, &txn)
            for _ in 0..<batch {
                n += 1
                var key = UInt64(n).bigEndian
                var value = record(n)
                let status = withUnsafeMutableBytes(of: &key) { k in
                    value.withUnsafeMutableBytes { v in
                        var mk = MDB_val(mv_size: 8, mv_data: k.baseAddress)
                        var mv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                        return mdb_put(txn, dbi, &mk, &mv, UInt32(MDB_APPEND))
                    }
                }
                precondition(status == 0, "mdb_put failed: \(status)")
            }
            precondition(mdb_txn_commit(txn) == 0)
            commits += 1
            _ = latency.record(nanoseconds(clock.now - t0))
        }
        return Result(
            name: "lmdb\(batch)", records: n, seconds: (clock.now - start).secondsValue, commits: commits,
            latency: latency)
    }

    /// One producer, `batch` records per request, each awaited.
    func sequential(batch: Int) async throws -> Result {
        let store = try open()
        defer { store.close() }
        let clock = ContinuousClock()
        var latency = newHistogram()
        var n = 0
        let start = clock.now
        while clock.now - start < .seconds(seconds) {
            let records = (0..<batch).map { record(n + $0) }
            let t0 = clock.now
            _ = try await store.appendRawRecords(records)
            _ = latency.record(nanoseconds(clock.now - t0))
            n += batch
        }
        let elapsed = (clock.now - start).secondsValue
        return Result(
            name: "batch\(batch)", records: n, seconds: elapsed, commits: try store.statistics().commits,
            latency: latency)
    }

    /// `count` producers, each awaiting single-record writes.
    func producers(_ count: Int) async throws -> Result {
        let store = try open()
        defer { store.close() }
        let clock = ContinuousClock()
        let start = clock.now
        let (records, latency) = try await LoadShape.closedLoop(producers: count, until: start + .seconds(seconds)) {
            producer, n in
            _ = try await store.appendRawRecords([record(producer << 40 | n)])
            return true
        }
        return Result(
            name: "producers\(count)", records: records, seconds: (clock.now - start).secondsValue,
            commits: try store.statistics().commits, latency: latency)
    }

    /// Single-record writes sent at `rate`/s on a fixed schedule (``LoadShape/openLoop``).
    func openLoop(rate: Int) async throws -> Result {
        let store = try open()
        defer { store.close() }
        let total = Int(Double(rate) * seconds)
        let run = try await LoadShape.openLoop(rate: rate, count: total) { n in
            _ = try await store.appendRawRecords([record(n)])
            return nil
        }
        var result = Result(
            name: "openloop\(rate)", records: total, seconds: run.seconds, commits: try store.statistics().commits,
            latency: run.latency)
        result.sendLagP99Micros = Double(run.sendLag.valueAtPercentile(99)) / 1000
        return result
    }
}

extension Duration {
    var secondsValue: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
