import Foundation
import Yams

extension DefinitionsParser {
    func lists(_ node: Node, _ definitions: Definitions) -> [ListDefinition] {
        named(node, section: "lists").compactMap { name, node, path in
            guard
                let pairs = reader.mapping(
                    node, at: path, allowed: ["of"] + DefinitionsReader.catalogKeys, required: ["of"])
            else { return nil }
            guard let ofNode = pairs.first(where: { $0.key == "of" })?.value,
                let of = reader.string(ofNode, at: "\(path).of")
            else { return nil }
            let member: ListMemberType
            if definitions.entity(named: of) != nil {
                member = .entity(of)
            } else if let scalar = ScalarType(rawValue: of), scalar == .string || scalar == .int {
                member = .scalar(scalar)
            } else {
                reader.report(
                    "\(path).of", ofNode,
                    "a list holds keys of an entity (\(definitions.entities.map(\.name).joined(separator: ", "))) or string or int, not '\(of)'"
                )
                return nil
            }
            return ListDefinition(name: name, of: member, catalog: reader.catalog(pairs, at: path))
        }
    }

    func flags(_ node: Node, _ definitions: Definitions) -> [FlagDefinition] {
        named(node, section: "flags").compactMap { name, node, path in
            guard
                let pairs = reader.mapping(
                    node, at: path, allowed: ["entity", "set_when", "on", "for"] + DefinitionsReader.catalogKeys,
                    required: ["entity"])
            else { return nil }
            let value = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard let entityNode = value["entity"] else { return nil }
            let entity = entityReference(entityNode, at: "\(path).entity", definitions)
            // A flag with a rule has set_when and on; one without either is set only through the API.
            switch (value["set_when"], value["on"]) {
            case (nil, nil), (.some, .some): break
            case (nil, .some(let onNode)):
                reader.report(
                    "\(path).on", onNode, "on names the events after which set_when is evaluated: add set_when")
            case (.some(let whenNode), nil):
                reader.report(
                    "\(path).set_when", whenNode, "set_when needs on: the event types after which it is evaluated")
            }
            var setWhen: String?
            if let whenNode = value["set_when"] {
                reader.expressionNodes["\(path).set_when"] = whenNode
                setWhen = reader.string(whenNode, at: "\(path).set_when", what: "an expression")
            }
            var on: [String] = []
            if let onNode = value["on"] {
                for (event, item) in reader.stringList(onNode, at: "\(path).on") ?? [] {
                    guard let type = eventReference(event, item, at: "\(path).on", definitions) else { continue }
                    if let entity, type.field(named: entity.name) == nil {
                        reader.report(
                            "\(path).on", item,
                            "event type \(event) has no field '\(entity.name)' to find the flagged \(entity.name)")
                    }
                    on.append(event)
                }
            }
            let duration = value["for"].flatMap {
                reader.duration($0, at: "\(path).for", range: 1_000...(400 * 86_400_000), what: "flag duration")
            }
            guard let entity else { return nil }
            if value["set_when"] != nil, setWhen == nil || on.isEmpty { return nil }
            return FlagDefinition(
                name: name, entity: entity.name, setWhen: setWhen, on: on, duration: duration,
                catalog: reader.catalog(pairs, at: path))
        }
    }

    func rules(_ node: Node, _ definitions: Definitions) -> [RuleDefinition] {
        guard case .sequence(let items) = node else {
            reader.report("rules", node, "must be a list (rules are ordered)")
            return []
        }
        var names = Set<String>()
        return items.enumerated().compactMap { index, item in
            let path = "rules[\(index)]"
            guard
                let pairs = reader.mapping(
                    item, at: path, allowed: ["name", "when", "outcome"] + DefinitionsReader.catalogKeys,
                    required: ["name", "when", "outcome"])
            else { return nil }
            let value = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard let nameNode = value["name"], let whenNode = value["when"], let outcomeNode = value["outcome"] else {
                return nil
            }
            let name = reader.string(nameNode, at: "\(path).name").flatMap {
                reader.identifier($0, at: "\(path).name", nameNode, what: "rule name")
            }
            if let name, !names.insert(name).inserted {
                reader.report("\(path).name", nameNode, "rule name '\(name)' is used twice")
            }
            reader.expressionNodes["\(path).when"] = whenNode
            let when = reader.string(whenNode, at: "\(path).when", what: "an expression")
            let outcome = reader.string(outcomeNode, at: "\(path).outcome")
            if let outcome, !definitions.outcomes.contains(outcome) {
                reader.report(
                    "\(path).outcome", outcomeNode,
                    "unknown outcome '\(outcome)' (\(definitions.outcomes.joined(separator: ", ")); declare others under outcomes:)"
                )
                return nil
            }
            guard let name, let when, let outcome else { return nil }
            return RuleDefinition(name: name, when: when, outcome: outcome, catalog: reader.catalog(pairs, at: path))
        }
    }
}
