import ArgumentParser
import Foundation
import Tally

/// `tally check DEFS`: loads a definitions file and reports every problem with its position.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a definitions file (YAML or JSON); exit 1 with every problem listed if it is invalid.")

    @Argument(help: "The definitions file.")
    var definitions: String

    func run() async throws {
        let loaded = try DefinitionsFile.load(definitions)
        let servedViews = loaded.views.reduce(0) { $0 + $1.servedNames.count }
        print(
            "\(definitions): ok — \(loaded.entities.count) entities, \(loaded.events.count) event types, "
                + "\(loaded.views.count) views (\(servedViews) served), \(loaded.lists.count) lists, "
                + "\(loaded.flags.count) flags, \(loaded.rules.count) rules")
    }
}
