import Yams

/// Walks a composed YAML/JSON node tree, collecting ``DefinitionIssue``s instead of stopping at the
/// first, so `tally check` reports every problem at once.
final class DefinitionsReader {
    private(set) var issues: [DefinitionIssue] = []
    /// Nodes of expression texts by path, so expression errors point inside them.
    var expressionNodes: [String: Node] = [:]
    /// Nodes of values checked against other sections later (an event's lateness against the
    /// retention), by path, so those errors point at the value.
    var valueNodes: [String: Node] = [:]

    func report(_ path: String, _ node: Node?, _ message: String) {
        issues.append(DefinitionIssue(path: path, line: node?.mark?.line, column: node?.mark?.column, message: message))
    }

    /// The pairs of a mapping, in file order. Reports a non-mapping, unknown keys (listing the
    /// allowed ones), missing required keys and non-string keys.
    func mapping(
        _ node: Node, at path: String, allowed: [String]? = nil, required: [String] = []
    ) -> [(key: String, value: Node, keyNode: Node)]? {
        guard case .mapping(let mapping) = node else {
            report(path, node, "must be a mapping (key: value)")
            return nil
        }
        var pairs: [(key: String, value: Node, keyNode: Node)] = []
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(path, keyNode, "keys must be plain names")
                continue
            }
            let key = scalar.string
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if !seen.insert(key).inserted {
                report(keyPath, keyNode, "duplicate key '\(key)'")
                continue
            }
            if let allowed, !allowed.contains(key) {
                report(keyPath, keyNode, "unknown key '\(key)' (allowed: \(allowed.joined(separator: ", ")))")
                continue
            }
            pairs.append((key, value, keyNode))
        }
        for key in required where !seen.contains(key) {
            report(path, node, "missing required key '\(key)'")
        }
        return pairs
    }

    /// A string scalar's text. Plain scalars YAML reads as numbers, booleans or null (`42`, `on`,
    /// `~`) are not strings: quote them. (The JSON Schema says the same: `type: string`.)
    func string(_ node: Node, at path: String, what: String = "a string") -> String? {
        guard case .scalar(let scalar) = node, node.tag.description == Self.stringTag else {
            report(path, node, "must be \(what)")
            return nil
        }
        return scalar.string
    }

    static let stringTag = Tag(.str).description

    /// A name: lowercase letter, then lowercase letters, digits or `_`; at most 64 characters.
    func identifier(_ text: String, at path: String, _ node: Node?, what: String = "name") -> String? {
        guard Self.isIdentifier(text) else {
            report(path, node, "\(what) '\(text)' must match [a-z][a-z0-9_]* (at most 64 characters)")
            return nil
        }
        return text
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.utf8.first, text.utf8.count <= 64,
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
        else { return false }
        return text.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }

    /// One string or a sequence of strings.
    func stringList(_ node: Node, at path: String) -> [(String, Node)]? {
        switch node {
        case .sequence(let sequence):
            var items: [(String, Node)] = []
            for (index, item) in sequence.enumerated() {
                if let text = string(item, at: "\(path)[\(index)]") { items.append((text, item)) }
            }
            if items.isEmpty { report(path, node, "must not be empty") }
            return items
        case .scalar:
            return string(node, at: path).map { [($0, node)] }
        default:
            report(path, node, "must be a string or a list of strings")
            return nil
        }
    }

    /// A duration literal within `range` (ms).
    func duration(_ node: Node, at path: String, range: ClosedRange<Int64>, what: String) -> Int64? {
        guard let text = string(node, at: path, what: "a duration such as 90s, 5m, 24h or 30d") else { return nil }
        guard let ms = DurationLiteral.milliseconds(text) else {
            report(
                path, node, "'\(text)' is not a duration: write a whole number and a unit (ms, s, m, h, d), e.g. 90s")
            return nil
        }
        guard range.contains(ms) else {
            report(
                path, node,
                "\(what) \(text) is out of range (\(Self.describe(range.lowerBound)) to \(Self.describe(range.upperBound)))"
            )
            return nil
        }
        return ms
    }

    static func describe(_ ms: Int64) -> String {
        if ms == 0 { return "0" }
        for (unit, scale) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where ms % scale == 0 {
            return "\(ms / scale)\(unit)"
        }
        return "\(ms)ms"
    }

    /// `description`, `owner`, `tags` of any definition.
    func catalog(_ pairs: [(key: String, value: Node, keyNode: Node)], at path: String) -> CatalogInfo {
        var info = CatalogInfo()
        for (key, value, _) in pairs {
            switch key {
            case "description": info.description = string(value, at: "\(path).description")
            case "owner": info.owner = string(value, at: "\(path).owner")
            case "tags":
                guard case .sequence(let tags) = value else {
                    report("\(path).tags", value, "must be a list of strings")
                    continue
                }
                info.tags = tags.enumerated().compactMap { string($1, at: "\(path).tags[\($0)]") }
            default: break
            }
        }
        return info
    }

    /// Reports an error at `offset` characters into the expression at `path`.
    func report(expressionAt path: String, _ error: ExpressionError) {
        let node = expressionNodes[path]
        var column = node?.mark?.column
        if let start = column, case .scalar(let scalar)? = node {
            // Single-line scalars: point at the character; quotes shift it by one.
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            if !scalar.string.contains("\n") { column = start + error.offset + (quoted ? 1 : 0) }
        }
        issues.append(
            DefinitionIssue(path: path, line: node?.mark?.line, column: column, message: "expression \(error)"))
    }

    static let catalogKeys = ["description", "owner", "tags"]
}
