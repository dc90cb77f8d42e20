/// The one key buffer a vector read builds its seek keys in (``SeekKey``). A hot vector makes
/// dozens of seeks; building each key in place spares an allocation, a prefix array and the
/// reference counting of both per seek.
final class KeyBuffer {
    private let bytes: UnsafeMutableRawBufferPointer

    init() { bytes = .allocate(byteCount: ViewStateKey.maxKeyBytes + 1, alignment: 8) }
    deinit { bytes.deallocate() }

    /// Starts a key on `entity · code · tag`, plus `level` for tiles; that much is the range's
    /// prefix. Valid until the next `start` on this buffer.
    func start(_ state: StateKey, tag: UInt8, level: Int? = nil) -> SeekKey {
        var count = state.entity.count
        precondition(count + 4 + 16 <= bytes.count, "an entity key of \(count) bytes is longer than LMDB allows")
        state.entity.withUnsafeBytes { bytes.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
        bytes.storeBytes(of: state.code.bigEndian, toByteOffset: count, as: UInt16.self)
        count += 2
        bytes[count] = tag
        count += 1
        if let level {
            bytes[count] = UInt8(level)
            count += 1
        }
        return SeekKey(bytes: bytes, count: count, prefixCount: count)
    }
}

/// The state of one entity: the entity key and the state's code, the first bytes of every key of
/// that state (``ViewStateKey/view(_:code:)``), without building them.
struct StateKey {
    let entity: [UInt8]
    let code: UInt16
}

/// A key being built in a ``KeyBuffer``: the range's prefix (`view · tag [· level]`), then the
/// position to seek to (times, LSNs).
struct SeekKey {
    fileprivate let bytes: UnsafeMutableRawBufferPointer
    fileprivate var count: Int
    /// How many leading bytes every entry of the range shares.
    let prefixCount: Int

    /// Appends a big-endian UInt64 (a time from ``time(_:)``, an LSN, a tile start).
    func append(_ value: UInt64) -> SeekKey {
        var key = self
        precondition(count + 8 <= bytes.count)
        bytes.storeBytes(of: value.bigEndian, toByteOffset: count, as: UInt64.self)
        key.count += 8
        return key
    }

    /// Appends `count` copies of `byte` (0xFF: past every key of the range).
    func pad(_ byte: UInt8, count extra: Int) -> SeekKey {
        var key = self
        precondition(count + extra <= bytes.count)
        for offset in count..<(count + extra) { bytes[offset] = byte }
        key.count += extra
        return key
    }

    /// Runs `body` with the key and its prefix, borrowed for the call (no other key of the same
    /// buffer may be started meanwhile).
    func with<R>(_ body: (_ key: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let base = UnsafeRawBufferPointer(bytes)
        return try body(
            UnsafeRawBufferPointer(rebasing: base[..<count]), UnsafeRawBufferPointer(rebasing: base[..<prefixCount]))
    }

    /// A time as stored in keys: negative clamps to 0.
    static func time(_ milliseconds: Int64) -> UInt64 { ViewStateKey.storedTime(milliseconds) }
}
