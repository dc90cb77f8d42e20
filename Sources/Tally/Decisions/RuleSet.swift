import TallyLMDB

/// The rules of one definitions version, compiled, and their evaluation over one snapshot
/// (docs/DECISIONS.md): view names read the vector of the view's entity, entity names the
/// decision's keys, `request.<field>` the payload, `flag(name)` the flag on the decision's key of
/// the flag's entity, `x in @list` the list at the snapshot. Rules are ordered; the outcome is the
/// first matching rule's, `allow` when none matches.
struct RuleSet: Sendable {
    struct Rule: Sendable {
        let definition: RuleDefinition
        let condition: Expression
    }

    let rules: [Rule]
    /// The entity of every served view name.
    let viewEntities: [String: String]
    let flagEntities: [String: String]
    let listTypes: [String: ScalarType]
    let entityKeyTypes: [String: ScalarType]

    static let defaultOutcome = "allow"

    init(definitions: Definitions) {
        rules = definitions.rules.compactMap { rule in
            (try? ExpressionParser.parse(rule.when)).map { Rule(definition: rule, condition: $0) }  // checked at load
        }
        var viewEntities: [String: String] = [:]
        for view in definitions.views {
            for name in view.servedNames { viewEntities[name] = view.entity }
        }
        self.viewEntities = viewEntities
        flagEntities = Dictionary(uniqueKeysWithValues: definitions.flags.map { ($0.name, $0.entity) })
        listTypes = FlagRules.listTypes(definitions)
        entityKeyTypes = Dictionary(uniqueKeysWithValues: definitions.entities.map { ($0.name, $0.keyType) })
    }

    /// Every rule's result and the outcome, over `vectors` (one per entity of the decision) at
    /// `token`; list memberships are read in `txn`.
    func evaluate(
        vectors: [EntityVector], request: @escaping (String) -> ExpressionValue, token: SnapshotToken,
        versions: [String: UInt32], in txn: some TransactionReading, marks: Database
    ) throws -> (rules: [RuleResult], outcome: String) {
        var failure: (any Error)?
        let byEntity = Dictionary(vectors.map { ($0.entity, $0) }, uniquingKeysWith: { first, _ in first })
        let evaluator = ExpressionEvaluator(
            name: { name in
                if let entity = viewEntities[name] {
                    return byEntity[entity]?[view: name].map(ExpressionValue.init) ?? .null
                }
                if let vector = byEntity[name] {
                    guard entityKeyTypes[name] == .int else { return .string(vector.key) }
                    return Int64(vector.key).map(ExpressionValue.integer) ?? .null
                }
                return .null
            },
            request: request,
            flag: { name in
                guard let entity = flagEntities[name], let vector = byEntity[entity] else { return false }
                return vector.flags.first { $0.name == name }?.holds ?? false
            },
            listContains: { list, value in
                guard let type = listTypes[list], let member = FlagRules.member(value, type: type) else { return false }
                do {
                    return try MarkTimeline.holds(
                        .list, list, member, lsn: token.lsn.rawValue, at: token.at, in: txn, marks: marks)
                } catch {
                    failure = error
                    return false
                }
            })
        let results = rules.map { rule in
            RuleResult(
                name: rule.definition.name, outcome: rule.definition.outcome, matched: evaluator.holds(rule.condition),
                version: versions[rule.definition.name] ?? token.definitionsVersion)
        }
        if let failure { throw failure }
        return (results, results.first(where: { $0.matched })?.outcome ?? Self.defaultOutcome)
    }
}
