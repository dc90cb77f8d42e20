import ArgumentParser
import Foundation
import Tally

/// `tally catalog [DEFS]`: every entity, event type, view, list, flag and rule with its catalog
/// metadata, from a definitions file or the store's own definitions (read-only).
struct Catalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List entities, event types, views, lists, flags and rules with description, owner and tags.",
        discussion: "Without DEFS, lists the definitions the store serves, with their version (read-only).")

    @Argument(help: "A definitions file (default: the store's definitions).") var definitions: String?
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Entry: Encodable {
        let kind: String
        let name: String
        let detail: String
        let description: String?
        let owner: String?
        let tags: [String]
        /// The definitions version since which the item is unchanged (a store's catalog only).
        var version: UInt32?
    }

    func run() async throws {
        let (loaded, version, versions) = try load()
        let entries = Self.entries(loaded, versions: versions)
        if json {
            struct Document: Encodable {
                let definitionsVersion: UInt32?
                let entries: [Entry]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(
                String(
                    decoding: try encoder.encode(Document(definitionsVersion: version, entries: entries)), as: UTF8.self
                ))
            return
        }
        print(version.map { "definitions version \($0)" } ?? "definitions from \(definitions ?? "")")
        let widths = [8, entries.map(\.name.count).max() ?? 4, min(48, entries.map(\.detail.count).max() ?? 6)]
        for entry in entries {
            let columns = [
                Self.pad(entry.kind, widths[0]), Self.pad(entry.name, widths[1]), Self.pad(entry.detail, widths[2]),
                entry.version.map { "v\($0)" } ?? "",
                entry.owner.map { "owner: \($0)" } ?? "",
                entry.tags.isEmpty ? "" : "tags: " + entry.tags.joined(separator: ","),
                entry.description ?? "",
            ]
            print(columns.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }

    /// `card when card_txn_count_60s > 5 on authorization for 1h`, or `card set through the API`.
    static func flagDetail(_ flag: FlagDefinition) -> String {
        let duration = flag.duration.map { " for \(durationText($0))" } ?? ""
        guard let setWhen = flag.setWhen else { return "\(flag.entity) set through the API\(duration)" }
        return "\(flag.entity) when \(setWhen) on \(flag.on.joined(separator: ","))\(duration)"
    }

    /// Milliseconds in the largest unit that divides them: `1h`, `90s`, `1500ms`.
    static func durationText(_ milliseconds: Int64) -> String {
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }

    /// `text` padded to `width` columns; longer text is kept whole (it only shifts its row).
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    private func load() throws -> (Definitions, UInt32?, CatalogVersions?) {
        if let definitions {
            return (try DefinitionsFile.load(definitions), nil, nil)
        }
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        guard let served = store.servedDefinitions else {
            throw ValidationError("the store at \(dataDirectory.resolved) has no definitions; give a DEFS file")
        }
        return (served, try store.read { $0.definitionsVersion }, store.catalogVersions)
    }

    static func entries(_ d: Definitions, versions: CatalogVersions? = nil) -> [Entry] {
        func entry(
            _ kind: String, _ name: String, _ detail: String, _ info: CatalogInfo,
            _ versioned: KeyPath<CatalogVersions, [String: UInt32]>
        ) -> Entry {
            Entry(
                kind: kind, name: name, detail: detail, description: info.description, owner: info.owner,
                tags: info.tags, version: versions?[keyPath: versioned][name])
        }
        var all: [Entry] = []
        all += d.entities.map { entry("entity", $0.name, "key \($0.keyType.rawValue)", $0.catalog, \.entities) }
        all += d.events.map {
            entry("event", $0.name, "\($0.fields.count) fields, id \($0.idField)", $0.catalog, \.events)
        }
        all += d.views.map { view in
            let aggregate = view.argument.map { "\(view.aggregate.rawValue)(\($0))" } ?? view.aggregate.rawValue
            // A signed or computed contribution is part of what the view is: `settlement -amount`.
            let sources = view.sources.map { source in
                source.value.map { "\(source.eventType) \($0)" } ?? source.eventType
            }
            .joined(separator: ", ")
            let windows = view.windows.map(\.description).joined(separator: ",")
            let filter = view.filter.map { " where \($0)" } ?? ""
            return entry(
                "view", view.name, "\(view.entity) \(aggregate) \(windows) from \(sources)\(filter)", view.catalog,
                \.views)
        }
        all += d.lists.map { list in
            let of: String
            switch list.of {
            case .entity(let name): of = name
            case .scalar(let type): of = type.rawValue
            }
            return entry("list", list.name, "of \(of)", list.catalog, \.lists)
        }
        all += d.flags.map {
            entry("flag", $0.name, Self.flagDetail($0), $0.catalog, \.flags)
        }
        all += d.rules.map { entry("rule", $0.name, "\($0.outcome) when \($0.when)", $0.catalog, \.rules) }
        return all
    }
}
