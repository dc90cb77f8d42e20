import ArgumentParser
import Foundation
import TallyServer

/// `tally tokens add|list`: the bearer tokens of `tally serve`.
struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the bearer tokens of tally serve (stored as SHA-256 hashes).",
        subcommands: [Add.self, List.self])

    /// Where the token file is: --token-file, else DATA_DIR/tokens.json.
    struct Location: ParsableArguments {
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Option(help: "Token file; default DATA_DIR/tokens.json.") var tokenFile: String?

        var path: String {
            tokenFile ?? URL(fileURLWithPath: dataDirectory.resolved).appendingPathComponent("tokens.json").path
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a token with a role; prints the secret once. A running server reads it on restart.")

        @Option(help: "ingest, read, decide, audit or admin.") var role: String
        @Option(help: "A name for logs and messages.") var name: String?
        @OptionGroup var location: Location

        func run() throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("unknown role '\(role)'; one of: ingest, read, decide, audit, admin")
            }
            let path = location.path
            var file = FileManager.default.fileExists(atPath: path) ? try TokenFile.load(from: path) : TokenFile()
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
            var chosen = name ?? "\(role.rawValue)-\(file.tokens.count + 1)"
            if let name {
                // Names tell tokens apart in logs and messages: one name, one token.
                guard !file.tokens.contains(where: { $0.name == name }) else {
                    throw ValidationError("a token named '\(name)' exists already in \(path); choose another --name")
                }
            } else {
                var n = file.tokens.count + 1
                while file.tokens.contains(where: { $0.name == chosen }) {
                    n += 1
                    chosen = "\(role.rawValue)-\(n)"
                }
            }
            let secret = file.add(name: chosen, role: role)
            try file.save(to: path)
            print(secret)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List token names and roles (never secrets).")
        @OptionGroup var location: Location

        func run() throws {
            for entry in try TokenFile.load(from: location.path).tokens {
                print("\(entry.name)\t\(entry.role.rawValue)")
            }
        }
    }
}
