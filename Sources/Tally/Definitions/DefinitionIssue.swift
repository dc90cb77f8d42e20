/// One problem in a definitions file, with where it is: a dotted path (`views.card_cnt_60s.window`)
/// and, for YAML and JSON text, the line and column.
public struct DefinitionIssue: Sendable, Equatable, Codable, CustomStringConvertible {
    public var path: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public var description: String {
        let position = line.map { ":\($0):\(column ?? 0)" } ?? ""
        return "\(path.isEmpty ? "<root>" : path)\(position): \(message)"
    }
}

/// Thrown when definitions do not load: every issue found, in file order.
public struct DefinitionsError: Error, Sendable, CustomStringConvertible {
    public var source: String
    public var issues: [DefinitionIssue]

    public var description: String {
        "\(source): \(issues.count) problem\(issues.count == 1 ? "" : "s")\n"
            + issues.map { "  \(source):\($0)" }.joined(separator: "\n")
    }
}
