import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TallyServer

@Suite("tally get and tally tokens")
struct CommandLineServerTests {
    /// Runs the built `tally` with `arguments`; returns exit status and standard output.
    /// Runs the tally binary; `output` is its standard output, with its standard error after it
    /// when `standardError`.
    static func tally(_ arguments: [String], in directory: String? = nil, standardError: Bool = false) async throws
        -> (status: Int32, output: String)
    {
        try await offPool { try runBlocking(arguments, in: directory, standardError: standardError) }
    }

    private static func runBlocking(_ arguments: [String], in directory: String?, standardError: Bool) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServeProcess.tallyPath)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        let errors = standardError ? Pipe() : nil
        process.standardError = errors ?? FileHandle.nullDevice
        try process.run()
        var output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if let errors { output += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        process.waitUntilExit()
        return (process.terminationStatus, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `tally serve` on `DIRECTORY/data` of a fresh directory, with a token file holding an ingest
    /// and a read token; the caller removes the directory and stops the server.
    static func serverWithTokens() async throws -> (
        directory: String, data: String, server: ServeProcess, ingester: String, reader: String
    ) {
        let directory = NSTemporaryDirectory() + "tally-cli-server-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tokens = TokenFile()
        let ingester = tokens.add(name: "ingester", role: .ingest)
        let reader = tokens.add(name: "reader", role: .read)
        try tokens.save(to: directory + "/tokens.json")
        let data = directory + "/data"
        do {
            let server = try await ServeProcess.start(directory: data, tokenFile: directory + "/tokens.json", port: 0)
            return (directory, data, server, ingester, reader)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    @Test("tally get (read-only beside the server) prints exactly what GET /v1/entities answers")
    func getMatchesTheAPI() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        let at = baseTime + 5000
        try await fixture.test(.live) { client in
            let events = (0..<3).map { authorization("g\($0)", amount: "1.25", time: baseTime + Int64($0)) }
            _ = try await client.send(
                "/v1/events", .post, headers: fixture.headers(.ingest), body: "[\(events.joined(separator: ","))]")
            let api = try await client.send("/v1/entities/card/c1?at=\(at)", .get, headers: fixture.headers(.read))
            #expect(api.status == .ok)
            let direct = try await Self.tally([
                "get", "card", "c1", "--at", String(at), "--data-dir", fixture.directory,
            ])
            #expect(direct.status == 0)
            #expect(direct.output == api.text)
        }
    }

    @Test("tally apply --url changes a running server's definitions; without --url it names the server")
    func applyThroughTheServer() async throws {
        let directory = NSTemporaryDirectory() + "tally-apply-url-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tokens = TokenFile()
        let admin = tokens.add(name: "admin", role: .admin)
        let reader = tokens.add(name: "reader", role: .read)
        try tokens.save(to: directory + "/tokens.json")
        let server = try await ServeProcess.start(
            directory: directory + "/data", tokenFile: directory + "/tokens.json", port: 0)
        defer { _ = try? server.stopBlocking() }
        let file = directory + "/cards2.yaml"
        try DefinitionsEndpointTests.withAddedView.write(toFile: file, atomically: true, encoding: .utf8)
        let url = "http://127.0.0.1:\(server.port)"

        let busy = try await Self.tally(["apply", file, "--data-dir", directory + "/data"])
        #expect(busy.status != 0, "the server holds the store")
        let refused = try await Self.tally(["apply", file, "--url", url, "--token", reader])
        #expect(refused.status != 0, "a read token may not change definitions")
        let applied = try await Self.tally(["apply", file, "--url", url, "--token", admin])
        #expect(applied.status == 0)
        let answer = try JSONSerialization.jsonObject(with: Data(applied.output.utf8)) as? [String: Any]
        #expect(answer?["version"] as? Int == 2 && answer?["status"] as? String == "served", "\(applied.output)")
        let vector = try await Self.tally(["get", "card", "c1", "--data-dir", directory + "/data"])
        #expect(vector.output.contains(#""card_big_auth_count_1h":0"#), "\(vector.output)")
        #expect(vector.output.contains(#""definitions_version":2"#), "\(vector.output)")
    }

    @Test("tally ingest goes through a running server (found from the data directory, or --url); tally get --url")
    func ingestThroughTheServer() async throws {
        let (directory, data, server, ingester, reader) = try await Self.serverWithTokens()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        defer { _ = try? server.stopBlocking() }
        let file = directory + "/events.ndjson"
        let lines =
            (0..<5).map { authorization("i\($0)", amount: "2.00", time: baseTime + Int64($0)) } + [
                authorization("i0", amount: "2.00", time: baseTime),  // a duplicate
                #"{"type":"authorization","txn_id":"bad","ts":"soon"}"#,  // rejected: malformed
            ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let noToken = try await Self.tally(["ingest", file, "--data-dir", data])
        #expect(noToken.status != 0, "writing through the server needs a token")
        let wrongRole = try await Self.tally(["ingest", file, "--data-dir", data, "--token", reader])
        #expect(wrongRole.status != 0, "a read token may not ingest")
        let found = try await Self.tally(["ingest", file, "--data-dir", data, "--token", ingester])
        #expect(found.status == 0, "\(found.output)")
        #expect(found.output.contains("accepted    5"), "\(found.output)")
        #expect(found.output.contains("duplicates  1"), "\(found.output)")
        #expect(found.output.contains("rejected    1"), "\(found.output)")
        let again = try await Self.tally([
            "ingest", file, "--url", "http://127.0.0.1:\(server.port)", "--token", ingester,
        ])
        #expect(again.status == 0)
        #expect(again.output.contains("accepted    0") && again.output.contains("duplicates  6"), "\(again.output)")
        let vector = try await Self.tally(["get", "card", "c1", "--at", String(baseTime + 10), "--data-dir", data])
        #expect(vector.output.contains(#""card_txn_count_60s":5"#), "\(vector.output)")
        let url = "http://127.0.0.1:\(server.port)"
        let remote = try await Self.tally([
            "get", "card", "c1", "--at", String(baseTime + 10), "--url", url, "--token", reader,
        ])
        #expect(remote.status == 0 && remote.output == vector.output, "tally get --url answers what the store holds")
        // A token older than c1's newest change is recomputed, and says so on standard error.
        let old = try await Self.tally(
            ["get", "card", "c1", "--lsn", "1", "--at", String(baseTime + 10), "--url", url, "--token", reader],
            standardError: true)
        #expect(old.status == 0 && old.output.contains("tally get: recomputed from the log"), "\(old.output)")
        let now = try await Self.tally(
            ["get", "card", "c1", "--at", String(baseTime + 10), "--url", url, "--token", reader], standardError: true)
        #expect(!now.output.contains("recomputed"), "\(now.output)")
        let refused = try await Self.tally(["get", "card", "c1", "--url", url, "--token", "not-a-token"])
        #expect(refused.status != 0, "a bad token is refused")
        #expect(FileManager.default.fileExists(atPath: data + "/server.json"))
        #expect(try await server.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: data + "/server.json"), "a stopped server leaves no address")
        let direct = try await Self.tally(["ingest", file, "--data-dir", data])
        #expect(direct.status == 0 && direct.output.contains("duplicates  6"), "without a server it opens the store")
    }

    @Test("tally ingest through a server: a line over the server's limits rejects that event alone, as without one")
    func anOverlongLineThroughTheServerRejectsOnlyItself() async throws {
        let (directory, data, server, ingester, _) = try await Self.serverWithTokens()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        defer { _ = try? server.stopBlocking() }
        let file = directory + "/events.ndjson"
        // Line 3 is longer than the server's NDJSON line limit (64 KiB): the request holding it
        // answers 413 and changes nothing.
        let overlong = authorization("long", time: baseTime + 2).replacingOccurrences(
            of: #""country":"FR""#, with: #""country":"\#(String(repeating: "x", count: 70_000))""#)
        let lines =
            (0..<2).map { authorization("e\($0)", time: baseTime + Int64($0)) } + [overlong]
            + (3..<6).map { authorization("e\($0)", time: baseTime + Int64($0)) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let sent = try await Self.tally([
            "ingest", file, "--url", "http://127.0.0.1:\(server.port)", "--token", ingester, "--batch-size", "4",
        ])
        #expect(sent.status == 0, "\(sent.output)")
        #expect(sent.output.contains("accepted    5"), "\(sent.output)")
        #expect(sent.output.contains("rejected    1"), "\(sent.output)")
        #expect(sent.output.contains("line_too_long"), "\(sent.output)")
        #expect(sent.output.contains("event 3:"), "the rejection names the file's line: \(sent.output)")
        #expect(!sent.output.contains("NDJSON line 1"), "not the line's number within a request: \(sent.output)")
        let vector = try await Self.tally(["get", "card", "c1", "--at", String(baseTime + 10), "--data-dir", data])
        #expect(vector.output.contains(#""card_txn_count_60s":5"#), "\(vector.output)")
    }

    @Test("tally demo serves, feeds the synthetic stream, reports every second and stops by itself")
    func demo() async throws {
        // From a directory without Examples/: the example definitions are built in.
        let run = try await Self.tally(
            ["demo", "--port", "0", "--seconds", "2", "--rate", "50"], in: NSTemporaryDirectory())
        #expect(run.status == 0)
        #expect(run.output.contains("WITHOUT authentication"))
        #expect(run.output.contains("t=1s lsn="), "\(run.output)")
        #expect(run.output.contains("t=2s lsn="), "\(run.output)")
    }

    @Test("tally tokens add prints a secret once and stores only its hash with the role")
    func tokensAdd() async throws {
        let path = NSTemporaryDirectory() + "tally-cli-tokens-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let added = try await Self.tally(["tokens", "add", "--role", "read", "--name", "scorer", "--token-file", path])
        #expect(added.status == 0)
        #expect(added.output.hasPrefix("tally_"))
        let file = try TokenFile.load(from: path)
        #expect(file.tokens == [TokenFile.Entry(name: "scorer", role: .read, sha256: TokenFile.hash(added.output))])
        let listed = try await Self.tally(["tokens", "list", "--token-file", path])
        #expect(listed.output == "scorer\tread")
        #expect(try await Self.tally(["tokens", "add", "--role", "root", "--token-file", path]).status != 0)
        let again = try await Self.tally(["tokens", "add", "--role", "admin", "--name", "scorer", "--token-file", path])
        #expect(again.status != 0, "one name, one token")
        #expect(try TokenFile.load(from: path).tokens.count == 1)
    }
}
