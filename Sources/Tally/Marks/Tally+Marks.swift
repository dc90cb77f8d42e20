extension Tally {
    /// Adds `member` to `list` for event times `[from, until)` (SPEC §2: a logged change with a
    /// validity interval). `from` defaults to the wall clock, `until` to open-ended. Resolves after
    /// the durable commit; the change takes the next LSN unless it repeats the key's newest change
    /// (then ``MarkChangeReport/changed`` is false and nothing is logged). Event times it does not
    /// cover keep what they had.
    ///
    /// ```swift
    /// let report = try await store.addListMember("blocked_cards", member: "card_7")
    /// report.lsn   // the change's LSN
    /// ```
    ///
    /// Throws ``TallyError/Code/unknownList`` for a list the definitions do not declare and
    /// ``TallyError/Code/invalidArgument`` for a member that is not one of its keys or an empty
    /// interval.
    public func addListMember(
        _ list: String, member: String, from: Int64? = nil, until: Int64? = nil
    ) async throws(TallyError) -> MarkChangeReport {
        try await change(markTarget(.list, list, member), add: true, from: from, until: until)
    }

    /// Ends `member`'s membership of `list` from event time `at` on (default: the wall clock):
    /// reads at earlier times still see what they saw. A member that holds at no time from `at`
    /// on changes nothing.
    public func removeListMember(_ list: String, member: String, at: Int64? = nil) async throws(TallyError)
        -> MarkChangeReport
    {
        try await change(markTarget(.list, list, member), add: false, from: nil, until: at)
    }

    /// Sets `flag` on the entity `key` for event times `[from, until)`: `from` defaults to the
    /// wall clock, `until` to `from` plus the flag's `for` (open-ended without one).
    public func setFlag(_ flag: String, key: String, from: Int64? = nil, until: Int64? = nil) async throws(TallyError)
        -> MarkChangeReport
    {
        try await change(markTarget(.flag, flag, key), add: true, from: from, until: until)
    }

    /// Clears `flag` on the entity `key` from event time `at` on (default: the wall clock).
    public func clearFlag(_ flag: String, key: String, at: Int64? = nil) async throws(TallyError) -> MarkChangeReport {
        try await change(markTarget(.flag, flag, key), add: false, from: nil, until: at)
    }

    private func change(_ target: MarkTarget, add: Bool, from: Int64?, until: Int64?) async throws(TallyError)
        -> MarkChangeReport
    {
        if let from { _ = try Self.checkedTime(from, "from") }
        if let until { _ = try Self.checkedTime(until, add ? "until" : "at") }
        if let from, let until, add, from >= until {
            throw TallyError(.invalidArgument, "until (\(until)) must be after from (\(from))")
        }
        let change = MarkChange(
            kind: target.kind, name: target.name, member: target.member, add: add, from: from, until: until,
            duration: target.duration, wallClock: options.wallClock())
        let databases = databases
        let journal = options.isJournaled ? JournalEntry.markChange(change) : nil
        let (lsn, state) = try await write(journal: journal) { txn in try change.apply(in: txn, databases: databases) }
        return MarkChangeReport(member: target.canonical, changed: lsn != nil, lsn: lsn.map { LSN($0) }, state: state)
    }

    /// The list or flag named in the newest definitions, and `key` in its stored form.
    private func markTarget(_ kind: MarkKind, _ name: String, _ key: String) throws(TallyError) -> MarkTarget {
        guard let definitions = definitionsState.current.newest?.definitions else {
            throw TallyError(.noDefinitions, "the store at \(directory) has no definitions: open it with some")
        }
        return try MarkTarget(kind, name, key, definitions: definitions)
    }

    static func checkedTime(_ time: Int64, _ what: String) throws(TallyError) -> Int64 {
        guard time >= 0, time <= Timestamp.maximum else {
            throw TallyError(.invalidArgument, "\(what) = \(time) is not a time between 1970 and 9999 (epoch ms)")
        }
        return time
    }
}

/// A list or flag of some definitions, and one key of it in stored form.
struct MarkTarget {
    let kind: MarkKind
    let name: String
    let member: [UInt8]
    let canonical: String
    /// A flag's `for`, ms.
    let duration: Int64?

    init(_ kind: MarkKind, _ name: String, _ key: String, definitions: Definitions) throws(TallyError) {
        let declared = try Self.declared(kind, name, in: [definitions])
        (member, canonical) = try Snapshot.entityKey(key, type: declared.type, entity: declared.label)
        self.kind = kind
        self.name = name
        duration = declared.duration
    }

    /// The key type of the list or flag `name` in the first of `candidates` that declares it, the
    /// word error messages use for its keys, and a flag's `for`.
    static func declared(_ kind: MarkKind, _ name: String, in candidates: [Definitions]) throws(TallyError) -> (
        type: ScalarType, label: String, duration: Int64?
    ) {
        for definitions in candidates {
            switch kind {
            case .list:
                guard let list = definitions.lists.first(where: { $0.name == name }) else { continue }
                switch list.of {
                case .entity(let entity):
                    return (definitions.entity(named: entity)?.keyType ?? .string, entity, nil)
                case .scalar(let scalar):
                    return (scalar, "list \(name)'s member", nil)
                }
            case .flag:
                guard let flag = definitions.flags.first(where: { $0.name == name }) else { continue }
                return (definitions.entity(named: flag.entity)?.keyType ?? .string, flag.entity, flag.duration)
            }
        }
        let names = (kind == .list ? candidates.last?.lists.map(\.name) : candidates.last?.flags.map(\.name)) ?? []
        let known = names.isEmpty ? "none" : names.joined(separator: ", ")
        throw TallyError(
            kind == .list ? .unknownList : .unknownFlag, "unknown \(kind) '\(name.prefix(64))' (declared: \(known))")
    }
}
