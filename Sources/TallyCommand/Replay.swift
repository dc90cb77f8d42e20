import ArgumentParser
import Foundation
import Tally
import TallyServer

/// `tally replay ID`: recomputes a recorded decision at its snapshot from the log and prints
/// whether every value matches (the JSON of `POST /v1/decisions/{id}/replay`). Exit status: 0 it
/// matches, 1 it does not, 2 it could not be replayed (no such decision, not retained, …).
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded decision at its snapshot and compare every value; exit 0 if all match.",
        discussion: """
            Every view of the decision's vectors is recomputed from the log's entries at the recorded \
            snapshot (lsn, at, definitions version), with the flags, lists and rules, and compared with the \
            record: {"id","matches","outcome","differences":[{"path","recorded","recomputed"}],"snapshot"}. \
            The store is read read-only (safe beside a running tally serve); with --url the replay runs on \
            that server with an audit token from --token or $TALLY_TOKEN. Exit status: 0 every value \
            matches, 1 some differ, 2 the decision could not be replayed (unknown id, snapshot older than \
            retention keeps, no store, the server's error).
            """)

    @Argument(help: "The decision's id (its LSN, as decide answered it).") var id: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "Replay on the server at this base URL (e.g. http://127.0.0.1:8080).") var url: String?
    @Option(help: "A token with role audit, for --url (default: $TALLY_TOKEN).") var token: String?

    func run() async throws {
        // Not a usage error (64): an id that names no decision cannot be replayed, exit 2.
        guard id.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let decision = UInt64(id), decision > 0 else {
            FileHandle.standardError.write(
                Data("tally replay: '\(id.prefix(64))' is not a decision id (a positive integer, its LSN)\n".utf8))
            throw ExitCode(2)
        }
        let (json, matches): ([UInt8], Bool)
        do {
            (json, matches) = try await replay(decision)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("tally replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        FileHandle.standardOutput.write(Data(json + [10]))
        if !matches { throw ExitCode(1) }
    }

    /// The replay's JSON and whether it matches.
    private func replay(_ id: UInt64) async throws -> ([UInt8], Bool) {
        if let url {
            let client = try ServerClient(base: url, token: token, role: "audit")
            let (status, answer) = try await client.send(
                "POST", "/v1/decisions/\(id)/replay", body: Data(), contentType: "application/json",
                patience: .seconds(10))
            guard status == 200,
                let matches = (try? JSONSerialization.jsonObject(with: answer) as? [String: Any])?["matches"] as? Bool
            else {
                FileHandle.standardError.write(
                    Data("tally replay: \(client.base) answered \(status): ".utf8) + answer + Data("\n".utf8))
                throw ExitCode(2)
            }
            return (Array(answer), matches)
        }
        var options = Tally.Options()
        options.access = .readOnly
        let store = try Tally.open(directory: dataDirectory.resolved, options: options)
        defer { store.close() }
        let replay = try store.replayDecision(LSN(id))
        return (TallyServer.replayJSON(replay), replay.matches)
    }
}
