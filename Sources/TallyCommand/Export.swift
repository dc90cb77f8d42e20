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
            every column named like a declared entity: card, merchant; --entity COLUMN=ENTITY reads another \
            column as an entity's keys) give the keys. Each output row is the label row, then per entity \
            column C: C.<view> for every served view of its entity, C.flag.<name> and C.list.<name>. Every \
            row is read at one LSN (--lsn, default the store's current one) in one read transaction, by the \
            code that serves vectors: each row sees the events with times at or before its own (late \
            arrivals included) and the lists and flags as they held then, as known at that LSN — what a \
            decision saw at the time is what replaying it gives. CSV per RFC 4180 (Parquet-compatible: one \
            header, no index column, empty cells for nulls and keyless rows). Works beside a running server \
            (the store is opened read-only). Exit 1 with a message on a bad row or file.
            """)

    @Argument(help: "The label file (CSV with a header row).") var labels: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "The column with each row's as-of time (default: ts, at, time or timestamp).")
    var timeColumn: String?
    @Option(
        help:
            "An entity column to read, COLUMN or COLUMN=ENTITY (repeatable; default: every column named like an entity)."
    )
    var entity: [String] = []
    @Option(help: "Read every row at this LSN (default: the current one).") var lsn: UInt64?
    @Option(help: "Write to this file instead of standard output.") var out: String?

    /// A problem with the label file or a row: printed as is, exit 1 (not a usage error).
    typealias Failure = CommandFailure

    func run() async throws {
        do {
            try export()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("tally export: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func export() throws {
        guard let data = FileManager.default.contents(atPath: labels) else { throw Failure("cannot read \(labels)") }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a UTF-8 byte order mark (Excel's "CSV UTF-8")
        let rows: [[String]]
        do {
            rows = try CSV.parse(text)
        } catch {
            throw Failure("\(labels): \(error)")
        }
        guard let header = rows.first else { throw Failure("\(labels) is empty: it needs a header row") }
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let output = try store.read { snapshot in try write(rows: rows, header: header, snapshot: snapshot) }
        if let out {
            do {
                try Data(output.csv.utf8).write(to: URL(fileURLWithPath: out))
            } catch {
                throw Failure("cannot write \(out): \((error as NSError).localizedDescription)")
            }
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
            throw Failure("no time column: name it with --time-column (header: \(header.joined(separator: ",")))")
        }
        let head = try snapshot.token(lsn: lsn.map { LSN($0) })
        let entities = snapshot.servedEntities
        // (column, entity) pairs: --entity COLUMN or COLUMN=ENTITY, else every column named like an entity.
        let pairs: [(column: String, entity: String)] =
            entity.isEmpty
            ? header.filter { entities.contains($0) }.map { ($0, $0) }
            : entity.map { spec in
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                return (parts[0], parts.count == 2 ? parts[1] : parts[0])
            }
        guard !pairs.isEmpty else {
            throw Failure(
                "no entity column: name one with --entity COLUMN[=ENTITY] (declared: \(entities.sorted().joined(separator: ", ")))"
            )
        }
        var indices: [Int] = []
        for (column, entity) in pairs {
            guard header.filter({ $0 == column }).count == 1, let index = header.firstIndex(of: column) else {
                throw Failure("entity column \(column): the label file must have exactly one column of that name")
            }
            guard entities.contains(entity) else { throw Failure("\(entity) is not a declared entity") }
            guard !indices.contains(index) else { throw Failure("entity column \(column) is named twice") }
            indices.append(index)
        }
        // The feature names come from the vector of any key (the same for every key of an entity).
        var featureNames: [[String]] = []
        for (column, entity) in pairs {
            let sample = try snapshot.vector(entity: entity, key: "0", at: head)
            featureNames.append(Self.features(of: sample).map { "\(column).\($0.name)" })
        }
        let names = header + featureNames.flatMap { $0 }
        if let clash = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw Failure("the output would have two columns named \(clash): rename the label column")
        }
        var lines = [names.map(CSV.field).joined(separator: ",")]
        for (number, row) in rows.dropFirst().enumerated() {
            guard row.count == header.count else {
                throw Failure("row \(number + 2) has \(row.count) fields; the header has \(header.count)")
            }
            let at: Int64
            do {
                at = try SnapshotToken.parseTime(row[timeIndex])
            } catch {
                throw Failure("row \(number + 2): \(timeName) \(error.message)")
            }
            let token = try snapshot.token(lsn: head.lsn, at: at)
            var cells = row
            for (position, index) in indices.enumerated() {
                if row[index].isEmpty {
                    cells += Array(repeating: "", count: featureNames[position].count)
                    continue
                }
                do {
                    let vector = try snapshot.vector(entity: pairs[position].entity, key: row[index], at: token)
                    cells += Self.features(of: vector).map(\.text)
                } catch {
                    throw Failure("row \(number + 2): \(pairs[position].column) \(error.message)")
                }
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
