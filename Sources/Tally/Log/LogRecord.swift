/// The value stored under an LSN in the `log` database.
///
/// | bytes | field |
/// |---|---|
/// | 1 | kind: 0 raw (benchmarks and tests), 1 event, 2 definitions change, 3 list or flag change, 4 decision |
/// | 2 | event type code, big-endian (events) |
/// | 8 | event time, epoch ms, big-endian (events) |
/// | 8 | ingest time, epoch ms, big-endian (events) |
/// | rest | raw bytes, or the event's canonical JSON |
///
/// A definitions change holds the served version (4 bytes, big-endian) after the kind; a list or
/// flag change, the `marks` key of its member and the entry it stored (``MarkChange``); a decision
/// nothing more (its record is in `decisions` under the same LSN, kept past the log's retention).
enum LogRecord {
    static let rawKind: UInt8 = 0
    static let eventKind: UInt8 = 1
    static let definitionsKind: UInt8 = 2
    static let markKind: UInt8 = 3
    static let decisionKind: UInt8 = 4

    static func definitionsChange(version: UInt32) -> [UInt8] { [definitionsKind] + BigEndian.bytes(version) }
    static let eventHeaderSize = 19

    static func event(typeCode: UInt16, time: Int64, ingestTime: Int64, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(eventHeaderSize + payload.count)
        bytes.append(eventKind)
        withUnsafeBytes(of: typeCode.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: time.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: ingestTime.bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: payload)
        return bytes
    }

    static func raw(_ payload: [UInt8]) -> [UInt8] { [rawKind] + payload }

    /// The stored event's fields, borrowed from `bytes`.
    struct StoredEvent {
        let typeCode: UInt16
        let time: Int64
        let ingestTime: Int64
        let payload: UnsafeRawBufferPointer
    }

    static func decodeEvent(_ bytes: UnsafeRawBufferPointer) -> StoredEvent? {
        guard bytes.count >= eventHeaderSize, bytes[0] == eventKind else { return nil }
        return StoredEvent(
            typeCode: UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt16.self)),
            time: Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: 3, as: Int64.self)),
            ingestTime: Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: 11, as: Int64.self)),
            payload: UnsafeRawBufferPointer(rebasing: bytes[eventHeaderSize...]))
    }
}

/// The value stored under an id-index key (``IdIndexKey``) or a full id key in `id_collisions`:
/// the LSN of the event.
enum IdempotencyEntry {
    static func encode(lsn: UInt64) -> [UInt8] { BigEndian.bytes(lsn) }
    static func decode(_ bytes: UnsafeRawBufferPointer) -> UInt64? { BigEndian.uint64(bytes) }
}
