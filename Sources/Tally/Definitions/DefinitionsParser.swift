import Foundation
import Yams

/// Builds ``Definitions`` from a node tree, section by section in dependency order (entities and
/// events first), so references are checked where their positions are at hand.
struct DefinitionsParser {
    let reader: DefinitionsReader

    static let sections = ["settings", "outcomes", "entities", "events", "views", "lists", "flags", "rules"]

    func parse(_ root: Node) -> Definitions? {
        guard let pairs = reader.mapping(root, at: "", allowed: Self.sections, required: ["entities", "events"]) else {
            return nil
        }
        let section = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var definitions = Definitions(
            settings: StoreSettings(), outcomes: Definitions.builtInOutcomes, entities: [], events: [], views: [],
            lists: [], flags: [], rules: [])
        if let node = section["settings"] { definitions.settings = settings(node) }
        if let node = section["outcomes"] { definitions.outcomes += outcomes(node) }
        if let node = section["entities"] { definitions.entities = entities(node) }
        if let node = section["events"] { definitions.events = events(node) }
        for event in definitions.events where event.lateness > definitions.settings.retention {
            // Retention drops the log and the id index behind the watermark: an event later than
            // that would find neither its duplicate nor the events its windows started from.
            let path = "events.\(event.name).lateness"
            reader.report(
                path, reader.valueNodes[path] ?? section["events"],
                "lateness (\(event.lateness) ms) is longer than settings.retention (\(definitions.settings.retention) ms)"
            )
        }
        if let node = section["views"] { definitions.views = views(node, definitions) }
        if let node = section["lists"] { definitions.lists = lists(node, definitions) }
        if let node = section["flags"] { definitions.flags = flags(node, definitions) }
        if let node = section["rules"] { definitions.rules = rules(node, definitions) }
        let checker = DefinitionsExpressionChecker(reader: reader, definitions: definitions)
        if reader.issues.isEmpty {
            checker.check()
        } else {
            // A view's expressions name only its events' fields, which are sound once the view is
            // kept, so they are checked beside other problems (every problem at once). Flags and
            // rules name views, lists and flags, which may be the broken ones: checking them now
            // would report the same problem again as an unknown name.
            checker.checkViews()
        }
        return definitions
    }

    /// The entries of a named section (`views: { name: {...} }`), with names checked.
    func named(_ node: Node, section: String) -> [(name: String, node: Node, path: String)] {
        guard let pairs = reader.mapping(node, at: section) else { return [] }
        if pairs.isEmpty && (section == "entities" || section == "events") {
            reader.report(section, node, "declare at least one")
        }
        return pairs.compactMap { key, value, keyNode in
            let path = "\(section).\(key)"
            guard reader.identifier(key, at: path, keyNode) != nil else { return nil }
            return (key, value, path)
        }
    }

    private func settings(_ node: Node) -> StoreSettings {
        var settings = StoreSettings()
        for (key, value, _) in reader.mapping(node, at: "settings", allowed: ["max_future", "retention"]) ?? [] {
            switch key {
            case "max_future":
                if let ms = reader.duration(value, at: "settings.max_future", range: 0...86_400_000, what: "max_future")
                {
                    settings.maxFuture = ms
                }
            default:
                if let ms = reader.duration(
                    value, at: "settings.retention", range: 3_600_000...(400 * 86_400_000), what: "retention")
                {
                    settings.retention = ms
                }
            }
        }
        return settings
    }

    private func outcomes(_ node: Node) -> [String] {
        guard case .sequence(let items) = node else {
            reader.report("outcomes", node, "must be a list of outcome names")
            return []
        }
        var declared: [String] = []
        for (index, item) in items.enumerated() {
            let path = "outcomes[\(index)]"
            guard let text = reader.string(item, at: path),
                reader.identifier(text, at: path, item, what: "outcome") != nil
            else { continue }
            if Definitions.builtInOutcomes.contains(text) || declared.contains(text) {
                reader.report(path, item, "outcome '\(text)' is declared twice (allow, review and block are built in)")
            } else {
                declared.append(text)
            }
        }
        return declared
    }

    private func entities(_ node: Node) -> [EntityDefinition] {
        named(node, section: "entities").compactMap { name, node, path in
            guard
                let pairs = reader.mapping(
                    node, at: path, allowed: ["key"] + DefinitionsReader.catalogKeys, required: ["key"])
            else { return nil }
            // A bad key type is reported and the entity kept (as string), so that views naming it
            // do not report a second, misleading "unknown entity".
            var keyType = ScalarType.string
            for (key, value, _) in pairs where key == "key" {
                guard let text = reader.string(value, at: "\(path).key") else { continue }
                if let type = ScalarType(rawValue: text), type == .string || type == .int {
                    keyType = type
                } else {
                    reader.report("\(path).key", value, "entity keys are 'string' or 'int', not '\(text)'")
                }
            }
            return EntityDefinition(name: name, keyType: keyType, catalog: reader.catalog(pairs, at: path))
        }
    }
}
