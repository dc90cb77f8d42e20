extension Tally {
    /// The definitions the store serves (nil for a store that has none yet).
    ///
    /// ```swift
    /// if let definitions = store.servedDefinitions { print(definitions.views.count) }
    /// ```
    public var servedDefinitions: Definitions? { definitionsState.current.newestServed?.definitions }

    /// The version of ``servedDefinitions`` (0 when there are none).
    public var servedDefinitionsVersion: UInt32 { definitionsState.current.newestServed?.version ?? 0 }

    /// The newest event time accepted of each event type that has had one (epoch ms), read from
    /// the store: what per-view freshness is measured from.
    ///
    /// ```swift
    /// let newest = try store.newestEventTimes()   // ["authorization": 1796112000000, …]
    /// ```
    public func newestEventTimes() throws(TallyError) -> [String: Int64] {
        guard let definitions = servedDefinitions else { return [:] }
        let meta = databases.meta
        return try readTyped { snapshot in
            var times: [String: Int64] = [:]
            for event in definitions.events {
                if let time = try snapshot.transaction.int64(meta, MetaKey.newestEventTime(event.name)) {
                    times[event.name] = time
                }
            }
            return times
        }
    }

    /// Each served view's newest source event time: the newest event time accepted of any event
    /// type it reads (views whose event types have had no event yet are left out).
    public func viewNewestEventTimes() throws(TallyError) -> [(view: String, time: Int64)] {
        guard let definitions = servedDefinitions else { return [] }
        let newest = try newestEventTimes()
        return definitions.views.compactMap { view in
            let times = view.sources.compactMap { newest[$0.eventType] }
            return times.max().map { (view.name, $0) }
        }
    }
}
