import Foundation
import TallyLMDB

/// An event as stored in the log.
public struct LoggedEvent: Sendable, Hashable {
    public let lsn: LSN
    public let type: String
    /// Event time, epoch ms.
    public let time: Int64
    /// When the store accepted it (wall clock, epoch ms).
    public let ingestTime: Int64
    /// The canonical JSON the store keeps: `type` first, then the declared fields in order, nulls
    /// left out.
    public let json: String
    /// The fields typed by the event type's declaration.
    public let fields: [String: FieldValue]
}

extension Snapshot {
    /// The event logged at `lsn`, if it is an event and retained.
    public func event(at lsn: LSN) throws -> LoggedEvent? {
        try storageCall {
            try BigEndian.bytes(lsn.rawValue).withUnsafeBytes { key in
                try transaction.get(databases.log, key).flatMap { decodeLoggedEvent(lsn, $0) }
            }
        }
    }

    /// Calls `body` for each logged event from `start` in LSN order; stop by returning false.
    public func forEachEvent(from start: LSN = LSN(1), _ body: (LoggedEvent) throws -> Bool) throws {
        try storageCall {
            try transaction.withCursor(databases.log) { cursor in
                var entry = try BigEndian.bytes(start.rawValue).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                while let current = entry, let lsn = BigEndian.uint64(current.key) {
                    if let event = decodeLoggedEvent(LSN(lsn), current.value) {
                        guard try body(event) else { return }
                    }
                    entry = try cursor.next()
                }
            }
        }
    }

    private func decodeLoggedEvent(_ lsn: LSN, _ bytes: UnsafeRawBufferPointer) -> LoggedEvent? {
        guard let stored = LogRecord.decodeEvent(bytes) else { return nil }
        let json = String(decoding: stored.payload, as: UTF8.self)
        guard let schema = definitions.schema(code: stored.typeCode),
            case .object(let members)? = try? StrictJSONParser.parse(json)
        else {
            return LoggedEvent(
                lsn: lsn, type: "#\(stored.typeCode)", time: stored.time, ingestTime: stored.ingestTime, json: json,
                fields: [:])
        }
        // Declared nullable fields the canonical form left out are null.
        var fields: [String: FieldValue] = [:]
        for field in schema.fields where field.type.nullable { fields[field.name] = .null }
        for (key, value) in members where key != "type" {
            guard let position = schema.position(of: key) else { continue }
            fields[key] = FieldValue(canonical: value, type: schema.fields[position].type.base)
        }
        return LoggedEvent(
            lsn: lsn, type: schema.name, time: stored.time, ingestTime: stored.ingestTime, json: json, fields: fields)
    }
}

extension FieldValue {
    /// Reads a value back from the canonical JSON the store wrote.
    init(canonical value: JSONValue, type: ScalarType) {
        switch (value, type) {
        case (.string(let text), _): self = .string(text)
        case (.bool(let flag), _): self = .bool(flag)
        case (.number(let text), .int): self = Int64(text).map(FieldValue.int) ?? .null
        case (.number(let text), .timestamp): self = Int64(text).map(FieldValue.timestamp) ?? .null
        case (.number(let text), .decimal): self = (try? ExactDecimal(parsing: text)).map(FieldValue.decimal) ?? .null
        default: self = .null
        }
    }
}
