/// The views of the current definitions, compiled for maintenance and reads: parsed expressions,
/// the state layout each aggregate needs, and each view's stable code in this store.
struct ViewCatalog: Sendable {
    /// Served views in definitions order.
    let views: [CompiledView]
    /// Indices into `views` of the views each event type feeds, by event type code.
    let byEventType: [UInt16: [Int]]
    /// Entity types by name, with their key types.
    let entityKeyTypes: [String: ScalarType]

    init(definitions: Definitions, eventCodes: [String: UInt16], viewCodes: [String: UInt16]) {
        var compiled: [CompiledView] = []
        var byEventType: [UInt16: [Int]] = [:]
        for view in definitions.views {
            guard let code = viewCodes[view.name],
                let compiledView = CompiledView(view, code: code, definitions: definitions, eventCodes: eventCodes)
            else { continue }
            for eventCode in compiledView.sources.keys { byEventType[eventCode, default: []].append(compiled.count) }
            compiled.append(compiledView)
        }
        views = compiled
        self.byEventType = byEventType
        entityKeyTypes = Dictionary(uniqueKeysWithValues: definitions.entities.map { ($0.name, $0.keyType) })
    }
}

/// How a view's state is kept (docs/VIEWS.md).
enum ViewStateLayout: Sendable, Equatable {
    /// Invertible aggregates (count, sum, avg, stddev): one entry per contributing event holding the
    /// running totals up to it in (event time, LSN) order; a window is the difference of two seeks.
    case runningTotals
    /// first, last: one entry per contributing event holding its value.
    case values
    /// min, max: the values plus tiles of 16^k ms (k = 1…12) holding each tile's min and max.
    case valuesWithTiles
    /// count_distinct: one entry per contributing event holding its member.
    case members

    init(_ aggregate: AggregateKind) {
        switch aggregate {
        case .count, .sum, .avg, .stddev: self = .runningTotals
        case .first, .last: self = .values
        case .min, .max: self = .valuesWithTiles
        case .countDistinct: self = .members
        }
    }
}

/// One view compiled: its code, aggregate, state layout and, per source event type, where the
/// entity key is and the parsed filter and value expressions.
struct CompiledView: Sendable {
    struct Source: Sendable {
        /// Position of the entity key field in the event type's fields.
        let entityField: Int
        let filter: Expression?
        /// The contributed value; nil for count.
        let value: Expression?
    }

    let definition: ViewDefinition
    let code: UInt16
    let aggregate: AggregateKind
    let layout: ViewStateLayout
    /// Sources by event type code.
    let sources: [UInt16: Source]
    /// Whether numbers read back as int (every source contributes a plain, optionally signed, int
    /// field) rather than decimal.
    let numbersAreInts: Bool

    var name: String { definition.name }

    init?(_ view: ViewDefinition, code: UInt16, definitions: Definitions, eventCodes: [String: UInt16]) {
        definition = view
        self.code = code
        aggregate = view.aggregate
        layout = ViewStateLayout(view.aggregate)
        var sources: [UInt16: Source] = [:]
        var allInts = true
        for source in view.sources {
            guard let event = definitions.eventType(named: source.eventType), let eventCode = eventCodes[event.name],
                let entityField = event.fields.firstIndex(where: { $0.name == view.entity })
            else { return nil }
            let filter = view.filter.flatMap { try? ExpressionParser.parse($0) }
            let valueText = view.aggregate == .count ? nil : (source.value ?? view.argument)
            let value = valueText.flatMap { try? ExpressionParser.parse($0) }
            if view.filter != nil && filter == nil { return nil }
            if valueText != nil && value == nil { return nil }
            if let value, !Self.isPlainIntField(value, in: event) { allInts = false }
            sources[eventCode] = Source(entityField: entityField, filter: filter, value: value)
        }
        self.sources = sources
        numbersAreInts = allInts && view.aggregate != .count
    }

    private static func isPlainIntField(_ expression: Expression, in event: EventTypeDefinition) -> Bool {
        switch expression {
        case .name(let name, _): return event.field(named: name)?.type.base == .int
        case .unary(.plus, let inner), .unary(.negate, let inner): return isPlainIntField(inner, in: event)
        default: return false
        }
    }
}
