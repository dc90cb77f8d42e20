import TallyLMDB

/// The flags of one definitions version compiled for ingest: after an accepted event of one of a
/// flag's `on` types, its `set_when` is evaluated for the event's entity at the event's time, on
/// the state that includes the event; when it holds, the flag is set for `[ts, ts + for)` under
/// the event's LSN (docs/LISTS.md, "Flags set by their rule").
struct FlagRules: Sendable {
    struct Rule: Sendable {
        let name: String
        let entity: String
        let condition: Expression
        let duration: Int64?
        /// Per `on` event type code: the position of the entity's field.
        let entityField: [UInt16: Int]
        /// Served view names of the entity: the view (index in ``ViewCatalog/views``) and window.
        let views: [String: (view: Int, window: Int)]
    }

    let rules: [Rule]
    let byEventType: [UInt16: [Int]]
    let views: ViewCatalog
    /// Every flag's entity, to answer `flag(name)` only for flags of the same entity.
    let flagEntities: [String: String]
    /// Each list's member type.
    let listTypes: [String: ScalarType]

    init(definitions: Definitions, catalog: EventCatalog, views: ViewCatalog) {
        var rules: [Rule] = []
        var byEventType: [UInt16: [Int]] = [:]
        for flag in definitions.flags {
            // A flag without set_when is set only through the API; expressions were checked at load.
            guard let setWhen = flag.setWhen, let condition = try? ExpressionParser.parse(setWhen) else { continue }
            var fields: [UInt16: Int] = [:]
            for name in flag.on {
                guard let schema = catalog.schemas[name],
                    let position = schema.position(of: flag.entity)
                else { continue }
                fields[schema.code] = position
            }
            var served: [String: (view: Int, window: Int)] = [:]
            for (index, view) in views.views.enumerated() where view.definition.entity == flag.entity {
                for (window, name) in view.servedNames.enumerated() { served[name] = (index, window) }
            }
            for code in fields.keys { byEventType[code, default: []].append(rules.count) }
            rules.append(
                Rule(
                    name: flag.name, entity: flag.entity, condition: condition, duration: flag.duration,
                    entityField: fields, views: served))
        }
        self.rules = rules
        self.byEventType = byEventType
        self.views = views
        flagEntities = Dictionary(uniqueKeysWithValues: definitions.flags.map { ($0.name, $0.entity) })
        listTypes = Self.listTypes(definitions)
    }

    /// Each list's member type: its entity's key type, or its scalar type.
    static func listTypes(_ definitions: Definitions) -> [String: ScalarType] {
        Dictionary(
            uniqueKeysWithValues: definitions.lists.map { list in
                switch list.of {
                case .entity(let name): (list.name, definitions.entity(named: name)?.keyType ?? .string)
                case .scalar(let type): (list.name, type)
                }
            })
    }

    /// What evaluating flags needs for one write transaction, made once per ingest request: a
    /// view reader with its own cursor and key buffer, and the retention floor.
    final class Session {
        let txn: WriteTransaction
        let databases: Tally.Databases
        let reader: ViewReader<WriteTransaction>

        init(txn: WriteTransaction, databases: Tally.Databases) throws {
            self.txn = txn
            self.databases = databases
            let floor = try RetentionFloor.read(txn, meta: databases.meta)
            reader = ViewReader(
                txn: txn, database: databases.views, cursor: try txn.openCursor(databases.views),
                floorTime: floor.isEmpty ? nil : floor.time)
        }

        /// Closes the reader's cursor; call before the transaction ends.
        func close() { reader.cursor.close() }
    }

    /// Whether any flag is set by events of `code`.
    func applies(to code: UInt16) -> Bool { byEventType[code] != nil }

    /// Evaluates the flags `event` may set, after it was applied at `lsn` in the session's
    /// transaction.
    func apply(after event: DecodedEvent, lsn: UInt64, in session: Session) throws {
        guard let indices = byEventType[event.schema.code] else { return }
        for index in indices {
            let rule = rules[index]
            guard let position = rule.entityField[event.schema.code],
                let entity = ViewStateKey.entity(event.values[position])
            else { continue }
            if try holds(rule, entity: entity, event: event, lsn: lsn, session) {
                try set(
                    rule, entity: entity, time: event.time, lsn: lsn, txn: session.txn, marks: session.databases.marks)
            }
        }
    }

    private func holds(_ rule: Rule, entity: [UInt8], event: DecodedEvent, lsn: UInt64, _ session: Session) throws
        -> Bool
    {
        let txn = session.txn
        let databases = session.databases
        let reader = session.reader
        var failure: (any Error)?
        func mark(_ kind: MarkKind, _ name: String, _ member: [UInt8]) -> Bool {
            do {
                return try MarkTimeline.holds(
                    kind, name, member, lsn: lsn, at: event.time, in: txn, marks: databases.marks)
            } catch {
                failure = error
                return false
            }
        }
        let evaluator = ExpressionEvaluator(
            name: { name in
                if let (view, window) = rule.views[name] {
                    let compiled = views.views[view]
                    do {
                        let values = try reader.values(
                            compiled, views.states[compiled.state], entity: entity, at: event.time, lsnLimit: nil)
                        return ExpressionValue(values[window])
                    } catch {
                        failure = error
                        return .null
                    }
                }
                guard let position = event.schema.position(of: name) else { return .null }
                return ExpressionValue(event.values[position])
            },
            flag: { name in flagEntities[name] == rule.entity && mark(.flag, name, entity) },
            listContains: { list, value in
                guard let type = listTypes[list], let member = Self.member(value, type: type) else { return false }
                return mark(.list, list, member)
            })
        let result = evaluator.holds(rule.condition)
        if let failure { throw failure }
        return result
    }

    /// Paints the flag true over `[time, time + for)` under the event's LSN, unless the newest
    /// change already paints all of it true.
    private func set(_ rule: Rule, entity: [UInt8], time: Int64, lsn: UInt64, txn: WriteTransaction, marks: Database)
        throws
    {
        let end = rule.duration.map { min(time + $0, Timestamp.maximum) } ?? Int64.max
        if let newest = try MarkChange.newest(
            MarkKey.member(.flag, rule.name, entity), atOrBefore: lsn, in: txn, marks: marks)?.entry,
            newest.added, newest.from <= time, newest.until >= end
        {
            return
        }
        try MarkTimeline.write(
            MarkEntry(added: true, from: time, until: end), .flag, rule.name, entity, lsn: lsn, in: txn, marks: marks)
    }

    /// An expression value as a list member of `type`, in stored form.
    static func member(_ value: ExpressionValue, type: ScalarType) -> [UInt8]? {
        switch (value, type) {
        case (.string(let text), .string): return ViewStateKey.entity(.string(text))
        case (.number(let micros), .int):
            guard micros % 1_000_000 == 0, let number = Int64(exactly: micros / 1_000_000) else { return nil }
            return ViewStateKey.entity(.int(number))
        default: return nil
        }
    }
}

extension ExpressionValue {
    init(_ value: FeatureValue) {
        switch value {
        case .null: self = .null
        case .int(let number): self = .integer(number)
        case .decimal(let decimal): self = .decimal(decimal)
        case .string(let text): self = .string(text)
        case .bool(let flag): self = .bool(flag)
        case .timestamp(let ms): self = .timestamp(ms)
        }
    }
}
