import Foundation
import Yams

extension DefinitionsParser {
    static let viewKeys = ["entity", "from", "aggregate", "window", "where"] + DefinitionsReader.catalogKeys
    /// Windows from 1 s to 400 d (SPEC §1).
    static let windowRange: ClosedRange<Int64> = 1_000...(400 * 86_400_000)

    func views(_ node: Node, _ definitions: Definitions) -> [ViewDefinition] {
        var served: [String: String] = [:]  // served name → view that serves it
        return named(node, section: "views").compactMap { name, node, path in
            guard
                let pairs = reader.mapping(
                    node, at: path, allowed: Self.viewKeys, required: ["entity", "from", "aggregate", "window"])
            else { return nil }
            let value = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard let entityNode = value["entity"], let fromNode = value["from"],
                let aggregateNode = value["aggregate"],
                let windowNode = value["window"]
            else { return nil }

            let entity = entityReference(entityNode, at: "\(path).entity", definitions)
            let aggregate = self.aggregate(aggregateNode, at: "\(path).aggregate")
            let sources = self.sources(fromNode, at: "\(path).from", definitions)
            let windows = self.windows(windowNode, at: "\(path).window")
            let filter = value["where"].flatMap { node in
                reader.expressionNodes["\(path).where"] = node
                return reader.string(node, at: "\(path).where", what: "an expression")
            }
            reader.expressionNodes["\(path).aggregate"] = aggregateNode
            guard let entity, let (kind, argument) = aggregate, let sources else { return nil }

            // Value checks run even when the windows are bad, so every problem is reported at once.
            let view = ViewDefinition(
                name: name, entity: entity.name, sources: sources.map(\.0), aggregate: kind, argument: argument,
                filter: filter, windows: windows ?? [], catalog: reader.catalog(pairs, at: path))
            checkValues(view, sources: sources, entity: entity, aggregateNode: aggregateNode, at: path, definitions)
            guard windows != nil else {
                // Kept out for its windows, the view still has its expressions checked: they name
                // only its events' fields, which are sound here.
                DefinitionsExpressionChecker(reader: reader, definitions: definitions).checkViews([view])
                return nil
            }
            for servedName in view.servedNames {
                if let other = served[servedName] {
                    reader.report(path, node, "serves '\(servedName)', which view '\(other)' already serves")
                } else {
                    served[servedName] = name
                }
            }
            return view
        }
    }

    func entityReference(_ node: Node, at path: String, _ definitions: Definitions) -> EntityDefinition? {
        guard let name = reader.string(node, at: path) else { return nil }
        guard let entity = definitions.entity(named: name) else {
            reader.report(
                path, node,
                "unknown entity '\(name)' (declared: \(definitions.entities.map(\.name).joined(separator: ", ")))")
            return nil
        }
        return entity
    }

    func eventReference(_ name: String, _ node: Node, at path: String, _ definitions: Definitions)
        -> EventTypeDefinition?
    {
        guard let event = definitions.eventType(named: name) else {
            reader.report(
                path, node,
                "unknown event type '\(name)' (declared: \(definitions.events.map(\.name).joined(separator: ", ")))")
            return nil
        }
        return event
    }

    /// `count`, `sum`, or `kind(argument)`.
    private func aggregate(_ node: Node, at path: String) -> (AggregateKind, String?)? {
        guard let text = reader.string(node, at: path, what: "an aggregate such as count or sum(amount)") else {
            return nil
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var name = trimmed
        var argument: String?
        if let open = trimmed.firstIndex(of: "("), trimmed.hasSuffix(")") {
            name = String(trimmed[..<open]).trimmingCharacters(in: .whitespaces)
            argument = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
                .trimmingCharacters(in: .whitespaces)
            if argument?.isEmpty == true {
                reader.report(path, node, "'\(text)': write the argument, e.g. sum(amount), or drop the parentheses")
                return nil
            }
        }
        guard let kind = AggregateKind(rawValue: name) else {
            let known = AggregateKind.allCases.map(\.rawValue).joined(separator: ", ")
            reader.report(path, node, "unknown aggregate '\(name)' (\(known))")
            return nil
        }
        if kind == .count, argument != nil {
            reader.report(path, node, "count takes no argument; filter with where: instead")
            return nil
        }
        return (kind, argument)
    }

    /// `from: event`, `from: [a, b]`, or `from: { a: +amount, b: -amount }`.
    private func sources(_ node: Node, at path: String, _ definitions: Definitions) -> [(
        ViewSource, EventTypeDefinition, Node
    )]? {
        var result: [(ViewSource, EventTypeDefinition, Node)] = []
        if case .mapping(let mapping) = node {
            if mapping.isEmpty { reader.report(path, node, "must not be empty") }
            for (key, value, keyNode) in reader.mapping(node, at: path) ?? [] {
                reader.expressionNodes["\(path).\(key)"] = value
                guard let event = eventReference(key, keyNode, at: "\(path).\(key)", definitions),
                    let expression = reader.string(
                        value, at: "\(path).\(key)", what: "a value expression such as +amount")
                else { continue }
                result.append((ViewSource(eventType: key, value: expression), event, value))
            }
        } else {
            for (name, item) in reader.stringList(node, at: path) ?? [] {
                guard let event = eventReference(name, item, at: path, definitions) else { continue }
                result.append((ViewSource(eventType: name, value: nil), event, item))
            }
        }
        let names = result.map(\.0.eventType)
        if Set(names).count != names.count { reader.report(path, node, "an event type is listed twice") }
        return result.isEmpty ? nil : result
    }

    private func windows(_ node: Node, at path: String) -> [Window]? {
        var windows: [Window] = []
        for (text, item) in reader.stringList(node, at: path) ?? [] {
            if text == "lifetime" {
                windows.append(.lifetime)
            } else if let ms = reader.duration(item, at: path, range: Self.windowRange, what: "window") {
                windows.append(.sliding(milliseconds: ms, literal: text))
            }
        }
        let widths = windows.map { $0.milliseconds ?? -1 }
        if Set(widths).count != widths.count {
            reader.report(path, node, "the same window is declared twice")
            return nil
        }
        return windows.isEmpty ? nil : windows
    }

    /// Each source must carry the entity's key field, and the value it contributes must exist and
    /// suit the aggregate. Full expressions are checked by the expression language.
    private func checkValues(
        _ view: ViewDefinition, sources: [(ViewSource, EventTypeDefinition, Node)], entity: EntityDefinition,
        aggregateNode: Node, at path: String, _ definitions: Definitions
    ) {
        for (source, event, sourceNode) in sources {
            let sourcePath = "\(path).from.\(event.name)"
            if let key = event.field(named: entity.name) {
                if key.type.base != entity.keyType {
                    reader.report(
                        sourcePath, sourceNode,
                        "field '\(entity.name)' of \(event.name) is \(key.type), but \(entity.name) keys are \(entity.keyType.rawValue)"
                    )
                }
            } else {
                reader.report(
                    sourcePath, sourceNode, "event type \(event.name) has no field '\(entity.name)' to key the view by")
            }
            switch (view.aggregate.needsValue, view.argument, source.value) {
            case (false, _, .some):
                reader.report(sourcePath, sourceNode, "count takes no value per event; list the event types instead")
            case (true, nil, nil):
                reader.report(
                    "\(path).aggregate", aggregateNode,
                    "\(view.aggregate.rawValue) needs a value: write \(view.aggregate.rawValue)(field), or give one per event type in from:"
                )
            case (true, .some, .some):
                reader.report(
                    sourcePath, sourceNode,
                    "give the value either as the aggregate's argument or per event type, not both")
            case (true, let argument?, nil):
                checkFieldValue(argument, in: event, aggregate: view.aggregate, at: "\(path).aggregate", aggregateNode)
            case (true, nil, let value?):
                checkFieldValue(value, in: event, aggregate: view.aggregate, at: sourcePath, sourceNode)
            default:
                break
            }
        }
    }

    /// Checks a value that is a plain (optionally signed) field reference; other expressions are
    /// left to the expression checker.
    private func checkFieldValue(
        _ text: String, in event: EventTypeDefinition, aggregate: AggregateKind, at path: String, _ node: Node
    ) {
        var name = text.trimmingCharacters(in: .whitespaces)
        let signed = name.hasPrefix("+") || name.hasPrefix("-")
        if signed { name = String(name.dropFirst()).trimmingCharacters(in: .whitespaces) }
        guard DefinitionsReader.isIdentifier(name) else { return }
        guard let field = event.field(named: name) else {
            reader.report(path, node, "event type \(event.name) has no field '\(name)'")
            return
        }
        let base = field.type.base
        switch aggregate {
        case .sum, .avg, .stddev:
            if !base.isNumeric {
                reader.report(
                    path, node, "\(aggregate.rawValue) needs a number, but \(event.name).\(name) is \(field.type)")
            }
        case .min, .max:
            if !base.isOrdered {
                reader.report(
                    path, node,
                    "\(aggregate.rawValue) needs an int, decimal or timestamp, but \(event.name).\(name) is \(field.type)"
                )
            }
        default:
            break
        }
        if signed && !base.isNumeric {
            reader.report(path, node, "a signed value needs a number, but \(event.name).\(name) is \(field.type)")
        }
    }
}
