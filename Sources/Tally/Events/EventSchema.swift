import Foundation

/// One event type compiled for decoding: field positions, types, which fields are keys, and the
/// type's stable code in this store (used in log records and the idempotency index).
struct EventSchema: Sendable {
    struct Field: Sendable {
        let name: String
        let type: FieldType
        /// The id field or a field named after an entity: at most 256 bytes, not empty.
        let isKey: Bool
    }

    let name: String
    let code: UInt16
    let fields: [Field]
    private let index: [String: Int]
    let idIndex: Int
    let timeIndex: Int
    let lateness: Int64
    /// `{"type":"<name>"` — the canonical payload's opening.
    let payloadPrefix: [UInt8]

    /// The position of field `name`; a linear scan for the usual handful of fields (cheaper than
    /// hashing the name), the dictionary beyond.
    func position(of name: String) -> Int? {
        if fields.count <= 16 { return fields.firstIndex { $0.name == name } }
        return index[name]
    }

    /// The full id key of an id value: type code (2 bytes), tag (1 string, 2 int), then the UTF-8
    /// bytes or the 8-byte order-preserving int. Nil for a value that cannot be an id.
    func idKey(_ id: FieldValue) -> [UInt8]? {
        var key = BigEndian.bytes(code)
        switch id {
        case .string(let text):
            key.append(1)
            key.append(contentsOf: text.utf8)
        case .int(let number):
            key.append(2)
            key.append(contentsOf: BigEndian.bytes(UInt64(bitPattern: number) ^ (1 << 63)))
        default:
            return nil
        }
        return key
    }

    /// The full id key of a stored event, read from its canonical JSON.
    func idKey(canonicalPayload: UnsafeRawBufferPointer) -> [UInt8]? {
        let bytes = Array(canonicalPayload)
        guard case .object(let members)? = try? StrictJSONParser.parse(bytes),
            let value = members.first(where: { $0.key == fields[idIndex].name })?.value
        else { return nil }
        return idKey(FieldValue(canonical: value, type: fields[idIndex].type.base))
    }

    init(_ definition: EventTypeDefinition, code: UInt16, entityNames: Set<String>) {
        name = definition.name
        self.code = code
        fields = definition.fields.map {
            Field(name: $0.name, type: $0.type, isKey: $0.name == definition.idField || entityNames.contains($0.name))
        }
        index = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1.name, $0) })
        idIndex = index[definition.idField]!
        timeIndex = index[definition.timeField]!
        lateness = definition.lateness
        var prefix: [UInt8] = []
        JSONWriter.appendString("type", to: &prefix, opening: true)
        prefix.append(UInt8(ascii: ":"))
        JSONWriter.appendString(definition.name, to: &prefix)
        payloadPrefix = prefix
    }
}

/// All event types of the current definitions, by name.
struct EventCatalog: Sendable {
    let schemas: [String: EventSchema]
    /// The same schemas by stable code, for reading log records.
    let schemasByCode: [UInt16: EventSchema]
    let maxFuture: Int64

    init(definitions: Definitions, codes: [String: UInt16]) {
        let entities = Set(definitions.entities.map(\.name))
        schemas = Dictionary(
            uniqueKeysWithValues: definitions.events.map {
                ($0.name, EventSchema($0, code: codes[$0.name]!, entityNames: entities))
            })
        schemasByCode = Dictionary(uniqueKeysWithValues: schemas.values.map { ($0.code, $0) })
        maxFuture = definitions.settings.maxFuture
    }
}
