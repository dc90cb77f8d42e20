import Foundation
import TallyLMDB

/// Stable codes of views in a store. A view's code names its state; it is keyed by the view's
/// *fingerprint* — everything that decides its state (entity, sources and their values, aggregate,
/// argument, filter), not its windows or catalog text, which reads alone use. A view whose
/// fingerprint is new to the served definitions gets a fresh code and is backfilled from the log;
/// a code is never reused, so state left by a removed view is never read again.
enum ViewCodes {
    static func fingerprint(_ view: ViewDefinition, _ definitions: Definitions) -> String {
        let keyType = definitions.entity(named: view.entity)?.keyType.rawValue ?? "?"
        let sources = view.sources.map { "\($0.eventType)=\($0.value ?? "")" }.sorted().joined(separator: ";")
        return [
            view.entity, keyType, view.aggregate.rawValue, view.argument ?? "", view.filter ?? "", sources,
        ].joined(separator: "|")
    }

    /// Codes of the views of `definitions` that the store holds, by view name.
    static func read(_ txn: some TransactionReading, meta: Database, definitions: Definitions) throws -> [String:
        UInt16]
    {
        let stored = try storedCodes(txn, meta: meta)
        var codes: [String: UInt16] = [:]
        for view in definitions.views {
            if let code = stored[fingerprint(view, definitions)] { codes[view.name] = code }
        }
        return codes
    }

    /// Gives every view of `definitions` a code, keeping those of views already served; returns
    /// the codes by view name and the names of views that are new (their state must be backfilled).
    static func assign(_ definitions: Definitions, in txn: WriteTransaction, meta: Database) throws -> (
        codes: [String: UInt16], fresh: Set<String>
    ) {
        let stored = try storedCodes(txn, meta: meta)
        var next = try txn.value(meta, MetaKey.nextViewCode).flatMap { $0.withUnsafeBytes(BigEndian.uint16) } ?? 1
        var served: [String: UInt16] = [:]
        var codes: [String: UInt16] = [:]
        var fresh: Set<String> = []
        for view in definitions.views {
            let print = fingerprint(view, definitions)
            if let code = stored[print] ?? served[print] {
                codes[view.name] = code
            } else {
                guard next < UInt16.max else {
                    throw TallyError(.incompatibleDefinitions, "too many view versions over the store's life")
                }
                codes[view.name] = next
                fresh.insert(view.name)
                next += 1
            }
            served[print] = codes[view.name]
        }
        if served != stored {
            try txn.put(meta, MetaKey.viewCodes, Array(try JSONEncoder().encode(served)))
            try txn.put(meta, MetaKey.nextViewCode, BigEndian.bytes(next))
        }
        return (codes, fresh)
    }

    private static func storedCodes(_ txn: some TransactionReading, meta: Database) throws -> [String: UInt16] {
        guard let json = try txn.value(meta, MetaKey.viewCodes) else { return [:] }
        return try JSONDecoder().decode([String: UInt16].self, from: Data(json))
    }
}
