import CardStream
import Foundation
import PropertyBased
import Testing

@testable import TallyLMDB

/// A staged database (``StagedDatabase``) reads exactly as a plain one holding the same writes:
/// random puts and deletes over a small key space (keys that are prefixes of each other
/// included), committed with stage budgets from 0 to a few entries so that moves interleave
/// with everything, checked against a dictionary by gets and by cursor walks (first, last, seek,
/// then steps both ways, turning) inside the write transaction and in read transactions after.
@Suite struct StagedDatabaseTests {
    typealias Model = [[UInt8]: [UInt8]]

    typealias Random = SplitMix64

    /// Cases per property: twice `TALLY_PROPERTY_CASES` (CI: 100), these being fast.
    static var cases: Int { 2 * (Int(ProcessInfo.processInfo.environment["TALLY_PROPERTY_CASES"] ?? "") ?? 300) }

    /// A fresh directory path; the caller removes it.
    static func directory() -> String { NSTemporaryDirectory() + "tally-staged-\(UUID().uuidString)" }

    /// Options with a small map.
    static func smallMap() -> EnvironmentOptions {
        var options = EnvironmentOptions()
        options.mapSize = 64 << 20
        return options
    }

    /// Walks a cursor from a random start for a few steps and returns every disagreement with
    /// `model`. A walk that runs off an end starts again (what a cursor does past an end is not
    /// part of the contract: callers seek again).
    static func walk(_ cursor: inout Cursor, _ model: Model, _ random: inout Random) throws -> [String] {
        let keys = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        var failures: [String] = []
        for _ in 0..<3 {
            var index: Int
            var entry: Entry?
            switch random.below(3) {
            case 0:
                entry = try cursor.first()
                index = 0
            case 1:
                entry = try cursor.last()
                index = keys.count - 1
            default:
                let target = random.key()
                entry = try target.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                index = keys.firstIndex { !$0.lexicographicallyPrecedes(target) } ?? keys.count
            }
            for step in 0..<8 {
                let expected = keys.indices.contains(index) ? keys[index] : nil
                let got = entry.map { Array($0.key) }
                if got != expected {
                    failures.append(
                        "step \(step): key \(got.map(String.init(describing:)) ?? "nil"), expected \(expected.map(String.init(describing:)) ?? "nil")"
                    )
                    return failures
                }
                if let entry, let expected, Array(entry.value) != model[expected] {
                    failures.append(
                        "step \(step): value of \(expected) is \(Array(entry.value)), expected \(model[expected]!)")
                }
                guard entry != nil else { break }
                if random.below(3) == 0 {
                    entry = try cursor.previous()
                    index -= 1
                } else {
                    entry = try cursor.next()
                    index += 1
                }
            }
        }
        return failures
    }

    static func gets(_ txn: some TransactionReading, _ database: Database, _ model: Model, _ random: inout Random)
        throws
        -> [String]
    {
        var failures: [String] = []
        for _ in 0..<6 {
            let key = random.key()
            let got = try key.withUnsafeBytes { try txn.get(database, $0).map { Array($0) } }
            if got != model[key] {
                failures.append("get \(key): \(String(describing: got)), expected \(String(describing: model[key]))")
            }
        }
        return failures
    }

    /// A cursor opened for one prefix lists exactly the model's keys with it, forward and back.
    static func within(_ txn: some TransactionReading, _ database: Database, _ model: Model, _ random: inout Random)
        throws -> [String]
    {
        let prefix = Array(random.key().prefix(1 + random.below(2)))
        let expected = model.keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        var cursor = try txn.openCursor(database, within: prefix)
        defer { cursor.close() }
        var forward: [[UInt8]] = []
        var entry = try prefix.withUnsafeBytes { try cursor.seek(atLeast: $0) }
        while let current = entry, current.key.starts(with: prefix) {
            forward.append(Array(current.key))
            entry = try cursor.next()
        }
        var backward: [[UInt8]] = []
        entry = entry == nil ? try cursor.last() : try cursor.previous()
        while let current = entry, current.key.starts(with: prefix) {
            backward.append(Array(current.key))
            entry = try cursor.previous()
        }
        guard forward == expected, backward == expected.reversed() else {
            return ["within \(prefix): forward \(forward), backward \(backward), expected \(expected)"]
        }
        return []
    }

    static func check(seed: UInt64) async throws {
        var random = Random(seed: seed)
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Self.smallMap()
        options.stageEntries = random.below(6)
        let environment = try Environment.open(
            path: directory, options: options, databases: [DatabaseSpec("data", staged: true)])
        defer { environment.close() }
        let writer = try Writer(environment: environment)
        defer { writer.close() }
        let database = environment.database("data")
        #expect(database.stage != nil)
        var model: Model = [:]
        for _ in 0..<(4 + random.below(8)) {
            let before = model
            let start = random
            let outcome = try await writer.write(cost: 1) { txn -> (Model, Random, [String]) in
                var model = before
                var random = start
                var failures: [String] = []
                // Opened before this transaction's writes, used after them (as flag rules' reader is).
                var early = try txn.openCursor(database)
                defer { early.close() }
                for _ in 0..<(1 + random.below(12)) {
                    let key = random.key()
                    if random.below(3) == 0 {
                        let removed = try txn.delete(database, key)
                        if removed != (model[key] != nil) { failures.append("delete \(key) returned \(removed)") }
                        model[key] = nil
                    } else {
                        let value = (0..<random.below(3)).map { _ in UInt8(random.below(256)) }
                        try txn.put(database, key, value)
                        model[key] = value
                    }
                    if random.below(4) == 0 {
                        failures += try txn.withReadingCursor(database) { try walk(&$0, model, &random) }
                        failures += try walk(&early, model, &random)
                        failures += try gets(txn, database, model, &random)
                    }
                }
                return (model, random, failures)
            }.value
            model = outcome.0
            random = outcome.1
            #expect(outcome.2.isEmpty, "seed \(seed), in the write: \(outcome.2)")
            let failures = try environment.read { txn in
                var failures = try gets(txn, database, model, &random)
                failures += try txn.withCursor(database) { try walk(&$0, model, &random) }
                failures += try within(txn, database, model, &random)
                return failures
            }
            #expect(failures.isEmpty, "seed \(seed), after the commit: \(failures)")
        }
        // The stage keeps at most its budget once committed; what moved is in the database.
        let staged = try environment.read { txn in
            try txn.entryCount(Database(dbi: database.stage!, name: "data_stage"))
        }
        #expect(staged <= options.stageEntries!, "seed \(seed): the stage holds \(staged)")
    }

    @Test func readsMatchAPlainDatabaseOnRandomWrites() async {
        await propertyCheck(count: Self.cases, input: Gen.uint64()) { seed in
            try await Self.check(seed: seed)
        }
    }

    /// Staging turned off: the open moves what the stage holds into the database, and later
    /// writes go straight there.
    @Test func anOpenWithStagingOffEmptiesTheStage() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Self.smallMap()
        options.stageEntries = 1_000
        let spec = DatabaseSpec("data", staged: true)
        do {
            let environment = try Environment.open(path: directory, options: options, databases: [spec])
            let writer = try Writer(environment: environment)
            let data = environment.database("data")
            try await writer.write(cost: 1) { txn in
                for n in 0..<50 { try txn.put(data, [UInt8(n)], [UInt8(n), 1]) }
            }
            try await writer.write(cost: 1) { txn in
                for n in 0..<10 { try txn.delete(data, [UInt8(n)]) }
            }
            writer.close()
            environment.close()
        }
        func stageCount(_ environment: Environment) throws -> Int {
            let data = environment.database("data")
            return try environment.read { try $0.entryCount(Database(dbi: data.stage!, name: "data_stage")) }
        }
        options.stageEntries = nil
        let environment = try Environment.open(path: directory, options: options, databases: [spec])
        defer { environment.close() }
        let data = environment.database("data")
        #expect(try stageCount(environment) == 0)
        let writer = try Writer(environment: environment)
        defer { writer.close() }
        try await writer.write(cost: 1) { txn in
            try txn.put(data, [200], [9])
            try txn.delete(data, [20])
        }
        #expect(try stageCount(environment) == 0, "staging off: writes go straight to the database")
        let keys = try environment.read { txn in
            try txn.withCursor(data) { cursor in
                var keys: [UInt8] = []
                var entry = try cursor.first()
                while let current = entry {
                    keys.append(current.key[0])
                    entry = try cursor.next()
                }
                return keys
            }
        }
        #expect(keys == Array(10..<20) + Array(21..<50) + [200])
    }

    // MARK: Groups and running totals

    /// Keys `group · series · time`: the first byte is the group (``DatabaseSpec/stageGroup``).
    static let grouped = DatabaseSpec("data", staged: true, stageGroup: { $0.isEmpty ? 0 : 1 })

    /// The running-totals rule: a write at `time` also rewrites every later key of its series.
    /// Values are the write's sequence number, so a stale entry is told from a fresh one.
    static func writeTotals(
        _ txn: WriteTransaction, _ database: Database, _ model: inout Model, group: UInt8, series: UInt8,
        time: UInt8, sequence: inout UInt8
    ) throws {
        sequence &+= 1
        let later = model.keys.filter { $0[0] == group && $0[1] == series && $0[2] > time }
        for key in [[group, series, time]] + later {
            try txn.put(database, key, [sequence])
            model[key] = [sequence]
        }
    }

    /// Every "newest up to" read, with and without `rewritesLater`, against the model.
    static func lastBelow(_ txn: some TransactionReading, _ database: Database, _ model: Model, _ random: inout Random)
        throws -> [String]
    {
        var failures: [String] = []
        var cursor = try txn.openCursor(database)
        defer { cursor.close() }
        for _ in 0..<6 {
            let prefix = [UInt8(random.below(3)), UInt8(random.below(2))]
            let key = prefix + [UInt8(random.below(10))]
            let expected = model.filter { $0.key.starts(with: prefix) && $0.key.lexicographicallyPrecedes(key) }
                .max { $0.key.lexicographicallyPrecedes($1.key) }
            for rewritesLater in [true, false] {
                let got = try key.withUnsafeBytes { k in
                    try prefix.withUnsafeBytes { p in
                        try cursor.last(below: k, within: p, rewritesLater: rewritesLater).map {
                            (Array($0.key), Array($0.value))
                        }
                    }
                }
                if got?.0 != expected?.key || got?.1 != expected?.value {
                    failures.append(
                        "last below \(key) (rewritesLater \(rewritesLater)): \(String(describing: got)), expected \(String(describing: expected))"
                    )
                }
            }
        }
        return failures
    }

    /// Running totals over a staged database with groups: a stage entry answers alone
    /// (``Cursor/last(below:within:rewritesLater:)``), and after every commit no group is split
    /// so that a database entry of it was written after one of its stage entries.
    static func checkRunningTotals(seed: UInt64) async throws {
        var random = Random(seed: seed)
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Self.smallMap()
        options.stageEntries = random.below(6)
        // Busy groups bypass the stage from their first, second or third visit, or never.
        options.stageThroughVisits = [nil, 1, 2, 3][random.below(4)]
        let environment = try Environment.open(path: directory, options: options, databases: [grouped])
        defer { environment.close() }
        let writer = try Writer(environment: environment)
        defer { writer.close() }
        let database = environment.database("data")
        var model: Model = [:]
        var sequence: UInt8 = 0
        for _ in 0..<(4 + random.below(10)) {
            let before = (model, random, sequence)
            let outcome = try await writer.write(cost: 1) { txn -> (Model, Random, UInt8, [String]) in
                var (model, random, sequence) = before
                var failures: [String] = []
                for _ in 0..<(1 + random.below(6)) {
                    let group = UInt8(random.below(3))
                    let series = UInt8(random.below(2))
                    // Ingest visits each entity it writes; the binding must be right either way.
                    if random.below(4) != 0 { try txn.visit(database, group: [group]) }
                    if random.below(4) == 0 {
                        // A sweep: any entry of the series may go.
                        let keys = model.keys.filter { $0[0] == group && $0[1] == series }
                        if let key = keys.sorted(by: { $0.lexicographicallyPrecedes($1) }).randomElement(using: &random)
                        {
                            _ = try txn.delete(database, key)
                            model[key] = nil
                        }
                    } else {
                        try writeTotals(
                            txn, database, &model, group: group, series: series, time: UInt8(random.below(10)),
                            sequence: &sequence)
                    }
                    if random.below(3) == 0 {
                        failures += try lastBelow(txn, database, model, &random)
                        failures += try gets(txn, database, model, &random)
                        failures += try txn.withReadingCursor(database) { try walk(&$0, model, &random) }
                    }
                }
                return (model, random, sequence, failures)
            }.value
            (model, random, sequence) = (outcome.0, outcome.1, outcome.2)
            #expect(outcome.3.isEmpty, "seed \(seed), in the write: \(outcome.3)")
            let failures = try environment.read { txn in
                var failures = try lastBelow(txn, database, model, &random)
                failures += try gets(txn, database, model, &random)
                failures += try txn.withCursor(database) { try walk(&$0, model, &random) }
                // Raw levels: per group, stage entries were written after the database's.
                func raw(_ level: Database) throws -> [[UInt8]: [UInt8]] {
                    try txn.withCursor(level) { cursor in
                        var entries: [[UInt8]: [UInt8]] = [:]
                        var entry = try cursor.first()
                        while let current = entry {
                            entries[Array(current.key)] = Array(current.value)
                            entry = try cursor.next()
                        }
                        return entries
                    }
                }
                let staged = try raw(Database(dbi: database.stage!, name: "data_stage"))
                let main = try raw(Database(dbi: database.dbi, name: "data"))
                // A delete leaves no tombstone for a forward seek to step over.
                let tombstones = staged.filter { $0.value == [StagedValue.tombstone] }.keys
                if !tombstones.isEmpty { failures.append("tombstones left in the stage: \(Array(tombstones))") }
                for group in 0..<UInt8(3) {
                    let stagedLive = staged.filter { $0.key[0] == group && $0.value.count == 2 }.map { $0.value[1] }
                    let moved = main.filter { $0.key[0] == group }.map { $0.value[0] }
                    if let oldestStaged = stagedLive.min(), let newestMoved = moved.max(), newestMoved > oldestStaged {
                        failures.append("group \(group) is split: moved \(moved), staged \(stagedLive)")
                    }
                }
                return failures
            }
            #expect(failures.isEmpty, "seed \(seed), after the commit: \(failures)")
            if sequence > 200 { break }  // sequence numbers stay ordered
        }
    }

    @Test func runningTotalsReadTheStageAloneAndMovesKeepGroupsWhole() async {
        await propertyCheck(count: Self.cases, input: Gen.uint64()) { seed in
            try await Self.checkRunningTotals(seed: seed)
        }
    }

    /// The writing process with staging off never looks at a stage (the open emptied it); a
    /// reader process, which cannot know, does.
    @Test func aWriterWithStagingOffReadsNoStage() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Self.smallMap()
        options.countEntryAccesses = true
        let spec = DatabaseSpec("data", staged: true)
        func stageReads(_ environment: Environment) throws -> Int {
            let data = environment.database("data")
            environment.counters!.reset()
            let (value, first) = try environment.read { txn in
                let value = try [UInt8(1)].withUnsafeBytes { try txn.get(data, $0).map { Array($0) } }
                let first = try txn.withCursor(data) { cursor in try cursor.first().map { Array($0.key) } }
                return (value, first)
            }
            #expect(value == [7] && first == [1])
            return environment.counters!.count(Database(dbi: data.stage!, name: "data_stage"))
        }
        do {
            let environment = try Environment.open(path: directory, options: options, databases: [spec])
            defer { environment.close() }
            let writer = try Writer(environment: environment)
            defer { writer.close() }
            try await writer.write(cost: 1) { txn in try txn.put(environment.database("data"), [1], [7]) }
            #expect(try stageReads(environment) == 0)
        }
        options.access = .readOnly
        let reader = try Environment.open(path: directory, options: options, databases: [spec])
        defer { reader.close() }
        #expect(try stageReads(reader) > 0)
    }

    @Test func aStoreWithoutItsStageOpensReadOnlyAsAPlainDatabase() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Self.smallMap()
        do {
            let plain = try Environment.open(path: directory, options: options, databases: [DatabaseSpec("data")])
            plain.close()
        }
        options.access = .readOnly
        let reader = try Environment.open(
            path: directory, options: options, databases: [DatabaseSpec("data", staged: true)])
        defer { reader.close() }
        #expect(reader.database("data").stage == nil)
    }
}

extension SplitMix64 {
    fileprivate mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// A key of 1 to 3 bytes from 0…3, so that keys are often prefixes of each other.
    fileprivate mutating func key() -> [UInt8] { (0..<(1 + below(3))).map { _ in UInt8(below(4)) } }
}
