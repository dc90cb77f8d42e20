/// The one key buffer a vector read builds its seek keys in: `view · tag [· level]`, the range's
/// prefix, then the position (times, LSNs) to seek to. A hot vector makes dozens of seeks; building
/// each key in place spares an allocation (and a prefix array) per seek.
final class SeekKey {
    private var bytes: [UInt8] = []
    /// How many leading bytes every entry of the range shares (the prefix of the range sought).
    private var prefixCount = 0

    init() { bytes.reserveCapacity(ViewStateKey.maxKeyBytes + 1) }

    /// Starts a key on `view · tag`, plus `level` for tiles; that much is the range's prefix.
    @discardableResult
    func start(_ view: [UInt8], tag: UInt8, level: Int? = nil) -> SeekKey {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: view)
        bytes.append(tag)
        if let level { bytes.append(UInt8(level)) }
        prefixCount = bytes.count
        return self
    }

    /// Appends a time (negative clamps to 0, as stored keys do) or an LSN, big-endian.
    @discardableResult
    func append(_ value: UInt64) -> SeekKey {
        BigEndian.append(value, to: &bytes)
        return self
    }

    /// Appends `count` copies of `byte` (0xFF: past every key of the range).
    @discardableResult
    func pad(_ byte: UInt8, count: Int) -> SeekKey {
        bytes.append(contentsOf: repeatElement(byte, count: count))
        return self
    }

    /// Runs `body` with the key built so far and its prefix (both borrowed for the call).
    func with<R>(_ body: (_ key: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let prefixCount = prefixCount
        return try bytes.withUnsafeBytes { key in
            try body(key, UnsafeRawBufferPointer(rebasing: key[..<prefixCount]))
        }
    }

    /// A time as stored in keys: negative clamps to 0.
    static func time(_ milliseconds: Int64) -> UInt64 { UInt64(max(0, milliseconds)) }
}
