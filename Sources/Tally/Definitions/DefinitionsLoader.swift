import Foundation
import Yams

/// Loads and checks definitions (SPEC §1) from YAML or JSON text.
///
/// Unknown keys are errors; every problem is reported with its path and line/column; references
/// (a view's entity and event types, a field an aggregate reads, a flag's events, a rule's outcome)
/// are checked. Expressions (`where`, `set_when`, `when`, signed values) are kept as text here and
/// parsed and type-checked by the expression language.
///
/// ```swift
/// let definitions = try DefinitionsLoader.load(path: "Examples/cards.yaml")
/// ```
public enum DefinitionsLoader {
    /// Loads the file at `path` (YAML, or JSON which YAML reads too).
    public static func load(path: String) throws -> Definitions {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DefinitionsError(
                source: path,
                issues: [DefinitionIssue(path: "", message: "cannot read the file (\(error.localizedDescription))")])
        }
        return try load(text: text, source: path)
    }

    /// Loads definitions from `text`; `source` names it in errors.
    public static func load(text: String, source: String = "<definitions>") throws(DefinitionsError) -> Definitions {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw DefinitionsError(source: source, issues: [issue(from: error)])
        } catch {
            throw DefinitionsError(source: source, issues: [DefinitionIssue(path: "", message: "\(error)")])
        }
        guard let root else {
            throw DefinitionsError(source: source, issues: [DefinitionIssue(path: "", message: "the file is empty")])
        }
        let reader = DefinitionsReader()
        let definitions = DefinitionsParser(reader: reader).parse(root)
        guard let definitions, reader.issues.isEmpty else {
            // In file order: expressions are checked after the shapes, but read where they stand.
            let ordered = reader.issues.enumerated().sorted {
                ($0.element.line ?? .max, $0.element.column ?? 0, $0.offset)
                    < ($1.element.line ?? .max, $1.element.column ?? 0, $1.offset)
            }
            throw DefinitionsError(source: source, issues: ordered.map(\.element))
        }
        return definitions
    }

    private static func issue(from error: YamlError) -> DefinitionIssue {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return DefinitionIssue(
                path: "", line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams stops at the first mapping with a repeated key; its mark is that key's first use.
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return DefinitionIssue(
                path: "", line: context.mark.line, column: context.mark.column,
                message: "\(names) declared more than once in one mapping (the first here); a key may appear once")
        default:
            return DefinitionIssue(path: "", message: "not valid YAML: \(error)")
        }
    }
}
