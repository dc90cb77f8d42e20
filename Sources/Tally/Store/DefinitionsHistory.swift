import Foundation
import TallyLMDB

/// Every definitions version a store has applied, kept in `meta` so that reads at old tokens use
/// the definitions that were served then (a removed view still answers an old token), and a
/// definitions change in progress (its backfill) survives a crash.
///
/// | meta key | value |
/// |---|---|
/// | `definitions/v/<version, 4 B>` | JSON ``DefinitionsRecord`` |
/// | `definitions_pending` | JSON ``PendingDefinitions`` while a new version is backfilled |
enum DefinitionsHistory {
    static func recordKey(_ version: UInt32) -> [UInt8] { Array("definitions/v/".utf8) + BigEndian.bytes(version) }
    static let recordPrefix = Array("definitions/v/".utf8)
    static let pendingKey = Array("definitions_pending".utf8)

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Every recorded version, oldest first.
    static func records(_ txn: some TransactionReading, meta: Database) throws -> [DefinitionsRecord] {
        var records: [DefinitionsRecord] = []
        try txn.withCursor(meta) { cursor in
            var entry = try recordPrefix.withUnsafeBytes { try cursor.seek(atLeast: $0) }
            while let current = entry, current.key.starts(with: recordPrefix) {
                records.append(try JSONDecoder().decode(DefinitionsRecord.self, from: Data(current.value)))
                entry = try cursor.next()
            }
        }
        return records
    }

    static func write(_ record: DefinitionsRecord, in txn: WriteTransaction, meta: Database) throws {
        try txn.put(meta, recordKey(record.version), Array(try encoder.encode(record)))
    }

    static func pending(_ txn: some TransactionReading, meta: Database) throws -> PendingDefinitions? {
        guard let json = try txn.value(meta, pendingKey) else { return nil }
        return try JSONDecoder().decode(PendingDefinitions.self, from: Data(json))
    }

    static func write(_ pending: PendingDefinitions?, in txn: WriteTransaction, meta: Database) throws {
        if let pending {
            try txn.put(meta, pendingKey, Array(try encoder.encode(pending)))
        } else {
            _ = try txn.delete(meta, pendingKey)
        }
    }
}

/// One applied definitions version: the definitions, the state codes its views read, and the LSN
/// from which reads use it (nil while its new views are still being backfilled).
struct DefinitionsRecord: Codable, Sendable, Equatable {
    let version: UInt32
    let definitions: Definitions
    /// State codes by fingerprint (``ViewCodes``).
    let viewCodes: [String: UInt16]
    /// Reads at this LSN or later use this version (until a later one). The first version is
    /// served from LSN 0; a later one from the LSN of its logged definitions change.
    var servedFrom: UInt64?
}

/// A definitions version applied but not served yet: its new view states are being backfilled
/// from the log, in chunks of write transactions that ingest interleaves with.
struct PendingDefinitions: Codable, Sendable, Equatable {
    let version: UInt32
    /// State codes to backfill.
    let fresh: [UInt16]
    /// Events up to this LSN are backfilled; later ones are maintained at ingest.
    let target: UInt64
    /// The next LSN to backfill.
    var next: UInt64
    /// Events replayed so far.
    var replayed: UInt64
}
