import TallyLMDB
import Yams

/// An aggregate asked for at read time, not declared (SPEC §1 "On-demand aggregations"): a view
/// written as in the definitions — `entity`, `from`, `aggregate`, `where`, `window` (one) — read for
/// one key at a token by **scanning the retained log** (docs/VIEWS.md, "On-demand aggregates").
///
/// ```swift
/// let spec = #"{"entity":"card","from":"authorization","aggregate":"count","window":"90s","where":"merchant in ('m1','m2')"}"#
/// let result = try store.read { s in
///     try s.aggregate(try AdHocAggregate(name: "recent", json: spec, in: s), key: "c1", at: try s.token())
/// }
/// result.value     // .int(3)
/// result.scanned   // log records read
/// ```
public struct AdHocAggregate: Sendable {
    let view: ViewDefinition
    let state: ViewState
    let compiled: CompiledView
    /// The largest lateness of any event type in any definitions version: how far back in LSN
    /// order an event inside the window can hide.
    let lateness: Int64

    /// The name the answer uses.
    public var name: String { view.name }

    /// Parses and checks `json` (or YAML) as a view named `name` against the definitions `snapshot`
    /// serves; ``TallyError/Code/invalidArgument`` with every problem and its path otherwise.
    public init(name: String, json text: String, in snapshot: Snapshot) throws(TallyError) {
        guard let served = snapshot.stored ?? snapshot.definitions.newestServed else {
            throw TallyError(.noDefinitions, "the store has no definitions yet")
        }
        var definitions = served.definitions
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw TallyError(.invalidArgument, "aggregate \(name): not valid JSON: \(error)")
        }
        guard let node else { throw TallyError(.invalidArgument, "aggregate \(name) is empty") }
        let reader = DefinitionsReader()
        let parser = DefinitionsParser(reader: reader)
        let views = parser.views(Node.mapping(Node.Mapping([(Node(name), node)])), definitions)
        if reader.issues.isEmpty, let view = views.first {
            definitions.views = [view]
            DefinitionsExpressionChecker(reader: reader, definitions: definitions).checkViews()
        }
        guard reader.issues.isEmpty, let view = views.first else {
            // Paths as the request names them: `definition.aggregate`, not `views.<name>.aggregate`.
            let prefix = "views.\(name)"
            let problems = reader.issues.map { issue in
                let path = issue.path.hasPrefix(prefix) ? "definition" + issue.path.dropFirst(prefix.count) : issue.path
                return "\(path): \(issue.message)"
            }.joined(separator: "; ")
            throw TallyError(.invalidArgument, "aggregate \(name): \(problems)")
        }
        guard view.windows.count == 1 else {
            throw TallyError(.invalidArgument, "aggregate \(name): give one window, not \(view.windows.count)")
        }
        guard
            let state = ViewState(
                view, code: 0, definitions: definitions, eventCodes: served.catalog.schemas.mapValues(\.code))
        else { throw TallyError(.invalidArgument, "aggregate \(name) cannot be compiled") }
        self.view = view
        self.state = state
        compiled = CompiledView(definition: view, state: 0, numbersAreInts: state.numbersAreInts)
        lateness = snapshot.definitions.versions.values.flatMap { $0.definitions.events.map(\.lateness) }.max() ?? 0
    }
}

/// An on-demand aggregate's answer.
public struct AdHocResult: Sendable {
    public let name: String
    public let value: FeatureValue
    /// Log records read to compute it: the cost of the scan.
    public let scanned: Int
}

extension Snapshot {
    /// The value of `aggregate` for `key` at `token`: the log is scanned backwards from
    /// `token.lsn` until no earlier event can fall in the window `(at − W, at]` (an event at an
    /// earlier LSN is at most the largest lateness later in time than any later one), or to the
    /// retention floor for a lifetime window. Exact, like a view, at any token the log retains.
    public func aggregate(_ aggregate: AdHocAggregate, key: String, at token: SnapshotToken) throws(TallyError)
        -> AdHocResult
    {
        guard let keyType = stored(at: token.lsn)?.views.entityKeyTypes[aggregate.view.entity] else {
            throw TallyError(.unknownEntity, "unknown entity type '\(aggregate.view.entity)'")
        }
        let current = try tallyCall { try self.lsn }
        guard token.lsn <= current else {
            throw TallyError(.invalidArgument, "lsn \(token.lsn) is ahead of the store, which is at lsn \(current)")
        }
        if let refusal = floor.refusal(lsn: token.lsn, at: token.at) { throw refusal }
        let encoded = try Self.entityKey(key, type: keyType, entity: aggregate.view.entity).encoded
        let window = aggregate.view.windows[0].milliseconds
        let low = window.map { token.at - $0 + 1 } ?? Int64.min
        let stop = window.map { _ in low - 1 - aggregate.lateness }
        var matched: [(time: Int64, lsn: UInt64, value: ExpressionValue?)] = []
        var scanned = 0
        try tallyCall {
            try transaction.withCursor(databases.log) { cursor in
                var entry = try BigEndian.bytes(token.lsn.rawValue).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                if let found = entry, BigEndian.uint64(found.key).map({ $0 > token.lsn.rawValue }) ?? true {
                    entry = try cursor.previous()
                } else if entry == nil {
                    entry = try cursor.last()
                }
                while let current = entry, let lsn = BigEndian.uint64(current.key) {
                    if let event = LogRecord.decodeEvent(current.value) {
                        scanned += 1
                        if let stop, event.time <= stop { break }
                        if event.time >= low, event.time <= token.at,
                            let source = aggregate.state.sources[event.typeCode],
                            let contribution = try contribution(event, source, encoded)
                        {
                            matched.append((event.time, lsn, contribution.value))
                        }
                    }
                    entry = try cursor.previous()
                }
            }
        }
        return AdHocResult(name: aggregate.name, value: Self.fold(aggregate, matched), scanned: scanned)
    }

    /// What one event adds: nothing to aggregate for a count, else its value.
    private struct Contribution {
        let value: ExpressionValue?
    }

    /// The event's contribution when it is the key's and passes the filter (a null value
    /// contributes nothing, as in a view); nil when it does not contribute.
    private func contribution(_ event: LogRecord.StoredEvent, _ source: ViewState.Source, _ entity: [UInt8]) throws
        -> Contribution?
    {
        guard let schema = definitions.schema(code: event.typeCode),
            let json = try? StrictJSONParser.parse(Array(event.payload)),
            case .object(let members) = json
        else { return nil }
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        let values = schema.fields.map { field in
            fields[field.name].map { FieldValue(canonical: $0, type: field.type.base) } ?? .null
        }
        guard source.entityField < values.count, ViewStateKey.entity(values[source.entityField]) == entity else {
            return nil
        }
        let evaluator = ExpressionEvaluator(name: { name in
            schema.position(of: name).map { ExpressionValue(values[$0]) } ?? .null
        })
        if let filter = source.filter, !evaluator.holds(filter) { return nil }
        guard let expression = source.value else { return Contribution(value: nil) }
        let value = evaluator.evaluate(expression)
        return value == .null ? nil : Contribution(value: value)
    }

    /// The aggregate over the matched contributions (newest LSN first as scanned).
    static func fold(_ aggregate: AdHocAggregate, _ matched: [(time: Int64, lsn: UInt64, value: ExpressionValue?)])
        -> FeatureValue
    {
        let view = aggregate.compiled
        let ordered = matched.sorted { ($0.time, $0.lsn) < ($1.time, $1.lsn) }
        switch aggregate.view.aggregate {
        case .count: return .int(Int64(ordered.count))
        case .countDistinct: return .int(Int64(Set(ordered.compactMap(\.value)).count))
        case .sum, .avg, .stddev:
            var totals = RunningTotals()
            for item in ordered {
                guard case .number(let micros)? = item.value,
                    let contribution = RunningTotals.contribution(micros: micros, squares: true),
                    let next = totals.adding(contribution)
                else { return .null }  // past 128 bits: no exact answer
                totals = next
            }
            switch aggregate.view.aggregate {
            case .sum: return view.number(micros: totals.sum)
            case .avg:
                guard totals.count > 0 else { return .null }
                return .decimal(
                    ExactDecimal(micros: ExpressionEvaluator.roundHalfEven(totals.sum, dividedBy: Int128(totals.count)))
                )
            default:
                guard totals.count > 0 else { return .null }
                return .decimal(ExactDecimal(micros: PopulationDeviation.micros(totals)))
            }
        case .first, .last, .min, .max:
            let values = ordered.compactMap(\.value)
            let chosen: ExpressionValue?
            switch aggregate.view.aggregate {
            case .first: chosen = values.first
            case .last: chosen = values.last
            case .max:
                chosen = values.reduce(nil) { best, value in
                    best.map { StoredValue.less($0, value) ? value : $0 } ?? value
                }
            default:
                chosen = values.reduce(nil) { best, value in
                    best.map { StoredValue.less(value, $0) ? value : $0 } ?? value
                }
            }
            switch chosen {
            case .number(let micros)?: return view.number(micros: micros)
            case .string(let text)?: return .string(text)
            case .timestamp(let ms)?: return .timestamp(ms)
            case .bool(let flag)?: return .bool(flag)
            default: return .null
            }
        }
    }
}
