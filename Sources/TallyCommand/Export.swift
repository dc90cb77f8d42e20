import ArgumentParser
import Foundation
import Tally

/// `tally export LABELS.csv`: point-in-time training rows (SPEC §3): each label row's features as
/// of its own time, read by the serving code path (``Snapshot/vector(entity:key:at:)``), all at
/// one LSN.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write point-in-time training rows: each label row's features as of its own time, as CSV.",
        discussion: """
            LABELS.csv has a header row. Its time column (--time-column, default the first of ts, at, time, \
            timestamp) gives each row's as-of time (epoch ms or RFC 3339); its entity columns (--entity, default \
            every column named like a declared entity: card, merchant) give the keys. Each output row is the \
            label row, then per entity column E: E.<view> for every served view of E, E.flag.<name> and \
            E.list.<name>. Every row is read at one LSN (--lsn, default the store's current one) in one read \
            transaction, by the code that serves vectors, so training rows equal what was served at those \
            times. CSV per RFC 4180 (Parquet-compatible: one header, no index column, empty cells for nulls \
            and keyless rows). Works beside a running server (the store is opened read-only).
            """)

    @Argument(help: "The label file (CSV with a header row).") var labels: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "The column with each row's as-of time (default: ts, at, time or timestamp).")
    var timeColumn: String?
    @Option(help: "An entity column to read (repeatable; default: every column named like an entity).")
    var entity: [String] = []
    @Option(help: "Read every row at this LSN (default: the current one).") var lsn: UInt64?
    @Option(help: "Write to this file instead of standard output.") var out: String?

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: labels) else {
            throw ValidationError("cannot read \(labels)")
        }
        let rows: [[String]]
        do {
            rows = try CSV.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw ValidationError("\(labels): \(error)")
        }
        guard let header = rows.first else { throw ValidationError("\(labels) is empty: it needs a header row") }
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let output = try store.read { snapshot in try write(rows: rows, header: header, snapshot: snapshot) }
        if let out {
            try Data(output.csv.utf8).write(to: URL(fileURLWithPath: out))
        } else {
            FileHandle.standardOutput.write(Data(output.csv.utf8))
        }
        FileHandle.standardError.write(
            Data("tally export: \(rows.count - 1) rows at lsn \(output.lsn) (definitions v\(output.version))\n".utf8))
    }

    private func write(rows: [[String]], header: [String], snapshot: Snapshot) throws -> (
        csv: String, lsn: LSN, version: UInt32
    ) {
        let timeName =
            timeColumn ?? ["ts", "at", "time", "timestamp"].first(where: header.contains) ?? ""
        guard let timeIndex = header.firstIndex(of: timeName) else {
            throw ValidationError(
                "no time column: name it with --time-column (header: \(header.joined(separator: ",")))")
        }
        let head = try snapshot.token(lsn: lsn.map { LSN($0) })
        let entities = snapshot.servedEntities
        let columns = entity.isEmpty ? header.filter { entities.contains($0) } : entity
        guard !columns.isEmpty else {
            throw ValidationError(
                "no entity column: name one with --entity (declared: \(entities.sorted().joined(separator: ", ")))")
        }
        var indices: [Int] = []
        for column in columns {
            guard let index = header.firstIndex(of: column) else {
                throw ValidationError("--entity \(column): the label file has no such column")
            }
            guard entities.contains(column) else {
                throw ValidationError("--entity \(column) is not a declared entity")
            }
            indices.append(index)
        }
        // The feature names come from the vector of any key (the same for every key of an entity).
        var featureNames: [[String]] = []
        for column in columns {
            let sample = try snapshot.vector(entity: column, key: "0", at: head)
            featureNames.append(Self.features(of: sample).map { "\(column).\($0.name)" })
        }
        var lines = [(header + featureNames.flatMap { $0 }).map(CSV.field).joined(separator: ",")]
        for (number, row) in rows.dropFirst().enumerated() {
            guard row.count == header.count else {
                throw ValidationError("row \(number + 2) has \(row.count) fields; the header has \(header.count)")
            }
            let at: Int64
            do {
                at = try SnapshotToken.parseTime(row[timeIndex])
            } catch {
                throw ValidationError("row \(number + 2): \(timeName) \(error.message)")
            }
            let token = try snapshot.token(lsn: head.lsn, at: at)
            var cells = row
            for (position, index) in indices.enumerated() {
                if row[index].isEmpty {
                    cells += Array(repeating: "", count: featureNames[position].count)
                    continue
                }
                let vector = try snapshot.vector(entity: columns[position], key: row[index], at: token)
                cells += Self.features(of: vector).map(\.text)
            }
            lines.append(cells.map(CSV.field).joined(separator: ","))
        }
        return (lines.joined(separator: "\n") + "\n", head.lsn, head.definitionsVersion)
    }

    /// A vector's cells: views (nulls empty), then flags and lists as true/false.
    static func features(of vector: EntityVector) -> [(name: String, text: String)] {
        var cells: [(name: String, text: String)] = []
        for view in vector.views {
            if case .null = view.value {
                cells.append((view.name, ""))
            } else {
                cells.append((view.name, view.value.description))
            }
        }
        for flag in vector.flags { cells.append(("flag." + flag.name, flag.holds ? "true" : "false")) }
        for list in vector.lists { cells.append(("list." + list.name, list.holds ? "true" : "false")) }
        return cells
    }
}

/// RFC 4180 CSV: fields separated by commas, quoted with `"` when they hold a comma, a quote or a
/// line break (a quote doubled inside); lines end in LF or CRLF.
enum CSV {
    struct SyntaxError: Error, CustomStringConvertible {
        let line: Int
        var description: String { "line \(line): a quoted field is not closed" }
    }

    static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var iterator = Array(text).makeIterator()
        var pending: Character? = iterator.next()
        while let character = pending {
            pending = iterator.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty: quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\n", "\r\n", "\r":
                row.append(field)
                field = ""
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                row = []
                line += 1
            default: field.append(character)
            }
        }
        if quoted { throw SyntaxError(line: line) }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }

    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
