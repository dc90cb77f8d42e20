import ArgumentParser
import CLMDB
import Foundation

/// `census`: where a filled store's bytes are, read with raw LMDB (the store must not be open in a
/// writing process). Prints each database's pages and, for `views`, the entries and bytes of each
/// (state code, tag) and how an entity's state is spread: what decides how many leaves one event
/// dirties (docs/VIEWS.md, "State layout").
struct StateCensus {
    let directory: String

    /// Bytes a leaf node costs beyond its key and value: LMDB's 8-byte node header and the page's
    /// 2-byte index slot.
    static let nodeOverhead = 10

    struct Group {
        var entries = 0
        var keyBytes = 0
        var valueBytes = 0
        var bytes: Int { keyBytes + valueBytes + entries * StateCensus.nodeOverhead }
    }

    func run() throws {
        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_maxdbs(env, 16)
        mdb_env_set_mapsize(env, 1 << 40)
        let flags = UInt32(MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS)
        guard mdb_env_open(env, directory, flags, 0o644) == 0 else {
            throw ValidationError("cannot open \(directory)/data.mdb")
        }
        defer { mdb_env_close(env) }
        var txn: OpaquePointer?
        guard mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn) == 0 else { throw ValidationError("mdb_txn_begin") }
        defer { mdb_txn_abort(txn) }

        var main: MDB_dbi = 0
        mdb_dbi_open(txn, nil, 0, &main)
        let names = try Self.keys(txn, main).map { String(decoding: $0, as: UTF8.self) }
        print("database        depth   branch pages     leaf pages  overflow pages        entries")
        for name in names {
            var dbi: MDB_dbi = 0
            guard mdb_dbi_open(txn, name, 0, &dbi) == 0 else { continue }
            var stat = MDB_stat()
            mdb_stat(txn, dbi, &stat)
            print(
                name.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(
                        format: " %6u %14zu %14zu %15zu %14zu", stat.ms_depth, stat.ms_branch_pages, stat.ms_leaf_pages,
                        stat.ms_overflow_pages, stat.ms_entries))
            if name == "meta" { try printCodes(txn, dbi) }
        }
        var views: MDB_dbi = 0
        guard mdb_dbi_open(txn, "views", 0, &views) == 0 else { throw ValidationError("no views database") }
        try census(txn, views)
    }

    private func printCodes(_ txn: OpaquePointer?, _ meta: MDB_dbi) throws {
        var key = Array("view_codes".utf8)
        try key.withUnsafeMutableBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            var v = MDB_val()
            guard mdb_get(txn, meta, &k, &v) == 0 else { return }
            let json = Data(bytes: v.mv_data, count: v.mv_size)
            guard let codes = try JSONSerialization.jsonObject(with: json) as? [String: Int] else { return }
            for (print, code) in codes.sorted(by: { $0.value < $1.value }) {
                Swift.print(String(format: "  state %3d  ", code) + print)
            }
        }
    }

    /// Walks `views` once: per (code, tag) groups, and per entity the bytes of its state.
    private func census(_ txn: OpaquePointer?, _ views: MDB_dbi) throws {
        var cursor: OpaquePointer?
        guard mdb_cursor_open(txn, views, &cursor) == 0 else { throw ValidationError("mdb_cursor_open") }
        defer { mdb_cursor_close(cursor) }
        var groups: [String: Group] = [:]
        var entityBytes: [String: [Int]] = [:]  // by the entity key's prefix up to '_' ("card", "m")
        var current: [UInt8] = []
        var currentBytes = 0
        var currentKind = ""
        var key = MDB_val()
        var value = MDB_val()
        var op = MDB_FIRST
        while mdb_cursor_get(cursor, &key, &value, op) == 0 {
            op = MDB_NEXT
            let bytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard let entityLength = Self.entityLength(bytes) else { continue }
            let entity = Array(bytes.prefix(entityLength))
            if entity != current {
                if !current.isEmpty { entityBytes[currentKind, default: []].append(currentBytes) }
                current = entity
                currentBytes = 0
                currentKind = Self.kind(entity)
            }
            let rest = bytes.dropFirst(entityLength)
            let code = rest.count >= 2 ? Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1]) : -1
            let tag = rest.count >= 3 ? Int(rest[rest.startIndex + 2]) : 0
            // A head is code 0 (older stores) or 0xFFFF (ViewStateKey), with nothing after it.
            let name = code == 0 || code == 0xFFFF ? "\(currentKind) head" : "\(currentKind) state \(code) tag \(tag)"
            groups[name, default: Group()].entries += 1
            groups[name, default: Group()].keyBytes += key.mv_size
            groups[name, default: Group()].valueBytes += value.mv_size
            currentBytes += key.mv_size + value.mv_size + Self.nodeOverhead
        }
        if !current.isEmpty { entityBytes[currentKind, default: []].append(currentBytes) }

        let total = groups.values.reduce(0) { $0 + $1.bytes }
        print("\nviews by (entity kind, state, tag)        entries   key B   value B   node bytes   share")
        for (name, group) in groups.sorted(by: { $0.key < $1.key }) {
            print(
                name.padding(toLength: 36, withPad: " ", startingAt: 0)
                    + String(
                        format: " %12d %7.1f %9.1f %12d %6.1f%%", group.entries,
                        Double(group.keyBytes) / Double(max(1, group.entries)),
                        Double(group.valueBytes) / Double(max(1, group.entries)), group.bytes,
                        100 * Double(group.bytes) / Double(max(1, total))))
        }
        print("\nstate bytes per entity      entities       p50       p90       p99       max      mean")
        for (kind, sizes) in entityBytes.sorted(by: { $0.key < $1.key }) {
            let sorted = sizes.sorted()
            func at(_ q: Double) -> Int { sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] }
            let mean = Double(sorted.reduce(0, +)) / Double(sorted.count)
            print(
                kind.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(
                        format: " %12d %9d %9d %9d %9d %9.0f", sorted.count, at(0.5), at(0.9), at(0.99),
                        sorted.last ?? 0, mean))
        }
    }

    /// The length of the entity part of a `views` key (tag, then 2-byte length and UTF-8, or 8 bytes).
    static func entityLength(_ key: UnsafeRawBufferPointer) -> Int? {
        guard let tag = key.first else { return nil }
        switch tag {
        case 1:
            guard key.count >= 3 else { return nil }
            return 3 + (Int(key[1]) << 8 | Int(key[2]))
        case 2: return 9
        default: return nil
        }
    }

    /// "card" for `card_17`, "m" for `m_3`: the generator's entity kinds, by key prefix.
    static func kind(_ entity: [UInt8]) -> String {
        guard entity.first == 1 else { return "int" }
        let text = String(decoding: entity.dropFirst(3), as: UTF8.self)
        return String(text.prefix { $0 != "_" })
    }

    private static func keys(_ txn: OpaquePointer?, _ dbi: MDB_dbi) throws -> [[UInt8]] {
        var cursor: OpaquePointer?
        guard mdb_cursor_open(txn, dbi, &cursor) == 0 else { return [] }
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var result: [[UInt8]] = []
        var op = MDB_FIRST
        while mdb_cursor_get(cursor, &key, &value, op) == 0 {
            op = MDB_NEXT
            result.append(Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)))
        }
        return result
    }
}
