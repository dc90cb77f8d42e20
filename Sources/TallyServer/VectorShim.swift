import Foundation
import HTTPTypes
import Tally

// TEMPORARY SHIM — delete this file once `Snapshot.vector(entity:key:at:)` lands on main (issue 5).
//
// It declares exactly the engine contract the server is written against, so the vector endpoints
// compile and their HTTP behaviour (statuses, envelope, snapshot token, request order) can be
// tested before views are maintained. Every view answers its empty-window value.

/// The snapshot token of a read (shim of the engine type).
public struct SnapshotToken: Sendable, Hashable, Codable {
    public var lsn: LSN
    public var at: Int64
    public var definitionsVersion: UInt32
}

/// A view value (shim of the engine type).
public enum FeatureValue: Sendable, Hashable {
    case null
    case int(Int64)
    case decimal(ExactDecimal)
    case string(String)
    case bool(Bool)
    case timestamp(Int64)
}

/// One entity's vector (shim of the engine type).
public struct EntityVector: Sendable {
    public let entity: String
    public let key: String
    public let views: [(name: String, value: FeatureValue)]
    public let recomputed: Bool
}

extension Snapshot {
    /// Resolves lsn (default: this snapshot's; above it → invalid_argument) and at (default: now).
    public func token(lsn: LSN? = nil, at: Int64? = nil) throws(TallyError) -> SnapshotToken {
        let current: LSN
        do { current = try self.lsn } catch { throw TallyError(.storageFailure, "\(error)") }
        let resolved = lsn ?? current
        guard resolved <= current else {
            throw TallyError(.invalidArgument, "lsn \(resolved) is beyond the store's current LSN \(current)")
        }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        return SnapshotToken(lsn: resolved, at: at ?? now, definitionsVersion: definitionsVersion)
    }

    /// unknown entity → unknown_entity; empty key → invalid_argument; views answer empty windows.
    /// (The engine throws `TallyError` code `unknown_entity`; the shim cannot make that code.)
    public func vector(entity: String, key: String, at token: SnapshotToken) throws -> EntityVector {
        guard let definitions = servedDefinitions, definitions.entity(named: entity) != nil else {
            throw APIError(.notFound, "unknown_entity", "no entity type named '\(entity)'")
        }
        guard !key.isEmpty, key.utf8.count <= 256 else {
            throw TallyError(.invalidArgument, "an entity key is 1 to 256 bytes of UTF-8")
        }
        var views: [(name: String, value: FeatureValue)] = []
        for view in definitions.views where view.entity == entity {
            let empty: FeatureValue =
                switch view.aggregate {
                case .count, .countDistinct: .int(0)
                case .sum: .int(0)
                default: .null
                }
            for name in view.servedNames { views.append((name, empty)) }
        }
        return EntityVector(entity: entity, key: key, views: views, recomputed: false)
    }
}
