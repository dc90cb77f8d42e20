import Foundation
import TallyLMDB

/// The definitions a store serves, as recorded in it: the definitions, their version, and each
/// event type's stable code.
final class StoredDefinitions: Sendable {
    let definitions: Definitions
    let version: UInt32
    let catalog: EventCatalog
    /// The served views, compiled, with their codes.
    let views: ViewCatalog
    /// The state codes `views` read, by fingerprint (``ViewCodes``).
    let viewCodes: [String: UInt16]
    /// The flags' `set_when` rules, compiled for ingest.
    let flagRules: FlagRules
    /// The decision rules, compiled.
    let ruleSet: RuleSet
    /// Per entity type, its flags and the lists declared `of:` it, in definitions order (vectors
    /// read them on every read).
    let markNames: [String: (flags: [String], lists: [String])]

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Reads the newest definitions the store holds (nil for a store that never had definitions).
    static func read(_ txn: some TransactionReading, meta: Database) throws -> StoredDefinitions? {
        guard let json = try txn.value(meta, MetaKey.definitions) else { return nil }
        let definitions = try JSONDecoder().decode(Definitions.self, from: Data(json))
        let version =
            try txn.value(meta, MetaKey.definitionsVersion).flatMap { bytes in
                bytes.withUnsafeBytes { BigEndian.uint32($0) }
            } ?? 1
        return try StoredDefinitions(
            definitions: definitions, version: version, viewCodes: ViewCodes.read(txn, meta: meta), txn, meta: meta)
    }

    /// The definitions of one recorded version.
    convenience init(_ record: DefinitionsRecord, _ txn: some TransactionReading, meta: Database) throws {
        try self.init(
            definitions: record.definitions, version: record.version, viewCodes: record.viewCodes, txn, meta: meta)
    }

    private convenience init(
        definitions: Definitions, version: UInt32, viewCodes: [String: UInt16], _ txn: some TransactionReading,
        meta: Database
    ) throws {
        var codes: [String: UInt16] = [:]
        for event in definitions.events {
            guard
                let code = try txn.value(meta, MetaKey.eventTypeCode(event.name)).flatMap({
                    $0.withUnsafeBytes(BigEndian.uint16)
                })
            else { throw TallyError(.storageFailure, "the store has no code for event type \(event.name)") }
            codes[event.name] = code
        }
        self.init(
            definitions: definitions, version: version, eventCodes: codes, viewCodes: viewCodes,
            headCode: try ViewCodes.headCode(txn, meta: meta))
    }

    private init(
        definitions: Definitions, version: UInt32, eventCodes: [String: UInt16], viewCodes: [String: UInt16],
        headCode: UInt16
    ) {
        self.definitions = definitions
        self.version = version
        catalog = EventCatalog(definitions: definitions, codes: eventCodes)
        views = ViewCatalog(
            definitions: definitions, eventCodes: eventCodes, stateCodes: viewCodes, headCode: headCode)
        self.viewCodes = viewCodes
        flagRules = FlagRules(definitions: definitions, catalog: catalog, views: views)
        ruleSet = RuleSet(definitions: definitions)
        var markNames: [String: (flags: [String], lists: [String])] = [:]
        for flag in definitions.flags { markNames[flag.entity, default: ([], [])].flags.append(flag.name) }
        for list in definitions.lists {
            if case .entity(let entity) = list.of { markNames[entity, default: ([], [])].lists.append(list.name) }
        }
        self.markNames = markNames
    }

    /// The record of this version in the store's history.
    func record(servedFrom: UInt64?) -> DefinitionsRecord {
        DefinitionsRecord(version: version, definitions: definitions, viewCodes: viewCodes, servedFrom: servedFrom)
    }

    /// Makes `new` the store's definitions in `txn`: unchanged definitions keep their version;
    /// changed ones must keep every event type compatible, and get the next version. Event types
    /// keep their codes for the life of the store.
    /// Also returns the codes of views that are new to the store (to backfill).
    static func apply(_ new: Definitions, in txn: WriteTransaction, meta: Database) throws
        -> (stored: StoredDefinitions, freshViews: Set<UInt16>)
    {
        let current = try read(txn, meta: meta)
        if let current, current.definitions == new, current.views.views.count == new.views.count,
            current.views.legacy.isEmpty
        {
            return (current, [])
        }
        if let current, current.definitions != new {
            // Every version's events may still be in the log, those of a type dropped since too.
            let history =
                try DefinitionsHistory.records(txn, meta: meta).map { ($0.version, $0.definitions) }
                + [(current.version, current.definitions)]
            let problems = incompatibilities(history: history, to: new)
            guard problems.isEmpty else {
                throw TallyError(
                    .incompatibleDefinitions,
                    "the definitions change event types in ways stored events cannot follow: "
                        + problems.joined(separator: "; "))
            }
        }
        var next = try txn.value(meta, MetaKey.nextEventTypeCode).flatMap { $0.withUnsafeBytes(BigEndian.uint16) } ?? 1
        var codes: [String: UInt16] = [:]
        for event in new.events {
            if let code = try txn.value(meta, MetaKey.eventTypeCode(event.name)).flatMap({
                $0.withUnsafeBytes(BigEndian.uint16)
            }) {
                codes[event.name] = code
            } else {
                guard next < UInt16.max else {
                    throw TallyError(.incompatibleDefinitions, "too many event types over the store's life")
                }
                codes[event.name] = next
                try txn.put(meta, MetaKey.eventTypeCode(event.name), BigEndian.bytes(next))
                next += 1
            }
        }
        try txn.put(meta, MetaKey.nextEventTypeCode, BigEndian.bytes(next))
        let (viewCodes, fresh) = try ViewCodes.assign(new, in: txn, meta: meta)
        var version = current?.version ?? 0
        if current?.definitions != new {
            version += 1
            try txn.put(meta, MetaKey.definitions, Array(try encoder.encode(new)))
            try txn.put(meta, MetaKey.definitionsVersion, BigEndian.bytes(version))
        }
        let stored = StoredDefinitions(
            definitions: new, version: version, eventCodes: codes, viewCodes: viewCodes,
            headCode: try ViewCodes.headCode(txn, meta: meta))
        return (stored, fresh)
    }

    /// Why stored events of a type could not be read under the new definitions, given every
    /// earlier version (`history`, oldest first): events were stored under each version that had
    /// their type, so the new one must read all of them, also when the type was dropped in
    /// between and is now declared again. Adding event types, adding nullable fields, making a
    /// field nullable and dropping fields or types are compatible; a field keeps its base type.
    ///
    /// A history that already disagrees with itself (a binary before this check let a re-declared
    /// type change) is checked back to the newest version it disagrees with, not past it: that
    /// store can still move on, and what its older events lost, they lost then.
    static func incompatibilities(history: [(version: UInt32, definitions: Definitions)], to new: Definitions)
        -> [String]
    {
        var problems: [String] = []
        var said = Set<String>()  // each problem once, named by the newest version that has it
        for after in new.events {
            var consistent: [(version: UInt32, type: EventTypeDefinition)] = []  // newest first
            for (version, definitions) in history.reversed() {
                guard let type = definitions.eventType(named: after.name) else { continue }
                if consistent.contains(where: { !pairProblems(type, $0.type, version: nil).isEmpty }) { break }
                consistent.append((version, type))
            }
            for (index, earlier) in consistent.enumerated() {
                // The newest version that had the type speaks plainly; older ones name their version.
                let plain = pairProblems(earlier.type, after, version: nil)
                let named = index == 0 ? plain : pairProblems(earlier.type, after, version: earlier.version)
                for (key, problem) in zip(plain, named) where said.insert(key).inserted {
                    problems.append(problem)
                }
            }
        }
        return problems
    }

    /// Why events stored under `earlier` could not be read as `later` (`version`: the earlier
    /// version's number, to name it in the messages when it is not the newest).
    private static func pairProblems(_ earlier: EventTypeDefinition, _ later: EventTypeDefinition, version: UInt32?)
        -> [String]
    {
        let stored = version.map { " (events stored under version \($0))" } ?? ""
        var problems: [String] = []
        if earlier.idField != later.idField {
            problems.append("\(later.name): the id field changes from \(earlier.idField) to \(later.idField)\(stored)")
        }
        if earlier.timeField != later.timeField {
            problems.append(
                "\(later.name): the time field changes from \(earlier.timeField) to \(later.timeField)\(stored)")
        }
        for field in later.fields {
            if let previous = earlier.field(named: field.name) {
                if previous.type.base != field.type.base {
                    problems.append(
                        "\(later.name).\(field.name) changes type from \(previous.type) to \(field.type)\(stored)")
                } else if previous.type.nullable, !field.type.nullable {
                    problems.append(
                        "\(later.name).\(field.name) must stay nullable (\(field.type)?), since stored events may hold null\(stored)"
                    )
                }
            } else if !field.type.nullable {
                problems.append(
                    "\(later.name).\(field.name) must be nullable (\(field.type)?), since stored events lack it\(stored)"
                )
            }
        }
        return problems
    }
}
