import Foundation

/// The version of each item of the served definitions: the oldest served definitions version
/// from which the item is unchanged up to now (its `description`, `owner` and `tags` aside). A
/// view added in version 3 and left alone since is version 3; changing its window makes it the
/// version that changed it.
public struct CatalogVersions: Sendable, Equatable {
    public var entities: [String: UInt32] = [:]
    public var events: [String: UInt32] = [:]
    public var views: [String: UInt32] = [:]
    public var lists: [String: UInt32] = [:]
    public var flags: [String: UInt32] = [:]
    public var rules: [String: UInt32] = [:]
}

extension Tally {
    /// Per-item versions of ``servedDefinitions`` (see ``CatalogVersions``).
    public var catalogVersions: CatalogVersions { CatalogVersions(definitionsState.current, upTo: nil) }
}

extension Snapshot {
    /// The definitions served at `token`'s LSN (nil before any), as `GET /v1/definitions` lists
    /// them for a read point.
    public func servedDefinitions(at token: SnapshotToken) -> Definitions? { stored(at: token.lsn)?.definitions }

    /// Per-item versions of ``servedDefinitions(at:)`` (see ``CatalogVersions``).
    public func catalogVersions(at token: SnapshotToken) -> CatalogVersions {
        CatalogVersions(definitions, upTo: token.lsn.rawValue)
    }
}

extension CatalogVersions {
    /// The versions of the definitions served at `lsn` (nil: the newest served).
    init(_ current: DefinitionsState.Current, upTo lsn: UInt64?) {
        let order = current.servedNewestFirst(through: lsn)
        let history = order.compactMap { current.versions[$0]?.definitions }
        guard let newest = history.first else {
            self.init()
            return
        }
        func versions<Item: Encodable>(_ items: (Definitions) -> [Item], name: (Item) -> String) -> [String: UInt32] {
            var result: [String: UInt32] = [:]
            for item in items(newest) {
                let key = name(item)
                let shape = CatalogShape.of(item)
                var version = order[0]
                for (index, older) in history.enumerated().dropFirst() {
                    guard let match = items(older).first(where: { name($0) == key }), CatalogShape.of(match) == shape
                    else { break }
                    version = order[index]
                }
                result[key] = version
            }
            return result
        }
        self.init(
            entities: versions(\.entities, name: \.name), events: versions(\.events, name: \.name),
            views: versions(\.views, name: \.name), lists: versions(\.lists, name: \.name),
            flags: versions(\.flags, name: \.name), rules: versions(\.rules, name: \.name))
    }
}

/// An item's definition without its catalog metadata, as comparable JSON.
enum CatalogShape {
    static func of(_ item: some Encodable) -> Data? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(item),
            var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        object["catalog"] = nil
        return try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
