import Foundation
import Yams

/// Parses and type-checks every expression in the definitions, once their shapes and references
/// are sound. Each expression is checked in its scope:
///
/// | where | names | also |
/// |---|---|---|
/// | view `where`, per-source values, aggregate arguments | fields of each source event type | — |
/// | flag `set_when` | views of the flag's entity, fields of each `on` event type | lists, flags |
/// | rule `when` | every view, entity keys (the decision's keys) | `request.<field>`, lists, flags |
struct DefinitionsExpressionChecker {
    let reader: DefinitionsReader
    let definitions: Definitions

    func check() {
        checkViews()
        for flag in definitions.flags { check(flag) }
        for (index, rule) in definitions.rules.enumerated() {
            condition(rule.when, at: "rules[\(index)].when", scope: ruleScope)
        }
    }

    /// The views' filters, values and aggregate arguments only.
    func checkViews() { checkViews(definitions.views) }

    /// The filters, values and aggregate arguments of `views` (also of a view kept out of the
    /// definitions for another problem, so that every problem is reported at once).
    func checkViews(_ views: [ViewDefinition]) {
        for view in views { check(view) }
    }

    /// The type a view's values have, by served name (count-like views are numbers; first, last,
    /// min, max take their argument's type).
    private func valueType(of view: ViewDefinition) -> ExpressionType {
        switch view.aggregate {
        case .count, .countDistinct, .sum, .avg, .stddev: return .number
        case .min, .max, .first, .last:
            guard let source = view.sources.first, let event = definitions.eventType(named: source.eventType),
                let text = source.value ?? view.argument, let expression = try? ExpressionParser.parse(text)
            else { return .any }
            return (try? ExpressionChecker.type(of: expression, in: fieldScope(event))) ?? .any
        }
    }

    private func fieldScope(_ event: EventTypeDefinition) -> ExpressionScope {
        var scope = ExpressionScope(describeNames: "fields of \(event.name)")
        for field in event.fields {
            scope.names[field.name] = ExpressionType(field.type.base)  // nullable too: null fits every type
        }
        return scope
    }

    private var listTypes: [String: ExpressionType] {
        Dictionary(
            uniqueKeysWithValues: definitions.lists.map { list in
                switch list.of {
                case .entity(let name): (list.name, ExpressionType(definitions.entity(named: name)?.keyType ?? .string))
                case .scalar(let type): (list.name, ExpressionType(type))
                }
            })
    }

    private var ruleScope: ExpressionScope {
        var scope = ExpressionScope(
            lists: listTypes, flags: Set(definitions.flags.map(\.name)), allowsFlags: true, allowsRequest: true,
            describeNames: "views and entities")
        for entity in definitions.entities { scope.names[entity.name] = ExpressionType(entity.keyType) }
        for view in definitions.views {
            for name in view.servedNames { scope.names[name] = valueType(of: view) }
        }
        return scope
    }

    private func check(_ view: ViewDefinition) {
        let path = "views.\(view.name)"
        for source in view.sources {
            guard let event = definitions.eventType(named: source.eventType) else { continue }
            let scope = fieldScope(event)
            if let filter = view.filter { condition(filter, at: "\(path).where", scope: scope) }
            // Plain field references were checked with the view's references; other expressions here.
            if let value = source.value, !isPlainField(value) {
                self.value(value, at: "\(path).from.\(source.eventType)", scope: scope, aggregate: view.aggregate)
            }
            if let argument = view.argument, !isPlainField(argument) {
                // The node is the whole `kind(argument)` text: point past `kind(`.
                let shift =
                    reader.expressionNodes["\(path).aggregate"]?.scalar.flatMap { scalar in
                        scalar.string.range(of: argument).map {
                            scalar.string.distance(from: scalar.string.startIndex, to: $0.lowerBound)
                        }
                    } ?? 0
                self.value(argument, at: "\(path).aggregate", scope: scope, aggregate: view.aggregate, shift: shift)
            }
        }
    }

    private func check(_ flag: FlagDefinition) {
        let path = "flags.\(flag.name)"
        for eventName in flag.on {
            guard let event = definitions.eventType(named: eventName) else { continue }
            var scope = fieldScope(event)
            scope.describeNames = "views of \(flag.entity) and fields of \(eventName)"
            scope.lists = listTypes
            scope.flags = Set(definitions.flags.map(\.name))
            scope.allowsFlags = true
            for view in definitions.views where view.entity == flag.entity {
                for name in view.servedNames { scope.names[name] = valueType(of: view) }
            }
            if let setWhen = flag.setWhen { condition(setWhen, at: "\(path).set_when", scope: scope) }
        }
    }

    private func isPlainField(_ text: String) -> Bool {
        var name = text.trimmingCharacters(in: .whitespaces)
        if name.hasPrefix("+") || name.hasPrefix("-") {
            name = String(name.dropFirst()).trimmingCharacters(in: .whitespaces)
        }
        return DefinitionsReader.isIdentifier(name)
    }

    private func condition(_ text: String, at path: String, scope: ExpressionScope) {
        do throws(ExpressionError) {
            try ExpressionChecker.checkCondition(try ExpressionParser.parse(text), in: scope)
        } catch {
            reader.report(expressionAt: path, error)
        }
    }

    private func value(
        _ text: String, at path: String, scope: ExpressionScope, aggregate: AggregateKind, shift: Int = 0
    ) {
        do throws(ExpressionError) {
            let type = try ExpressionChecker.type(of: try ExpressionParser.parse(text), in: scope)
            let numeric: Bool = [.sum, .avg, .stddev].contains(aggregate)
            if numeric && !type.fits(.number) {
                throw ExpressionError(offset: 0, message: "\(aggregate.rawValue) needs a number, not \(type)")
            }
        } catch {
            reader.report(expressionAt: path, ExpressionError(offset: error.offset + shift, message: error.message))
        }
    }
}
