import TallyLMDB

/// The named databases of a store and the on-disk format version.
///
/// | database | key | value |
/// |---|---|---|
/// | `meta` | UTF-8 name | per key (see ``MetaKey``) |
/// | `log`  | LSN, 8-byte big-endian | the logged record (``LogRecord``) |
/// | `ids`  | level (1 byte, ``IdIndex``) + event type code (2 bytes) + 64-bit hash of the id (``IdIndexKey``) | LSN |
/// | `id_collisions` | full id key: type code + id tag + id (only for hash collisions) | LSN |
/// | `views` | entity key + view code + … (``ViewStateKey``) | view state; staged (``StagedDatabase``) |
/// | `views_stage` | as `views` | `01` + view state: puts not yet moved into `views` (a delete removes from both; the tombstone `00` of older builds is still read) |
/// | `marks` | kind + list or flag name + member + LSN (``MarkKey``) | validity interval (``MarkEntry``) |
/// | `decisions` | LSN of the decision, 8-byte big-endian | the decision record's JSON (``Decision``) |
enum StoreLayout {
    /// Bump when the meaning of any stored byte changes; opening refuses other versions.
    /// 2: the id index in levels (``IdIndex``). 3: lists, flags and decisions (the `marks` and
    /// `decisions` databases, log and journal kinds for their changes); a writable open upgrades a
    /// format-2 store. 4: entity heads may sort after the entity's states (`meta/view_head_code`,
    /// ``ViewCodes/headCode(_:meta:)``) and min/max tiles may start at 16 s, which a format-3
    /// build would misread. 5: view-state writes go through a stage (`views_stage`) that readers
    /// merge, which a format-4 build would not read.
    static let formatVersion: UInt32 = 5
    /// Formats a writable open upgrades in place: 2 differs by the `marks` and `decisions`
    /// databases, which the open creates; 3 holds nothing format 4 reads differently (no
    /// `view_head_code`: heads at code 0; states in older layouts are found by fingerprint); 4
    /// differs by the empty `views_stage`, which the open creates.
    static let upgradable: Set<UInt32> = [2, 3, 4]
    /// Older formats this build also opens read-only, as they are (without a stage).
    static let readableAsIs: Set<UInt32> = [3, 4]

    static let meta = DatabaseSpec("meta")
    static let log = DatabaseSpec("log")
    static let ids = DatabaseSpec("ids")
    static let idCollisions = DatabaseSpec("id_collisions")
    static let views = DatabaseSpec("views", staged: true, stageGroup: ViewStateKey.entityLength)
    static let marks = DatabaseSpec("marks")
    static let decisions = DatabaseSpec("decisions")
    static let all = [meta, log, ids, idCollisions, views, marks, decisions]
}

/// Keys of the `meta` database.
enum MetaKey {
    /// UInt32 big-endian: the format the store was written in.
    static let formatVersion = Array("format_version".utf8)
    /// UInt64 big-endian: the highest LSN committed.
    static let headLSN = Array("head_lsn".utf8)
    /// Int64 big-endian: the watermark, the newest event time accepted (absent: none yet).
    static let watermark = Array("watermark_ms".utf8)
    /// JSON of the current ``Definitions``.
    static let definitions = Array("definitions".utf8)
    /// UInt32 big-endian: the definitions version, 1 for the first applied.
    static let definitionsVersion = Array("definitions_version".utf8)
    /// UInt16 big-endian per event type: its stable code, `event_type_code/<name>`.
    static func eventTypeCode(_ name: String) -> [UInt8] { Array("event_type_code/\(name)".utf8) }
    /// UInt16 big-endian: the next event type code to assign.
    static let nextEventTypeCode = Array("event_type_next_code".utf8)
    /// The newest event time accepted of one event type (by name), epoch ms: per-view freshness.
    static func newestEventTime(_ name: String) -> [UInt8] { Array("newest_event_time/\(name)".utf8) }
    /// JSON `{fingerprint: code}` of the served views (``ViewCodes``).
    static let viewCodes = Array("view_codes".utf8)
    /// UInt16 big-endian: the next view code to assign.
    static let nextViewCode = Array("view_next_code".utf8)
    /// UInt16 big-endian: the code of entity heads in `views` (``ViewCodes/headCode(_:meta:)``);
    /// absent in stores created before heads sorted last, whose heads are code 0.
    static let viewHeadCode = Array("view_head_code".utf8)
    /// 24 bytes: the ``RetentionFloor`` (highest dropped LSN, oldest answerable time, watermark).
    static let retentionFloor = Array("retention_floor".utf8)
    /// A view-state sweep in progress (``ViewStateSweep``): the next `views` key to visit.
    static let sweepPosition = Array("retention_sweep_position".utf8)
    /// Int64 big-endian: the floor time the last completed view-state sweep reclaimed up to.
    static let sweptThrough = Array("retention_swept_through".utf8)
    /// The id index's per-level counts and move positions (``IdIndexLevels``).
    static let idIndexLevels = Array("id_index_levels".utf8)
    /// UInt64 big-endian: wall-clock ms of the last `tally doctor` write check.
    static let lastHealthCheck = Array("last_health_check_ms".utf8)
}

/// Fixed-width big-endian encoding, so that LMDB's memcmp key order is numeric order.
enum BigEndian {
    /// Appends `value`'s big-endian bytes to `bytes` (no intermediate array).
    static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    static func bytes(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func bytes(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func uint64(_ raw: UnsafeRawBufferPointer) -> UInt64? {
        guard raw.count == 8 else { return nil }
        return UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
    }

    static func bytes(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func bytes(_ value: UInt16) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func int64(_ raw: UnsafeRawBufferPointer) -> Int64? {
        guard raw.count == 8 else { return nil }
        return Int64(bigEndian: raw.loadUnaligned(as: Int64.self))
    }

    static func uint16(_ raw: UnsafeRawBufferPointer) -> UInt16? {
        guard raw.count == 2 else { return nil }
        return UInt16(bigEndian: raw.loadUnaligned(as: UInt16.self))
    }

    static func uint32(_ raw: UnsafeRawBufferPointer) -> UInt32? {
        guard raw.count == 4 else { return nil }
        return UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self))
    }
}

extension TransactionReading {
    /// An Int64 big-endian value of `meta` (the watermark, sweep marks), nil if absent.
    func int64(_ meta: Database, _ key: [UInt8]) throws -> Int64? {
        try key.withUnsafeBytes { try get(meta, $0).flatMap(BigEndian.int64) }
    }
}
