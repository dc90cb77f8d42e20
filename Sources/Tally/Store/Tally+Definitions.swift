extension Tally {
    /// The definitions the store serves (nil for a store that has none yet).
    ///
    /// ```swift
    /// if let definitions = store.servedDefinitions { print(definitions.views.count) }
    /// ```
    public var servedDefinitions: Definitions? { definitionsState.current.newestServed?.definitions }

    /// The version of ``servedDefinitions`` (0 when there are none).
    public var servedDefinitionsVersion: UInt32 { definitionsState.current.newestServed?.version ?? 0 }
}
