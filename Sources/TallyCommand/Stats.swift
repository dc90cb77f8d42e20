import ArgumentParser
import Foundation
import Tally

/// `tally stats`: reads the store's statistics without writing (safe beside a running server), as
/// JSON with snake_case keys; what describes a writing process (its commits, map growths and
/// durability mode) is `tally serve`'s `/metrics`.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the store's statistics as JSON.")

    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() async throws {
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase  // as the HTTP API spells its keys
        let data = try encoder.encode(store.statistics())
        // `commits`, `map_growths`, `durability` and `page_cache_shaping` describe the process that opened the store
        // (its writes, its mode), and this one only reads.
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        for key in ["commits", "map_growths", "durability", "page_cache_shaping"] { object[key] = nil }
        let text = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: text, as: UTF8.self))
    }
}
