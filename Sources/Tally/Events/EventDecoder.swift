import Foundation

/// An event that passed every check that needs no store state: ready for the duplicate, conflict
/// and lateness checks in the write transaction.
struct DecodedEvent: Sendable {
    let schema: EventSchema
    let time: Int64
    /// The full id key: type code (2 bytes, big-endian), id tag, id bytes (``EventSchema/idKey(_:)``).
    let idKey: [UInt8]
    /// The id-index key: type code (2 bytes) + 64-bit hash of `idKey` (``IdIndexKey``).
    let idIndexKey: [UInt8]
    /// Canonical JSON of the event: `type` first, then the declared fields in declaration order,
    /// nulls left out. Equal payloads mean equal events.
    let payload: [UInt8]
    /// The typed field values in field order (absent nullable fields are null).
    let values: [FieldValue]
}

/// Checks events against their types (SPEC §1 "Events on the wire") and builds their canonical form.
struct EventDecoder: Sendable {
    static let maxKeyBytes = 256
    static let maxStringBytes = 4096

    let catalog: EventCatalog
    /// Hashes full id keys for the id index (tests inject a colliding one).
    var idHash: @Sendable ([UInt8]) -> UInt64 = IdIndexKey.hash

    /// Decodes one wire event (a parsed JSON value).
    func decode(_ value: JSONValue) -> Result<DecodedEvent, EventRejection> {
        guard case .object(let members) = value else {
            return .failure(EventRejection(.notAnObject, "an event is a JSON object, not \(value.kind)"))
        }
        guard let typeMember = members.first(where: { $0.key == "type" }) else {
            return .failure(EventRejection(.missingType, "the event has no \"type\" member", field: "type"))
        }
        guard case .string(let typeName) = typeMember.value else {
            return .failure(
                EventRejection(.missingType, "\"type\" must be a string, not \(typeMember.value.kind)", field: "type"))
        }
        guard let schema = catalog.schemas[typeName] else {
            return .failure(EventRejection(.unknownType, "unknown event type '\(typeName)'", field: "type"))
        }
        var values = [FieldValue?](repeating: nil, count: schema.fields.count)
        for (key, member) in members where key != "type" {
            guard let position = schema.position(of: key) else {
                return .failure(EventRejection(.unknownField, "\(typeName) has no field '\(key)'", field: key))
            }
            switch convert(member, to: schema.fields[position]) {
            case .success(let converted): values[position] = converted
            case .failure(let rejection): return .failure(rejection)
            }
        }
        return finish(schema, values)
    }

    /// Decodes a Swift-built event by way of its wire form, so both take the same checks.
    func decode(_ event: Event) -> Result<DecodedEvent, EventRejection> {
        var members: [(key: String, value: JSONValue)] = [("type", .string(event.type))]
        for (name, value) in event.fields.sorted(by: { $0.key < $1.key }) {
            let json: JSONValue =
                switch value {
                case .string(let text): .string(text)
                case .int(let number): .number(String(number))
                case .bool(let flag): .bool(flag)
                case .timestamp(let ms): .number(String(ms))
                case .decimal(let decimal): .number(decimal.description)
                case .null: .null
                }
            members.append((name, json))
        }
        return decode(.object(members))
    }

    private func finish(_ schema: EventSchema, _ values: [FieldValue?]) -> Result<DecodedEvent, EventRejection> {
        var payload = schema.payloadPrefix
        var typed: [FieldValue] = []
        typed.reserveCapacity(schema.fields.count)
        for (position, field) in schema.fields.enumerated() {
            let value: FieldValue
            if let present = values[position] {
                value = present
            } else if field.type.nullable {
                value = .null
            } else {
                return .failure(
                    EventRejection(
                        .missingField, "\(schema.name) needs field '\(field.name)' (\(field.type))", field: field.name))
            }
            // Nulls are left out: for a nullable field, absent and null are the same event, and
            // adding a nullable field to the definitions must not change stored events' form (a
            // redelivery after such a change is still a duplicate).
            typed.append(value)
            if case .null = value { continue }
            payload.append(UInt8(ascii: ","))
            JSONWriter.appendString(field.name, to: &payload)
            payload.append(UInt8(ascii: ":"))
            JSONWriter.appendValue(value, to: &payload)
        }
        payload.append(UInt8(ascii: "}"))
        guard case .timestamp(let time) = values[schema.timeIndex] else {
            preconditionFailure("the time field is a non-nullable timestamp")
        }
        guard let id = values[schema.idIndex], let idKey = schema.idKey(id) else {
            preconditionFailure("the id field is a non-nullable string or int")
        }
        let indexKey = IdIndexKey.make(code: schema.code, hash: idHash(idKey))
        return .success(
            DecodedEvent(
                schema: schema, time: time, idKey: idKey, idIndexKey: indexKey, payload: payload, values: typed))
    }

    private func convert(_ value: JSONValue, to field: EventSchema.Field) -> Result<FieldValue, EventRejection> {
        let name = field.name
        func wrong(_ expected: String) -> Result<FieldValue, EventRejection> {
            .failure(EventRejection(.wrongType, "'\(name)' must be \(expected), not \(value.kind)", field: name))
        }
        if case .null = value {
            return field.type.nullable ? .success(.null) : wrong("\(field.type.base.rawValue) (it is not nullable)")
        }
        switch field.type.base {
        case .string:
            guard case .string(let raw) = value else { return wrong("a string") }
            return checkString(raw, field)
        case .bool:
            guard case .bool(let flag) = value else { return wrong("true or false") }
            return .success(.bool(flag))
        case .int:
            guard case .number(let text) = value else { return wrong("an integer") }
            guard text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) }) else {
                return .failure(EventRejection(.wrongType, "'\(name)' must be an integer, not \(text)", field: name))
            }
            guard let number = Int64(text) else {
                return .failure(EventRejection(.outOfRange, "'\(name)' = \(text) does not fit in 64 bits", field: name))
            }
            return .success(.int(number))
        case .decimal:
            let text: String
            switch value {
            case .number(let number): text = number
            case .string(let string): text = string
            default: return wrong("a decimal number")
            }
            do throws(ExactDecimal.ParseError) {
                return .success(.decimal(try ExactDecimal(parsing: text)))
            } catch {
                switch error {
                case .notANumber:
                    return .failure(
                        EventRejection(
                            .invalidValue, "'\(name)' = \"\(text.prefix(40))\" is not a decimal number", field: name))
                case .outOfRange(let reason):
                    return .failure(EventRejection(.outOfRange, "'\(name)': \(reason)", field: name))
                }
            }
        case .timestamp:
            switch value {
            case .number(let text):
                guard text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                    return .failure(
                        EventRejection(
                            .invalidValue,
                            "'\(name)' = \(text): a time is whole epoch milliseconds ≥ 0 or RFC 3339 text", field: name)
                    )
                }
                guard let ms = Int64(text), ms <= Timestamp.maximum else {
                    return .failure(EventRejection(.outOfRange, "'\(name)' = \(text) is after year 9999", field: name))
                }
                return .success(.timestamp(ms))
            case .string(let text):
                do throws(Timestamp.ParseError) {
                    return .success(.timestamp(try Timestamp.parse(rfc3339: text)))
                } catch {
                    switch error {
                    case .invalid(let reason):
                        return .failure(EventRejection(.invalidValue, "'\(name)': \(reason)", field: name))
                    case .outOfRange(let reason):
                        return .failure(EventRejection(.outOfRange, "'\(name)': \(reason)", field: name))
                    }
                }
            default:
                return wrong("a time (epoch milliseconds or RFC 3339 text)")
            }
        }
    }

    /// NFC-normalises and checks size: keys (id, entity keys) 1…256 bytes, other strings ≤ 4 KiB.
    private func checkString(_ raw: String, _ field: EventSchema.Field) -> Result<FieldValue, EventRejection> {
        let text = raw.utf8.allSatisfy({ $0 < 0x80 }) ? raw : raw.precomposedStringWithCanonicalMapping
        let size = text.utf8.count
        if field.isKey {
            guard size > 0 else {
                return .failure(
                    EventRejection(.invalidValue, "'\(field.name)' is a key and must not be empty", field: field.name))
            }
            guard size <= Self.maxKeyBytes else {
                return .failure(
                    EventRejection(
                        .keyTooLong,
                        "'\(field.name)' is \(size) bytes; keys and ids are at most \(Self.maxKeyBytes) bytes",
                        field: field.name))
            }
        } else if size > Self.maxStringBytes {
            return .failure(
                EventRejection(
                    .stringTooLong,
                    "'\(field.name)' is \(size) bytes; strings are at most \(Self.maxStringBytes) bytes",
                    field: field.name))
        }
        return .success(.string(text))
    }
}

/// Keys of the `ids` database: the event type's code and a 64-bit hash of the full id key, so
/// entries are small (19 bytes with the level and the LSN) and the B-tree has few pages: with random ids every
/// insert dirties a random leaf, and fewer, fuller pages cut the bytes written per event (a raw
/// LMDB spike at 3M events: 45.6k events/s and 4.6 KB/event with 10-byte keys and 8-byte values,
/// 31.9k and 6.1 KB with 35-byte keys and 16-byte values). A hash hit is always confirmed against
/// the stored event; a true collision falls back to the `id_collisions` database, keyed by the full id.
enum IdIndexKey {
    /// Bytes of a key: the type code (2) and the hash (8).
    static let size = 10

    static func make(code: UInt16, hash: UInt64) -> [UInt8] {
        BigEndian.bytes(code) + BigEndian.bytes(hash)
    }

    /// FNV-1a 64 with a SplitMix64 finaliser (good spread for short ids).
    @Sendable static func hash(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        return hash ^ (hash >> 31)
    }
}
