/// The stored form of a decision: its JSON, which is also the answer to `decide` and to
/// `GET /v1/decisions/{id}`:
///
/// ```json
/// {"id":42,"outcome":"block","reasons":["blocked"],
///  "rules":[{"name":"blocked","outcome":"block","matched":true,"version":1},…],
///  "vectors":[{"entity":"card","key":"c1","views":{…},"flags":{…},"lists":{…}}],
///  "snapshot":{"lsn":41,"at":…,"definitions_version":1},
///  "ingest":"including","event":{"outcome":"accepted","lsn":41},
///  "request":{…the payload…},"decided_at":…}
/// ```
enum DecisionRecord {
    static func encode(
        id: UInt64, evaluation: DecisionTransaction.Evaluation, mode: DecisionRequest.Ingest, event: EventOutcome?,
        payload: JSONValue, decidedAt: Int64
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out.append(contentsOf: #"{"id":\#(id),"outcome":"#.utf8)
        JSONWriter.appendString(evaluation.outcome, to: &out)
        out.append(contentsOf: #","reasons":["#.utf8)
        for (index, rule) in evaluation.rules.filter(\.matched).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(rule.name, to: &out)
        }
        out.append(contentsOf: #"],"rules":["#.utf8)
        for (index, rule) in evaluation.rules.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString("name", to: &out, opening: true)
            out.append(UInt8(ascii: ":"))
            JSONWriter.appendString(rule.name, to: &out)
            out.append(contentsOf: #","outcome":"#.utf8)
            JSONWriter.appendString(rule.outcome, to: &out)
            out.append(
                contentsOf: (rule.matched ? #","matched":true,"version":"# : #","matched":false,"version":"#).utf8)
            out.append(contentsOf: "\(rule.version)}".utf8)
        }
        out.append(contentsOf: #"],"vectors":["#.utf8)
        for (index, vector) in evaluation.vectors.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            vector.appendJSON(to: &out)
        }
        out.append(contentsOf: #"],"snapshot":"#.utf8)
        evaluation.token.appendJSON(to: &out)
        out.append(contentsOf: #","ingest":"#.utf8)
        JSONWriter.appendString(mode.rawValue, to: &out)
        out.append(contentsOf: #","event":"#.utf8)
        switch event {
        case .accepted(let lsn)?: out.append(contentsOf: #"{"outcome":"accepted","lsn":\#(lsn.rawValue)}"#.utf8)
        case .duplicate(let lsn)?: out.append(contentsOf: #"{"outcome":"duplicate","lsn":\#(lsn.rawValue)}"#.utf8)
        default: out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","request":"#.utf8)
        JSONWriter.appendJSON(payload, to: &out)
        out.append(contentsOf: #","decided_at":\#(decidedAt)}"#.utf8)
        return out
    }

    /// What replay needs of a stored record.
    struct Stored {
        let id: UInt64
        let token: SnapshotToken
        let payload: JSONValue
        let entities: [(entity: String, key: String)]
        /// Every compared value by path (`vectors[0].views.cnt`, `rules.blocked`, `outcome`), as JSON.
        let values: [(path: String, json: String)]
    }

    static func decode(_ bytes: [UInt8]) -> Stored? {
        guard case .object(let members)? = try? StrictJSONParser.parse(bytes) else { return nil }
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard case .number(let idText)? = fields["id"], let id = UInt64(idText),
            case .object(let snapshot)? = fields["snapshot"], let token = token(snapshot),
            let payload = fields["request"], case .array(let vectors)? = fields["vectors"]
        else { return nil }
        var entities: [(entity: String, key: String)] = []
        for vector in vectors {
            guard case .object(let vectorMembers) = vector,
                case .string(let entity)? = vectorMembers.first(where: { $0.key == "entity" })?.value,
                case .string(let key)? = vectorMembers.first(where: { $0.key == "key" })?.value
            else { return nil }
            entities.append((entity, key))
        }
        return Stored(id: id, token: token, payload: payload, entities: entities, values: comparedValues(fields))
    }

    /// The values a replay compares, by path, from a record's top-level members.
    static func comparedValues(_ fields: [String: JSONValue]) -> [(path: String, json: String)] {
        func text(_ value: JSONValue) -> String {
            var out: [UInt8] = []
            JSONWriter.appendJSON(value, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        var values: [(path: String, json: String)] = []
        if case .array(let vectors)? = fields["vectors"] {
            for (index, vector) in vectors.enumerated() {
                guard case .object(let members) = vector else { continue }
                for section in ["views", "flags", "lists"] {
                    guard case .object(let entries)? = members.first(where: { $0.key == section })?.value else {
                        continue
                    }
                    for entry in entries {
                        values.append(("vectors[\(index)].\(section).\(entry.key)", text(entry.value)))
                    }
                }
            }
        }
        if case .array(let rules)? = fields["rules"] {
            for rule in rules {
                guard case .object(let members) = rule,
                    case .string(let name)? = members.first(where: { $0.key == "name" })?.value,
                    let matched = members.first(where: { $0.key == "matched" })?.value
                else { continue }
                values.append(("rules.\(name)", text(matched)))
            }
        }
        if let outcome = fields["outcome"] { values.append(("outcome", text(outcome))) }
        return values
    }

    private static func token(_ members: [(key: String, value: JSONValue)]) -> SnapshotToken? {
        func number(_ name: String) -> String? {
            if case .number(let text)? = members.first(where: { $0.key == name })?.value { return text }
            return nil
        }
        guard let lsn = number("lsn").flatMap(UInt64.init), let at = number("at").flatMap(Int64.init),
            let version = number("definitions_version").flatMap(UInt32.init)
        else { return nil }
        return SnapshotToken(lsn: LSN(lsn), at: at, definitionsVersion: version)
    }
}
