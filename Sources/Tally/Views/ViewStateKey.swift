import Foundation

/// Keys of the `views` database. Every key starts with the entity key, so one entity's state for
/// all its views sits on neighbouring pages (an event dirties few pages; docs/VIEWS.md):
///
/// | key | value |
/// |---|---|
/// | entity · head code (2) | newest LSN that changed any view of this entity key (8 bytes) |
/// | entity · view code (2) · 0x01 · event time (8) · LSN (8) | per layout: running totals, value or member |
/// | entity · view code (2) · 0x02 · level (1) · tile start (8) | min and max of the tile (min/max views) |
/// | entity · view code (2) · 0x03 · member | the member's latest (event time, LSN) (count_distinct) |
/// | entity · view code (2) · 0x04 · event time (8) · LSN (8) · member | empty: members by latest occurrence |
/// | entity · view code (2) · 0x05 | empty: some member was too long for the two keys above |
/// | entity · view code (2) · 0x06 · level (1) · tile start (8) | members whose latest occurrence is in the tile (8 bytes; count_distinct) |
/// | entity · view code (2) · 0x07 · event time (8) · LSN (8) | the value of an event that beats every later one (min/max chain) |
///
/// The view code is the code of a view *state* (``ViewState``), which several views may share.
/// The head code is ``headAfterStates`` (0xFFFF, a code no state gets), so the head sorts after
/// the entity's states, next to the newest entries of the last one; stores created before it keep
/// ``headBeforeStates`` (0x0000), recorded in `meta` (``ViewCodes/headCode(_:meta:)``).
///
/// `entity` is a tag (1 string, 2 int) then the UTF-8 bytes with a 2-byte length, or the int as 8
/// order-preserving bytes. All integers are big-endian so memcmp order is numeric order. Keys are
/// at most 3 + 256 + 2 + 1 + 16 = 278 bytes, under LMDB's 511.
enum ViewStateKey {
    static let seriesTag: UInt8 = 1
    static let tileTag: UInt8 = 2
    static let memberTag: UInt8 = 3
    static let lastSeenTag: UInt8 = 4
    static let memberIndexUnusableTag: UInt8 = 5
    static let countTileTag: UInt8 = 6
    static let chainTag: UInt8 = 7
    /// LMDB's key limit.
    static let maxKeyBytes = 511

    static func member(_ view: [UInt8], _ member: [UInt8]) -> [UInt8] {
        var key = key(view, tag: memberTag, extra: member.count)
        key.append(contentsOf: member)
        return key
    }

    static func lastSeen(_ view: [UInt8], time: Int64, lsn: UInt64, member: [UInt8]) -> [UInt8] {
        var key = key(view, tag: lastSeenTag, extra: 16 + member.count)
        BigEndian.append(storedTime(time), to: &key)
        BigEndian.append(lsn, to: &key)
        key.append(contentsOf: member)
        return key
    }

    static func memberIndexUnusable(_ view: [UInt8]) -> [UInt8] { key(view, tag: memberIndexUnusableTag, extra: 0) }

    /// A min/max chain entry: `view · 0x07 · time · LSN`.
    static func chain(_ view: [UInt8], time: Int64, lsn: UInt64) -> [UInt8] {
        var key = key(view, tag: chainTag, extra: 16)
        BigEndian.append(storedTime(time), to: &key)
        BigEndian.append(lsn, to: &key)
        return key
    }

    /// `prefix · tag`, with room for `extra` more bytes: every key below is built in one allocation
    /// (reads and ingest build dozens per vector or event).
    private static func key(_ prefix: [UInt8], tag: UInt8, extra: Int) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(prefix.count + 1 + extra)
        key.append(contentsOf: prefix)
        key.append(tag)
        return key
    }

    /// The entity part of every key; nil for a value that cannot be a key of `type`.
    static func entity(_ key: FieldValue) -> [UInt8]? {
        switch key {
        case .string(let text):
            guard let length = UInt16(exactly: text.utf8.count) else { return nil }
            var key: [UInt8] = [1]
            key.reserveCapacity(3 + text.utf8.count)
            BigEndian.append(length, to: &key)
            key.append(contentsOf: text.utf8)
            return key
        case .int(let number):
            var key: [UInt8] = [2]
            key.reserveCapacity(9)
            BigEndian.append(UInt64(bitPattern: number) ^ (1 << 63), to: &key)
            return key
        default:
            return nil
        }
    }

    /// The length of the entity part of a `views` key (``entity(_:)``): the stage's group
    /// (``StoreLayout/views``), so a move of the stage never splits an entity. The whole key
    /// when it starts with no entity.
    @Sendable static func entityLength(_ key: UnsafeRawBufferPointer) -> Int {
        guard let tag = key.first else { return 0 }
        switch tag {
        case 1 where key.count >= 3: return min(key.count, 3 + (Int(key[1]) << 8 | Int(key[2])))
        case 2: return min(key.count, 9)
        default: return key.count
        }
    }

    /// An event time as keys store it: unsigned big-endian milliseconds, a negative time (never
    /// stored: events are rejected) clamped to 0 so seeks below the epoch start at the beginning.
    static func storedTime(_ milliseconds: Int64) -> UInt64 { UInt64(max(0, milliseconds)) }

    /// The head code of stores created since heads sort last (``ViewCodes/headCode(_:meta:)``).
    static let headAfterStates: UInt16 = 0xFFFF
    /// The head code of older stores.
    static let headBeforeStates: UInt16 = 0

    /// The entity's head: `entity · code`, where `code` is the store's head code.
    static func head(_ entity: [UInt8], code: UInt16) -> [UInt8] { view(entity, code: code) }

    static func view(_ entity: [UInt8], code: UInt16) -> [UInt8] {
        var key: [UInt8] = []
        // Room for the longest key built on it (a series key), so `seriesPrefix` need not copy.
        key.reserveCapacity(entity.count + 2 + 17)
        key.append(contentsOf: entity)
        BigEndian.append(code, to: &key)
        return key
    }

    /// Prefix of a view's series entries: `view · 0x01`.
    static func seriesPrefix(_ view: [UInt8]) -> [UInt8] { key(view, tag: seriesTag, extra: 16) }

    static func series(_ prefix: [UInt8], time: Int64, lsn: UInt64) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(prefix.count + 16)
        key.append(contentsOf: prefix)
        BigEndian.append(storedTime(time), to: &key)
        BigEndian.append(lsn, to: &key)
        return key
    }

    /// Event time and LSN of a series key with the given prefix length.
    static func timeAndLSN(_ key: UnsafeRawBufferPointer, prefixCount: Int) -> (time: Int64, lsn: UInt64) {
        let time = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: prefixCount, as: UInt64.self))
        let lsn = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: prefixCount + 8, as: UInt64.self))
        return (Int64(time), lsn)
    }

    static func tile(_ view: [UInt8], level: Int, start: Int64) -> [UInt8] {
        var key = key(view, tag: tileTag, extra: 9)
        key.append(UInt8(level))
        BigEndian.append(UInt64(start), to: &key)
        return key
    }

    /// Prefix of a view's tiles of one level: `view · 0x02 · level` (min/max) or `view · 0x06 ·
    /// level` (`counts`: count_distinct).
    static func tilePrefix(_ view: [UInt8], level: Int, counts: Bool = false) -> [UInt8] {
        var key = key(view, tag: counts ? countTileTag : tileTag, extra: 9)
        key.append(UInt8(level))
        return key
    }

    /// A count_distinct tile: `view · 0x06 · level · start`.
    static func countTile(_ view: [UInt8], level: Int, start: Int64) -> [UInt8] {
        var key = tilePrefix(view, level: level, counts: true)
        BigEndian.append(UInt64(start), to: &key)
        return key
    }

    /// Whether `key` starts with `prefix`.
    static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        prefix.withUnsafeBytes { hasPrefix(key, $0) }
    }

    /// Whether `key` starts with `prefix`.
    static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) -> Bool {
        guard key.count >= prefix.count else { return false }
        guard !prefix.isEmpty else { return true }  // (an empty buffer may have no base address)
        return memcmp(key.baseAddress!, prefix.baseAddress!, prefix.count) == 0
    }
}

/// Running totals of an invertible aggregate up to one series entry: the count of contributions,
/// the sum of their values and the sum of their squares, all exact (values in micro-units, squares
/// in micro-units squared). Stored as the count (8 bytes), then the sum (16) for totals, then the
/// squares (16) for stddev: 8, 24 or 40 bytes, so a count costs no sums.
struct RunningTotals: Equatable {
    var count: Int64 = 0
    var sum: Int128 = 0
    var squares: Int128 = 0

    /// `self + other`, nil on overflow.
    func adding(_ other: RunningTotals) -> RunningTotals? {
        let c = count.addingReportingOverflow(other.count)
        let s = sum.addingReportingOverflow(other.sum)
        let q = squares.addingReportingOverflow(other.squares)
        guard !c.overflow, !s.overflow, !q.overflow else { return nil }
        return RunningTotals(count: c.partialValue, sum: s.partialValue, squares: q.partialValue)
    }

    /// `self − other` (never overflows for totals of one series).
    func subtracting(_ other: RunningTotals) -> RunningTotals {
        RunningTotals(count: count &- other.count, sum: sum &- other.sum, squares: squares &- other.squares)
    }

    /// One contribution of `micros` (nil value: a count contribution), with its square when
    /// `squares` (stddev); nil if the square overflows.
    static func contribution(micros: Int128?, squares: Bool) -> RunningTotals? {
        guard let micros else { return RunningTotals(count: 1) }
        guard squares else { return RunningTotals(count: 1, sum: micros) }
        let square = micros.multipliedReportingOverflow(by: micros)
        guard !square.overflow else { return nil }
        return RunningTotals(count: 1, sum: micros, squares: square.partialValue)
    }

    func encoded(_ kind: ViewStateKind) -> [UInt8] {
        var bytes = BigEndian.bytes(UInt64(bitPattern: count))
        guard kind != .count else { return bytes }
        bytes.reserveCapacity(40)
        Self.append(sum, to: &bytes)
        if kind == .squares { Self.append(squares, to: &bytes) }
        return bytes
    }

    init(count: Int64 = 0, sum: Int128 = 0, squares: Int128 = 0) {
        self.count = count
        self.sum = sum
        self.squares = squares
    }

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == 8 || raw.count == 24 || raw.count == 40 else { return nil }
        count = Int64(bitPattern: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)))
        sum = raw.count >= 24 ? Self.int128(raw, at: 8) : 0
        squares = raw.count == 40 ? Self.int128(raw, at: 24) : 0
    }

    static func append(_ value: Int128, to bytes: inout [UInt8]) {
        let bits = UInt128(bitPattern: value)
        bytes.append(contentsOf: BigEndian.bytes(UInt64(truncatingIfNeeded: bits >> 64)))
        bytes.append(contentsOf: BigEndian.bytes(UInt64(truncatingIfNeeded: bits)))
    }

    static func int128(_ raw: UnsafeRawBufferPointer, at offset: Int) -> Int128 {
        let high = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        let low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        return Int128(bitPattern: UInt128(high) << 64 | UInt128(low))
    }
}

/// Stored form of a view value or member: a tag, then 16 bytes of micro-units (numbers), 8 bytes
/// of epoch ms (timestamps), 1 byte (bools) or UTF-8 (strings). Equal values have equal bytes.
enum StoredValue {
    static func encode(_ value: ExpressionValue) -> [UInt8]? {
        switch value {
        case .null: return nil
        case .number(let micros):
            var bytes: [UInt8] = [1]
            RunningTotals.append(micros, to: &bytes)
            return bytes
        case .string(let text): return [2] + Array(text.utf8)
        case .timestamp(let ms): return [3] + BigEndian.bytes(ms)
        case .bool(let flag): return [4, flag ? 1 : 0]
        }
    }

    static func decode(_ raw: UnsafeRawBufferPointer) -> ExpressionValue {
        guard let tag = raw.first else { return .null }
        switch tag {
        case 1 where raw.count == 17: return .number(micros: RunningTotals.int128(raw, at: 1))
        case 2: return .string(String(decoding: UnsafeRawBufferPointer(rebasing: raw[1...]), as: UTF8.self))
        case 3 where raw.count == 9:
            return .timestamp(Int64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: Int64.self)))
        case 4 where raw.count == 2: return .bool(raw[1] != 0)
        default: return .null
        }
    }

    /// A tile: the encoded min then the encoded max, each prefixed by its length.
    static func tile(min: [UInt8], max: [UInt8]) -> [UInt8] {
        [UInt8(min.count)] + min + [UInt8(max.count)] + max
    }

    static func decodeTile(_ raw: UnsafeRawBufferPointer) -> (min: ExpressionValue, max: ExpressionValue)? {
        guard let minCount = raw.first.map(Int.init), raw.count > minCount + 1 else { return nil }
        let maxCount = Int(raw[minCount + 1])
        guard raw.count == minCount + maxCount + 2 else { return nil }
        let minValue = decode(UnsafeRawBufferPointer(rebasing: raw[1..<(1 + minCount)]))
        let maxValue = decode(UnsafeRawBufferPointer(rebasing: raw[(minCount + 2)...]))
        return (minValue, maxValue)
    }

    /// Whether `a` orders before `b` (numbers and timestamps; other kinds never do).
    static func less(_ a: ExpressionValue, _ b: ExpressionValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x < y
        case (.timestamp(let x), .timestamp(let y)): x < y
        case (.string(let x), .string(let y)): x < y
        default: false
        }
    }
}
