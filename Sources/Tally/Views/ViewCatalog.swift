/// The views of the current definitions, compiled for maintenance and reads. Views that need the
/// same state — same entity, sources, values and filter, and aggregates kept alike (sum and avg
/// share running totals; several windows are one state) — share one ``ViewState`` and its code.
struct ViewCatalog: Sendable {
    /// Served views in definitions order.
    let views: [CompiledView]
    /// The distinct states, each maintained once per event.
    let states: [ViewState]
    /// Indices into `states` of the states each event type feeds, by event type code.
    let statesByEventType: [UInt16: [Int]]
    /// Entity types by name, with their key types.
    let entityKeyTypes: [String: ScalarType]
    /// Views whose state this store has not built yet (a read-only open of a store the writer has
    /// not opened with these definitions).
    let unbuilt: [String]
    /// Views read from a state of an older layout (``ViewStateLayout``): a finite-window
    /// count_distinct state built before count tiles (read by counting index entries), a
    /// finite-window min/max state built before chains (read from tiles alone) or with 1-second
    /// tiles; exact either way. The next writable open rebuilds it in the current layout
    /// (docs/VIEWS.md).
    let legacy: [String]
    /// Served names of every view (an upper bound of one vector's values).
    let servedNameCount: Int
    /// The store's code of entity heads (``ViewCodes/headCode(_:meta:)``).
    let headCode: UInt16

    init(definitions: Definitions, eventCodes: [String: UInt16], stateCodes: [String: UInt16], headCode: UInt16) {
        self.headCode = headCode
        var compiled: [CompiledView] = []
        var states: [ViewState] = []
        var stateIndex: [UInt16: Int] = [:]
        var unbuilt: [String] = []
        var legacy: [String] = []
        for view in definitions.views {
            // The newest layout the store holds this view's state in.
            let found = ViewStateLayout.newestFirst.lazy.compactMap { layout in
                stateCodes[ViewState.fingerprint(view, definitions, layout: layout)].map { (layout, $0) }
            }.first
            guard let (layout, code) = found else {
                unbuilt.append(view.name)
                continue
            }
            if layout != .current { legacy.append(view.name) }
            guard
                let state = ViewState(
                    view, code: code, definitions: definitions, eventCodes: eventCodes, layout: layout)
            else { continue }
            let index: Int
            if let existing = stateIndex[code] {
                index = existing
            } else {
                index = states.count
                stateIndex[code] = index
                states.append(state)
            }
            compiled.append(CompiledView(definition: view, state: index, numbersAreInts: state.numbersAreInts))
        }
        views = compiled
        servedNameCount = compiled.reduce(0) { $0 + $1.servedNames.count }
        self.unbuilt = unbuilt
        self.legacy = legacy
        self.states = states
        statesByEventType = Self.index(states)
        entityKeyTypes = Dictionary(uniqueKeysWithValues: definitions.entities.map { ($0.name, $0.keyType) })
    }

    /// What ingest maintains while a new definitions version is backfilled: the states of every
    /// catalog in `catalogs`, each once (by code); reads use the views of the first.
    init(maintaining catalogs: [ViewCatalog]) {
        var states: [ViewState] = []
        var seen: Set<UInt16> = []
        for catalog in catalogs {
            for state in catalog.states where seen.insert(state.code).inserted { states.append(state) }
        }
        views = catalogs.first?.views ?? []
        servedNameCount = catalogs.first?.servedNameCount ?? 0
        unbuilt = catalogs.first?.unbuilt ?? []
        legacy = catalogs.first?.legacy ?? []
        headCode = catalogs.first?.headCode ?? ViewStateKey.headBeforeStates
        entityKeyTypes = catalogs.reversed().reduce(into: [:]) { types, catalog in
            types.merge(catalog.entityKeyTypes) { _, newer in newer }
        }
        self.states = states
        statesByEventType = Self.index(states)
    }

    private static func index(_ states: [ViewState]) -> [UInt16: [Int]] {
        var byEventType: [UInt16: [Int]] = [:]
        for (index, state) in states.enumerated() {
            for eventCode in state.sources.keys { byEventType[eventCode, default: []].append(index) }
        }
        return byEventType
    }
}

/// One served view: its definition and the state it reads.
///
/// A class (immutable): every vector read walks the catalog's views, and a struct copy would
/// retain each of the definition's strings and arrays.
final class CompiledView: Sendable {
    let definition: ViewDefinition
    /// Index into ``ViewCatalog/states``.
    let state: Int
    /// Whether numbers read back as int (every source contributes a plain, optionally signed, int
    /// field) rather than decimal.
    let numbersAreInts: Bool
    /// ``ViewDefinition/servedNames``, made once (vector reads use them every time).
    let servedNames: [String]

    init(definition: ViewDefinition, state: Int, numbersAreInts: Bool) {
        self.definition = definition
        self.state = state
        self.numbersAreInts = numbersAreInts
        servedNames = definition.servedNames
    }

    var name: String { definition.name }
    var aggregate: AggregateKind { definition.aggregate }
}

/// How a state is kept (docs/VIEWS.md).
enum ViewStateKind: String, Sendable, Equatable {
    /// count: per contributing event, the running count up to it in (event time, LSN) order.
    case count
    /// sum, avg: running count of values and running sum.
    case totals
    /// stddev: running count, sum and sum of squares.
    case squares
    /// first, last: per contributing event, its value.
    case values
    /// min, max: the values, plus tiles holding each tile's min and max.
    case extremes
    /// count_distinct: per contributing event, its member.
    case members

    init(_ aggregate: AggregateKind) {
        switch aggregate {
        case .count: self = .count
        case .sum, .avg: self = .totals
        case .stddev: self = .squares
        case .first, .last: self = .values
        case .min, .max: self = .extremes
        case .countDistinct: self = .members
        }
    }

    var hasRunningTotals: Bool { self == .count || self == .totals || self == .squares }
}

/// The state one or more views read: its code, kind, per-source compiled expressions, and (for
/// extremes) the tile levels its widest window needs.
///
/// A class (immutable), for the same reason as ``CompiledView``.
final class ViewState: Sendable {
    struct Source: Sendable {
        /// Position of the entity key field in the event type's fields.
        let entityField: Int
        let filter: Expression?
        /// The contributed value; nil for count.
        let value: Expression?
    }

    let code: UInt16
    let kind: ViewStateKind
    let entity: String
    /// Sources by event type code.
    let sources: [UInt16: Source]
    let numbersAreInts: Bool
    /// Tile widths in ms, finest first: 1 s × 16^k up to the widest window (from 16 s for a
    /// finite-window min/max state, ``ViewStateLayout/current``). min/max tiles hold the extremes;
    /// count_distinct tiles (finite windows only) count members by latest occurrence.
    let tileWidths: [Int64]
    /// The chain a finite-window min/max state keeps (``ViewStateKey``): the events whose value
    /// beats every later event's. Nil for other kinds, lifetime windows and the older layout.
    let chain: Chain?

    /// Which extreme a chain keeps.
    enum Chain: Sendable {
        case max, min
    }

    /// Tile widths of extremes: 1 s × 16^k, k = 0…7 (the top tile ≈ 8.5 years).
    static let allTileWidths: [Int64] = (0..<8).map { k in (0..<k).reduce(Int64(1000)) { width, _ in width * 16 } }

    /// The finest min/max tile of a state with a chain (``ViewStateLayout/current``).
    static let chainedFinestTile: Int64 = 16_000

    /// What decides a state: entity and key type, state kind, sources and their values, filter,
    /// and the layout's structures (count tiles, chains, the finest min/max tile). An older
    /// `layout` gives the fingerprint a state had in it; a state whose structures did not change
    /// has the same fingerprint in every layout.
    static func fingerprint(
        _ view: ViewDefinition, _ definitions: Definitions, layout: ViewStateLayout = .current
    ) -> String {
        let keyType = definitions.entity(named: view.entity)?.keyType.rawValue ?? "?"
        let kind = ViewStateKind(view.aggregate)
        let sources = view.sources.map { source in
            "\(source.eventType)=\(kind == .count ? "" : (source.value ?? view.argument ?? ""))"
        }.sorted().joined(separator: ";")
        var parts = [view.entity, keyType, kind.rawValue, view.filter ?? "", sources]
        if kind == .extremes { parts.append("tiles=\(tileWidths(for: view.windows).count)") }
        guard layout != .plainTiles else { return parts.joined(separator: "|") }
        if kind == .members, let widths = countTileWidths(for: view.windows) { parts.append("counts=\(widths.count)") }
        if let chain = chain(for: view) {
            parts.append("chain=\(chain)")
            // (Windows are at least 1 s, so a finite one always had a 1-second tile to drop.)
            if layout == .current { parts.append("tiles_from=16s") }
        }
        return parts.joined(separator: "|")
    }

    init?(
        _ view: ViewDefinition, code: UInt16, definitions: Definitions, eventCodes: [String: UInt16],
        layout: ViewStateLayout = .current
    ) {
        self.code = code
        kind = ViewStateKind(view.aggregate)
        entity = view.entity
        var sources: [UInt16: Source] = [:]
        var allInts = true
        for source in view.sources {
            guard let event = definitions.eventType(named: source.eventType), let eventCode = eventCodes[event.name],
                let entityField = event.fields.firstIndex(where: { $0.name == view.entity })
            else { return nil }
            let filter = view.filter.flatMap { try? ExpressionParser.parse($0) }
            let valueText = kind == .count ? nil : (source.value ?? view.argument)
            let value = valueText.flatMap { try? ExpressionParser.parse($0) }
            if view.filter != nil && filter == nil { return nil }
            if valueText != nil && value == nil { return nil }
            if let value, !Self.isPlainIntField(value, in: event) { allInts = false }
            sources[eventCode] = Source(entityField: entityField, filter: filter, value: value)
        }
        self.sources = sources
        numbersAreInts = allInts && kind != .count
        chain = layout == .plainTiles ? nil : Self.chain(for: view)
        switch kind {
        case .extremes:
            let widths = Self.tileWidths(for: view.windows)
            tileWidths = layout == .current && chain != nil ? widths.filter { $0 >= Self.chainedFinestTile } : widths
        case .members: tileWidths = layout == .plainTiles ? [] : Self.countTileWidths(for: view.windows) ?? []
        default: tileWidths = []
        }
    }

    /// The chain of a min/max view whose windows are all finite: a max view's state keeps a max
    /// chain, a min view's a min chain (so a min and a max of one value are two states). A
    /// lifetime window keeps the older layout, as count_distinct does: rebuilding its state from
    /// the log would lose the events retention dropped; its tiles answer it in a few seeks.
    static func chain(for view: ViewDefinition) -> Chain? {
        guard ViewStateKind(view.aggregate) == .extremes, !view.windows.contains(where: { $0.milliseconds == nil })
        else { return nil }
        return view.aggregate == .max ? .max : .min
    }

    /// Count tiles of a count_distinct state: nil when a window is lifetime. Such a state keeps
    /// the fingerprint (and state) it had before count tiles existed, because rebuilding it from
    /// the log would lose members whose events retention dropped; its reads count index entries.
    static func countTileWidths(for windows: [Window]) -> [Int64]? {
        windows.contains { $0.milliseconds == nil } ? nil : tileWidths(for: windows)
    }

    /// The tile widths windows need: every width up to the widest window (all for lifetime). A
    /// narrower window never uses a wider tile; the fingerprint counts them, so views that share
    /// a state share its tiles.
    static func tileWidths(for windows: [Window]) -> [Int64] {
        let widest = windows.map { $0.milliseconds ?? Int64.max }.max() ?? 0
        return allTileWidths.filter { $0 <= widest }
    }

    private static func isPlainIntField(_ expression: Expression, in event: EventTypeDefinition) -> Bool {
        switch expression {
        case .name(let name, _): return event.field(named: name)?.type.base == .int
        case .unary(.plus, let inner), .unary(.negate, let inner): return isPlainIntField(inner, in: event)
        default: return false
        }
    }
}

/// The layouts view state has had, each readable (exactly) until the next writable open rebuilds
/// the state in the newest (docs/VIEWS.md, "State layout"). A state whose structures are the same
/// in two layouts has the same fingerprint in both and is never rebuilt.
enum ViewStateLayout: Sendable, Equatable {
    /// Before count tiles and chains: min/max and lifetime states read tiles from 1 s.
    case plainTiles
    /// Count tiles (finite-window count_distinct) and chains (finite-window min/max), min/max
    /// tiles from 1 s.
    case secondTiles
    /// As ``secondTiles``, but a finite-window min/max state's tiles start at 16 s: the chain
    /// answers reads at or after the entity's newest event, so the 1-second tiles (nearly one per
    /// event) only spared older reads a scan of at most 16 s of raw values at each edge.
    case current

    /// Every layout, newest first: the order a catalog looks for a view's state in.
    static let newestFirst: [ViewStateLayout] = [.current, .secondTiles, .plainTiles]
}
