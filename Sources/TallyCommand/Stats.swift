import ArgumentParser
import Foundation
import Tally

/// `tally stats`: reads the store's statistics without writing (safe beside a running server).
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
        print(String(decoding: try encoder.encode(store.statistics()), as: UTF8.self))
    }
}
