import TallyLMDB

/// One key's state in a list or flag at one token (``Snapshot/listMembership(_:member:at:)``).
public struct MarkReading: Sendable, Hashable {
    /// The key as vectors name it.
    public let member: String
    /// The newest change at or before the token's LSN.
    public let state: MarkState
    /// Whether it holds at the token's `at`.
    public let holds: Bool
}

extension Snapshot {
    /// Whether `member` is in `list` at `token`: the newest change at or before `token.lsn` set
    /// its interval, and `token.at` falls in it. One backward seek.
    ///
    /// ```swift
    /// let blocked = try store.read { s in try s.listMembership("blocked_cards", member: "c1", at: try s.token()) }
    /// blocked.holds   // true
    /// ```
    public func listMembership(_ list: String, member: String, at token: SnapshotToken) throws(TallyError)
        -> MarkReading
    {
        try reading(.list, list, member, at: token)
    }

    /// Whether `flag` is set on the entity `key` at `token` (expiry is in event time: `token.at`).
    public func flag(_ flag: String, key: String, at token: SnapshotToken) throws(TallyError) -> MarkReading {
        try reading(.flag, flag, key, at: token)
    }

    /// The members of `list` that hold at `token`, in key order (strings by length, then bytes;
    /// ints by value), at most `limit`, starting after `after`; `more` tells whether members may
    /// follow (the next page may be empty). A scan of the list's entries: each member is read as
    /// ``listMembership(_:member:at:)`` reads it, and at most 4 × `limit` members are looked at
    /// per page.
    public func listMembers(_ list: String, at token: SnapshotToken, after: String? = nil, limit: Int)
        throws(TallyError)
        -> (members: [MarkReading], more: Bool)
    {
        guard limit > 0 else { throw TallyError(.invalidArgument, "limit must be at least 1, not \(limit)") }
        try checkReadPoint(token)
        let declared = try MarkTarget.declared(.list, list, in: markDefinitions(at: token))
        let prefix = MarkKey.prefix(.list, list)
        var start = prefix
        if let after {
            let member = try Self.entityKey(after, type: declared.type, entity: declared.label).encoded
            start = MarkKey.entry(MarkKey.member(.list, list, member), lsn: UInt64.max)
        }
        // The members of the list's current type (a list redeclared with another `of:` keeps the
        // entries of the old one, which no key of the new type names).
        let tag: UInt8 = declared.type == .int ? 2 : 1
        return try tallyCall {
            var candidates: [[UInt8]] = []
            var more = false
            try transaction.withCursor(databases.marks) { cursor in
                var entry = try start.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                if let landed = entry, after != nil, landed.key.elementsEqual(start) { entry = try cursor.next() }
                while let current = entry, current.key.starts(with: prefix) {
                    let rest = UnsafeRawBufferPointer(rebasing: current.key[prefix.count...])
                    guard let length = MarkKey.memberLength(rest), rest.count == length + 8 else { break }
                    let member = Array(rest[..<length])
                    if member[0] == tag {
                        if candidates.count == limit * 4 {
                            more = true
                            break
                        }
                        candidates.append(member)
                    }
                    // Past the member's changes and its summary (LSN 2⁶⁴ − 1), to the next member.
                    let skip = MarkTimeline.summaryKey(MarkKey.member(.list, list, member))
                    entry = try skip.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    if let landed = entry, landed.key.elementsEqual(skip) { entry = try cursor.next() }
                }
            }
            var members: [MarkReading] = []
            for member in candidates {
                let reading = try MarkTimeline.read(
                    .list, list, member, lsn: token.lsn.rawValue, at: token.at, in: transaction, marks: databases.marks)
                guard reading.holds, let text = member.withUnsafeBytes({ MarkKey.memberText($0) }) else { continue }
                if members.count == limit { return (members, true) }  // another one holds past the page
                members.append(MarkReading(member: text, state: reading.state, holds: true))
            }
            return (members, more)
        }
    }

    /// The lists of `entity` (declared `of:` it) and its flags at `token`, in definitions order.
    static func marks(
        entity: String, key encoded: [UInt8], stored: StoredDefinitions, at token: SnapshotToken,
        in txn: some TransactionReading, _ databases: Tally.Databases
    ) throws -> (flags: [(name: String, holds: Bool)], lists: [(name: String, holds: Bool)]) {
        guard let names = stored.markNames[entity] else { return ([], []) }
        func read(_ kind: MarkKind, _ names: [String]) throws -> [(name: String, holds: Bool)] {
            try names.map { name in
                let holds = try MarkTimeline.holds(
                    kind, name, encoded, lsn: token.lsn.rawValue, at: token.at, in: txn, marks: databases.marks)
                return (name, holds)
            }
        }
        return (try read(.flag, names.flags), try read(.list, names.lists))
    }

    private func reading(_ kind: MarkKind, _ name: String, _ key: String, at token: SnapshotToken) throws(TallyError)
        -> MarkReading
    {
        try checkReadPoint(token)
        let declared = try MarkTarget.declared(kind, name, in: markDefinitions(at: token))
        let target = try Self.entityKey(key, type: declared.type, entity: declared.label)
        let found = try tallyCall {
            try MarkTimeline.read(
                kind, name, target.encoded, lsn: token.lsn.rawValue, at: token.at, in: transaction,
                marks: databases.marks)
        }
        return MarkReading(member: target.canonical, state: found.state, holds: found.holds)
    }

    /// The definitions that name lists and flags for a read at `token`: those served at its LSN,
    /// then the newest (a list declared later had no changes then).
    private func markDefinitions(at token: SnapshotToken) throws(TallyError) -> [Definitions] {
        let candidates = [stored(at: token.lsn)?.definitions, definitions.newest?.definitions].compactMap { $0 }
        guard !candidates.isEmpty else { throw TallyError(.noDefinitions, "the store has no definitions yet") }
        return candidates
    }

    private func checkReadPoint(_ token: SnapshotToken) throws(TallyError) {
        let current = try tallyCall { try self.lsn }
        guard token.lsn <= current else {
            throw TallyError(.invalidArgument, "lsn \(token.lsn) is ahead of the store, which is at lsn \(current)")
        }
        if let refusal = floor.refusal(lsn: token.lsn, at: token.at) { throw refusal }
    }
}
