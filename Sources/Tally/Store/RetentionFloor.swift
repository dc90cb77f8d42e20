import TallyLMDB

/// The oldest read point a store still answers exactly (docs/RETENTION.md).
///
/// Retention drops the log's prefix up to ``lsn``. Every event with an event time before
/// ``time`` has an LSN ≤ ``lsn``: an event is accepted only at or after the watermark minus its
/// lateness, and the watermark at ``lsn`` was ``watermark``. So a read at `(lsn′, at)` with
/// `lsn′ ≥ lsn` and `at ≥ time` counts every event its windows need, from the log or from view
/// state (whose reclaimed entries are folded into a checkpoint entry at or below the cut).
public struct RetentionFloor: Sendable, Equatable {
    /// The highest LSN dropped from the log (0: nothing dropped yet). Reads at LSNs from here on
    /// are exact.
    public let lsn: LSN
    /// The oldest `at` answered exactly (epoch ms); `Int64.min` while nothing was dropped.
    public let time: Int64
    /// The watermark when the event at ``lsn`` was accepted: the largest event time dropped.
    let watermark: Int64

    static let none = RetentionFloor(lsn: LSN(0), time: .min, watermark: .min)

    init(lsn: LSN, time: Int64, watermark: Int64) {
        self.lsn = lsn
        self.time = time
        self.watermark = watermark
    }

    /// Whether anything was dropped.
    public var isEmpty: Bool { lsn == LSN(0) }

    /// 24 bytes in `meta`: the LSN, the time and the watermark, big-endian.
    var encoded: [UInt8] {
        BigEndian.bytes(lsn.rawValue) + BigEndian.bytes(time) + BigEndian.bytes(watermark)
    }

    static func read(_ txn: some TransactionReading, meta: Database) throws -> RetentionFloor {
        try MetaKey.retentionFloor.withUnsafeBytes { key in
            guard let raw = try txn.get(meta, key), raw.count == 24 else { return .none }
            return RetentionFloor(
                lsn: LSN(BigEndian.uint64(UnsafeRawBufferPointer(rebasing: raw[0..<8])) ?? 0),
                time: BigEndian.int64(UnsafeRawBufferPointer(rebasing: raw[8..<16])) ?? .min,
                watermark: BigEndian.int64(UnsafeRawBufferPointer(rebasing: raw[16..<24])) ?? .min)
        }
    }

    /// The error of a read before the floor, naming the oldest answerable LSN and time.
    func refusal(lsn requested: LSN, at: Int64) -> TallyError? {
        guard requested < lsn || at < time else { return nil }
        let what = requested < lsn ? "lsn \(requested)" : "at = \(at) (\(Timestamp.format(at)))"
        return TallyError(
            .notRetained,
            "\(what) is older than what the store retains; the oldest answerable point is lsn \(lsn) "
                + "at \(time) (\(Timestamp.format(time))) or later")
    }
}

extension Snapshot {
    /// The oldest read point this snapshot answers exactly (``RetentionFloor/isEmpty`` before
    /// retention dropped anything). Read once, when the snapshot begins; it stays throwing for
    /// source compatibility.
    public var retentionFloor: RetentionFloor {
        get throws { floor }
    }
}
