import Foundation
import TallyLMDB

/// Stable codes of view states in a store, keyed by the state's *fingerprint*
/// (``ViewState/fingerprint(_:_:)``): everything that decides the state (entity, kind, sources and
/// their values, filter, tile levels), not the windows or catalog text that reads alone use. A
/// state new to the served definitions gets a fresh code and is backfilled from the log; a code is
/// never reused, so state left by a removed view is never read again.
enum ViewCodes {
    /// The state codes the store holds for the served definitions, by fingerprint.
    static func read(_ txn: some TransactionReading, meta: Database) throws -> [String: UInt16] {
        try storedCodes(txn, meta: meta)
    }

    /// Gives every state of `definitions` a code, keeping those already served; returns the codes
    /// by fingerprint and the codes that are new (their state must be backfilled).
    static func assign(_ definitions: Definitions, in txn: WriteTransaction, meta: Database) throws -> (
        codes: [String: UInt16], fresh: Set<UInt16>
    ) {
        let stored = try storedCodes(txn, meta: meta)
        var next = try txn.value(meta, MetaKey.nextViewCode).flatMap { $0.withUnsafeBytes(BigEndian.uint16) } ?? 1
        var served: [String: UInt16] = [:]
        var fresh: Set<UInt16> = []
        for view in definitions.views {
            let print = ViewState.fingerprint(view, definitions)
            if served[print] != nil { continue }
            if let code = stored[print] {
                served[print] = code
            } else {
                guard next < UInt16.max else {
                    throw TallyError(.incompatibleDefinitions, "too many view versions over the store's life")
                }
                served[print] = next
                fresh.insert(next)
                next += 1
            }
        }
        if served != stored {
            try txn.put(meta, MetaKey.viewCodes, Array(try JSONEncoder().encode(served)))
            try txn.put(meta, MetaKey.nextViewCode, BigEndian.bytes(next))
        }
        return (served, fresh)
    }

    /// The code of entity heads in this store's `views` database (``ViewStateKey``): 0xFFFF in a
    /// store created since heads sort after the entity's states, 0 in an older one (which keeps
    /// its heads where they are: moving them would rewrite every entity).
    static func headCode(_ txn: some TransactionReading, meta: Database) throws -> UInt16 {
        try txn.value(meta, MetaKey.viewHeadCode).flatMap { $0.withUnsafeBytes(BigEndian.uint16) }
            ?? ViewStateKey.headBeforeStates
    }

    /// Records the head code of a store being created.
    static func stampHeadCode(in txn: WriteTransaction, meta: Database) throws {
        try txn.put(meta, MetaKey.viewHeadCode, BigEndian.bytes(ViewStateKey.headAfterStates))
    }

    private static func storedCodes(_ txn: some TransactionReading, meta: Database) throws -> [String: UInt16] {
        guard let json = try txn.value(meta, MetaKey.viewCodes) else { return [:] }
        return try JSONDecoder().decode([String: UInt16].self, from: Data(json))
    }
}
