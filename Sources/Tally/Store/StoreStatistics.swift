import TallyLMDB

/// What `tally stats` prints: a point-in-time description of the store.
public struct StoreStatistics: Sendable, Codable {
    public var directory: String
    /// The store's on-disk format, as stored in its `meta` database (an older store opened
    /// read-only keeps its own until a writable open upgrades it; docs/STORAGE.md).
    public var formatVersion: UInt32
    public var lsn: LSN
    public var logEntries: Int
    public var mapSizeBytes: Int
    public var usedBytes: Int
    public var pageSize: Int
    public var readerSlotsInUse: Int
    public var readerSlots: Int
    /// Commits by this process's writer since open.
    public var commits: UInt64
    /// Map growths by this process since open.
    public var mapGrowths: Int
    public var durability: String
    /// Whether this process's writer keeps `data.mdb`'s page cache in single-page folios
    /// (docs/STORAGE.md, "Page-cache folios"): nil without a writer or with the option off, false
    /// once the shaper turned itself off after a failed system call.
    public var pageCacheShaping: Bool?
    /// Newest event time accepted (epoch ms); nil before the first event.
    public var watermark: Int64?
    public var definitionsVersion: UInt32
    /// The highest LSN retention dropped (0: none); reads need an LSN at least this.
    public var retentionFloorLSN: LSN = LSN(0)
    /// The oldest `at` answered (epoch ms); nil while retention dropped nothing.
    public var retentionFloorTime: Int64?
}

extension Tally {
    /// Describes the store as of now.
    public func statistics() throws -> StoreStatistics {
        let (format, lsn, entries, watermark, floor) = try read { snapshot in
            (
                try snapshot.transaction.value(databases.meta, MetaKey.formatVersion).flatMap {
                    $0.withUnsafeBytes(BigEndian.uint32)
                } ?? StoreLayout.formatVersion,
                try snapshot.lsn, try snapshot.transaction.entryCount(databases.log), try snapshot.watermark,
                try snapshot.retentionFloor
            )
        }
        let info = environment.info
        let durability: String =
            switch options.durability {
            case .durable: "durable"
            case .relaxed(let interval): "relaxed(flush every \(interval))"
            case .journaled(let interval): "journaled(checkpoint every \(interval))"
            }
        return StoreStatistics(
            directory: directory, formatVersion: format, lsn: lsn, logEntries: entries,
            mapSizeBytes: info.mapSize, usedBytes: info.usedBytes, pageSize: info.pageSize,
            readerSlotsInUse: info.readersInUse, readerSlots: info.maxReaders,
            commits: writer?.committedTransactions ?? 0, mapGrowths: environment.resizeCount, durability: durability,
            pageCacheShaping: writer?.pageCacheShaping, watermark: watermark,
            definitionsVersion: servedDefinitionsVersion, retentionFloorLSN: floor.lsn,
            retentionFloorTime: floor.isEmpty ? nil : floor.time)
    }

    /// LMDB entries of database `name` (`meta`, `log`, `ids`, `views`) touched since open, when
    /// `countEntryAccesses` is set; nil otherwise.
    @_spi(Testing)
    public func entryAccesses(in name: String) -> Int? {
        environment.counters?.count(environment.database(name))
    }

    /// Restarts the entry-access counters from zero.
    @_spi(Testing)
    public func resetEntryAccesses() {
        environment.counters?.reset()
    }

    /// Performs one durable write (a timestamp in the store's metadata, not a log entry) and reads
    /// it back; returns the written value. Used by `tally doctor`.
    public func checkWritePath(nowMilliseconds: UInt64) async throws(TallyError) -> UInt64 {
        let meta = databases.meta
        try await write { txn in try txn.put(meta, MetaKey.lastHealthCheck, BigEndian.bytes(nowMilliseconds)) }
        do {
            return try read { snapshot in
                try MetaKey.lastHealthCheck.withUnsafeBytes { key in
                    try snapshot.transaction.get(meta, key).flatMap(BigEndian.uint64) ?? 0
                }
            }
        } catch {
            throw TallyError.fromStorage(error, path: directory)
        }
    }
}
