import Foundation
import Yams

extension DefinitionsParser {
    static let eventKeys = ["id", "time", "lateness", "fields"] + DefinitionsReader.catalogKeys

    func events(_ node: Node) -> [EventTypeDefinition] {
        named(node, section: "events").compactMap { name, node, path in
            guard
                let pairs = reader.mapping(node, at: path, allowed: Self.eventKeys, required: ["id", "time", "fields"])
            else { return nil }
            var idField: (String, Node)?
            var timeField: (String, Node)?
            var lateness: Int64 = 3_600_000
            var fields: [FieldDefinition] = []
            for (key, value, _) in pairs {
                switch key {
                case "id": idField = reader.string(value, at: "\(path).id").map { ($0, value) }
                case "time": timeField = reader.string(value, at: "\(path).time").map { ($0, value) }
                case "lateness":
                    reader.valueNodes["\(path).lateness"] = value
                    lateness =
                        reader.duration(value, at: "\(path).lateness", range: 0...(30 * 86_400_000), what: "lateness")
                        ?? lateness
                case "fields": fields = self.fields(value, at: "\(path).fields")
                default: break
                }
            }
            guard let (id, idNode) = idField, let (time, timeNode) = timeField else { return nil }
            // The time field is implicitly a timestamp; declaring it is allowed only as `timestamp`.
            if time == "type" {
                reader.report("\(path).time", timeNode, "'type' is reserved: it names the event type on the wire")
            } else if let declared = fields.first(where: { $0.name == time }) {
                if declared.type != FieldType(.timestamp) {
                    reader.report(
                        "\(path).fields.\(time)", timeNode,
                        "the time field '\(time)' must be 'timestamp' (not nullable)")
                }
            } else if reader.identifier(time, at: "\(path).time", timeNode, what: "field") != nil {
                fields.insert(FieldDefinition(name: time, type: FieldType(.timestamp)), at: 0)
            }
            if let idType = fields.first(where: { $0.name == id })?.type {
                if idType.nullable || !(idType.base == .string || idType.base == .int) {
                    reader.report(
                        "\(path).id", idNode, "the id field '\(id)' must be a non-nullable string or int, not \(idType)"
                    )
                }
            } else {
                reader.report("\(path).id", idNode, "the id field '\(id)' is not among the fields")
            }
            if id == time { reader.report("\(path).time", timeNode, "the time field cannot be the id field") }
            return EventTypeDefinition(
                name: name, idField: id, timeField: time, lateness: lateness, fields: fields,
                catalog: reader.catalog(pairs, at: path))
        }
    }

    private func fields(_ node: Node, at path: String) -> [FieldDefinition] {
        guard let pairs = reader.mapping(node, at: path) else { return [] }
        if pairs.isEmpty { reader.report(path, node, "declare at least the id field") }
        return pairs.compactMap { key, value, keyNode in
            let fieldPath = "\(path).\(key)"
            guard reader.identifier(key, at: fieldPath, keyNode, what: "field") != nil else { return nil }
            if key == "type" {
                reader.report(fieldPath, keyNode, "'type' is reserved: it names the event type on the wire")
                return nil
            }
            guard let text = reader.string(value, at: fieldPath) else { return nil }
            guard let type = FieldType(text: text) else {
                reader.report(
                    fieldPath, value,
                    "unknown type '\(text)' (string, int, bool, timestamp, decimal; add ? for nullable)")
                return nil
            }
            return FieldDefinition(name: key, type: type)
        }
    }
}
