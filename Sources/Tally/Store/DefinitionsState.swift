import Synchronization

/// What the store's definitions are right now, in memory: every version it has applied (a read at
/// an old LSN uses the version served then), the newest one (ingest decodes with it), the states
/// ingest maintains, and a change in progress.
///
/// Only the writer thread changes it, inside the write transaction that makes the change, and
/// only after that transaction's writes succeeded; a transaction re-applied after an abort sets
/// the same value again. A reader never sees a version before the LSN it is served from commits.
final class DefinitionsState: Sendable {
    struct Current: Sendable {
        /// Every applied version, by number.
        var versions: [UInt32: StoredDefinitions] = [:]
        /// (LSN served from, version), ascending.
        var served: [(from: UInt64, version: UInt32)] = []
        /// The newest applied version: ingest decodes events with it (nil: no definitions yet).
        var newest: StoredDefinitions?
        /// The states ingest maintains: the served version's and, during a change, the new one's.
        var maintenance: ViewCatalog?
        /// A version being backfilled.
        var pending: PendingDefinitions?

        /// The version reads at `lsn` use.
        func served(at lsn: UInt64) -> StoredDefinitions? {
            var low = 0
            var high = served.count
            while low < high {
                let middle = (low + high) / 2
                if served[middle].from <= lsn { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { return served.first.flatMap { versions[$0.version] } }
            return versions[served[low - 1].version]
        }

        /// Each rule of `stored` with the version from which it is unchanged (catalog metadata
        /// aside), as `GET /v1/definitions` reports it (``CatalogVersions``): `stored`'s own
        /// version, or the oldest of the served versions before it, back to the first whose rule
        /// of that name differs in `when` or `outcome`. A decision records these (SPEC §3).
        func ruleVersions(of stored: StoredDefinitions) -> [String: UInt32] {
            let older = servedNewestFirst(through: nil).drop(while: { $0 != stored.version }).dropFirst()
            var result: [String: UInt32] = [:]
            for rule in stored.definitions.rules {
                var version = stored.version
                for candidate in older {
                    guard let match = versions[candidate]?.definitions.rules.first(where: { $0.name == rule.name }),
                        match.when == rule.when, match.outcome == rule.outcome
                    else { break }
                    version = candidate
                }
                result[rule.name] = version
            }
            return result
        }

        /// The versions served from `lsn` or earlier (nil: all), newest first, each once: the
        /// history an item's version (``CatalogVersions``, ``ruleVersions(of:)``) is traced back in.
        func servedNewestFirst(through lsn: UInt64?) -> [UInt32] {
            var order: [UInt32] = []
            for entry in served.reversed() where !order.contains(entry.version) {
                if let lsn, entry.from > lsn { continue }
                order.append(entry.version)
            }
            return order
        }

        /// The newest served version (what reads at the head use, once its LSN is committed).
        var newestServed: StoredDefinitions? { served.last.flatMap { versions[$0.version] } }

        /// The schema of a stored event's type code in any version, newest first.
        func schema(code: UInt16) -> EventSchema? {
            if let schema = newest?.catalog.schemasByCode[code] { return schema }
            for version in versions.keys.sorted(by: >) {
                if let schema = versions[version]?.catalog.schemasByCode[code] { return schema }
            }
            return nil
        }
    }

    private let state: Mutex<Current>

    init(_ current: Current) { state = Mutex(current) }

    var current: Current { state.withLock { $0 } }

    func update(_ body: (inout Current) -> Void) { state.withLock { body(&$0) } }
}
