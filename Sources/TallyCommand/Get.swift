import ArgumentParser
import Foundation
import Tally

/// `tally get [DEFS] ENTITY KEY [--at T] [--lsn N]`: prints one entity's vector as JSON.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one entity's vector (every served view) as JSON, with its snapshot token.",
        discussion: """
            With DEFS, the definitions are applied first (as `tally ingest` does) unless another process \
            is writing the store; then, and without DEFS, the store is read as it is, read-only. \
            --at takes epoch milliseconds or RFC 3339 (default: now); --lsn an older LSN to answer at.
            """)

    @Argument(help: "[DEFS] ENTITY KEY: an optional definitions file, the entity type and the key.")
    var arguments: [String]
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "The as-of time of the windows: epoch ms or RFC 3339 (default: now).") var at: String?
    @Option(help: "Answer at this LSN (default: the current one).") var lsn: UInt64?

    func validate() throws {
        guard arguments.count == 2 || arguments.count == 3 else {
            throw ValidationError("expected [DEFS] ENTITY KEY")
        }
    }

    func run() async throws {
        let (entity, key) = (arguments[arguments.count - 2], arguments[arguments.count - 1])
        let store = try open(definitions: arguments.count == 3 ? arguments[0] : nil)
        defer { store.close() }
        var at: Int64?
        if let text = self.at { at = try SnapshotToken.parseTime(text) }
        var json: [UInt8] = []
        try store.read { snapshot in
            let token = try snapshot.token(lsn: lsn.map { LSN($0) }, at: at)
            try snapshot.vector(entity: entity, key: key, at: token).appendJSON(to: &json, token: token)
        }
        FileHandle.standardOutput.write(Data(json + [10]))
    }

    private func open(definitions path: String?) throws -> Tally {
        if let path {
            let loaded = try DefinitionsFile.load(path)
            do {
                return try Tally.open(directory: dataDirectory.resolved, definitions: loaded)
            } catch {
                // A server writes this store: read it as it is.
                guard error.code == .storeBusy else { throw error }
            }
        }
        var options = Tally.Options()
        options.access = .readOnly
        return try Tally.open(directory: dataDirectory.resolved, options: options)
    }
}
