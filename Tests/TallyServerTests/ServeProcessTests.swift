import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Tally
import Testing

@testable import TallyServer

/// `tally serve` as a child process on a loopback port.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    /// Everything the server printed on standard output so far.
    private let printed = SharedText()
    private(set) var port = 0
    /// What the server printed up to its "listening on" line.
    private(set) var banner = ""

    /// The `tally` executable, built next to the test bundle.
    static var tallyPath: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("tally").path
    }

    /// Starts the server and waits (bounded) for its "listening on" line.
    init(directory: String, tokenFile: String?, port: Int) throws {
        process.executableURL = URL(fileURLWithPath: Self.tallyPath)
        process.arguments =
            [
                "serve", "--definitions", "Examples/cards.yaml", "--data-dir", directory, "--host", "127.0.0.1",
                "--port", String(port), "--log-level", "warning",
            ] + (tokenFile.map { ["--token-file", $0] } ?? [])
        process.standardOutput = output
        let printed = printed
        output.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            printed.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
        }
        try process.run()
        var text = ""
        for _ in 0..<2400 {  // at most 120 s (a debug build on a loaded machine)
            text = printed.withLock { $0 }
            if (text.contains("listening on") && text.hasSuffix("\n")) || !process.isRunning { break }
            usleep(50_000)
        }
        guard let range = text.range(of: "http://127.0.0.1:"),
            let parsed = Int(text[range.upperBound...].prefix { $0.isNumber })
        else { throw TestFailure("tally serve did not start: \(text)") }
        self.port = parsed
        self.banner = text
    }

    /// Starts the server; the wait for it runs off the concurrency pool (``offPool(_:)``).
    static func start(directory: String, tokenFile: String?, port: Int) async throws -> ServeProcess {
        try await offPool { try ServeProcess(directory: directory, tokenFile: tokenFile, port: port) }
    }

    /// ``stopBlocking(signal:)`` off the concurrency pool.
    func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        try await offPool { try self.stopBlocking(signal: signal) }
    }

    /// Sends `signal` and waits (bounded) for the exit; returns the exit status.
    func stopBlocking(signal: Int32 = SIGTERM) throws -> Int32 {
        kill(process.processIdentifier, signal)
        for _ in 0..<2400 where process.isRunning { usleep(50_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("tally serve did not stop within 120 s of signal \(signal)")
        }
        return process.terminationStatus
    }
}

/// Text appended by one thread and read by another.
final class SharedText: Sendable {
    private let text = Mutex("")
    func withLock<R>(_ body: (inout String) -> R) -> R { text.withLock { body(&$0) } }
}

/// What the SIGTERM test's client and signal threads share: acknowledged bodies, failures, the exit.
final class Acknowledged: Sendable {
    let bodies = Mutex<[String]>([])
    /// The clients' failed posts, each marked as before or after the signal.
    let failures = Mutex<[String]>([])
    /// Set just before the signal is sent.
    let signalled = Atomic<Bool>(false)
    let finishedClients = Atomic<Int>(0)
    /// The server's exit status once the signal thread has stopped it.
    let stopStatus = Mutex<Result<Int32, any Error>?>(nil)

    func record(_ failure: String) {
        let when = signalled.load(ordering: .sequentiallyConsistent) ? "after SIGTERM" : "before SIGTERM"
        failures.withLock { $0.append("\(when): \(failure)") }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("tally serve, the process")
struct ServeProcessTests {
    @Test("the first run creates DATA_DIR/tokens.json (0600) with an admin token printed once; restarts keep it")
    func firstRunCreatesTokens() async throws {
        let directory = NSTemporaryDirectory() + "tally-serve-tokens-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await ServeProcess.start(directory: directory, tokenFile: nil, port: 0)
        let secret = try #require(
            first.banner.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("tally_") }.map(String.init))
        let secretLine = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.banner.contains(directory + "/tokens.json"))
        let mode =
            try FileManager.default.attributesOfItem(atPath: directory + "/tokens.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let file = try String(contentsOfFile: directory + "/tokens.json", encoding: .utf8)
        #expect(!file.contains(secretLine))
        let port = first.port
        let metrics = try await TestClient.withClient(host: "127.0.0.1", port: port) { http in
            try await http.get("/metrics", headers: [.authorization: "Bearer \(secretLine)"])
        }
        #expect(metrics.status == .ok)
        #expect(try await first.stop() == 0)
        let second = try await ServeProcess.start(directory: directory, tokenFile: nil, port: port)
        #expect(!second.banner.contains("tally_"))
        let again = try await TestClient.withClient(host: "127.0.0.1", port: port) { http in
            try await http.get("/metrics", headers: [.authorization: "Bearer \(secretLine)"])
        }
        #expect(again.status == .ok)
        #expect(try await second.stop() == 0)
    }

    @Test("an open that must backfill prints its progress before the server listens")
    func anOpenTimeBackfillPrintsItsProgress() async throws {
        let directory = NSTemporaryDirectory() + "tally-serve-backfill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A store of the sample stream under the example definitions less one view: serving the
        // example definitions backfills that view at the open.
        let full = try String(contentsOfFile: "Examples/cards.yaml", encoding: .utf8)
        let lacking = full.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("merchant_txn_count_1h:") }.joined(separator: "\n")
        #expect(lacking != full)
        let store = try Tally.open(directory: directory, definitions: try DefinitionsLoader.load(text: lacking))
        let sample = try Data(contentsOf: URL(fileURLWithPath: "Examples/cards-sample.ndjson"))
        let result = try await store.ingest(ndjson: Array(sample))
        #expect(result.accepted > 0)
        store.close()
        let server = try await ServeProcess.start(directory: directory, tokenFile: nil, port: 0)
        let lines = server.banner.split(separator: "\n").filter { $0.contains("building view state") }
        #expect(lines.last?.contains("definitions version 2 before serving") == true, "\(server.banner)")
        #expect(lines.last?.contains("\(result.accepted) events replayed") == true, "\(server.banner)")
        #expect(lines.last?.hasSuffix("(done)") == true, "\(server.banner)")
        #expect(try await server.stop() == 0)
    }

    @Test("SIGTERM under load loses no acknowledged event; a restart on the same port works at once")
    func sigtermLosesNoAcknowledgedEvent() async throws {
        let directory = NSTemporaryDirectory() + "tally-serve-sigterm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var tokens = TokenFile()
        let admin = tokens.add(name: "admin", role: .admin)
        let tokenFile = directory + "/test-tokens.json"
        try tokens.save(to: tokenFile)
        let headers: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]

        let server = try await ServeProcess.start(directory: directory + "/data", tokenFile: tokenFile, port: 0)
        let port = server.port
        let acknowledged = Acknowledged()
        let clients = 4
        // The load and the signal run on threads of their own, with blocking sockets: in the full
        // parallel suite the concurrency pool's two threads are often busy with other tests; async
        // clients got fewer than 100 acks in 120 s there (the same test alone takes half a second).
        // Each client sends until a post fails, so the signal always finds them sending.
        for client in 0..<clients {
            Thread {
                defer { acknowledged.finishedClients.add(1, ordering: .sequentiallyConsistent) }
                do {
                    let http = try BlockingHTTPClient(port: port)
                    for index in 0... {
                        let body = authorization(
                            "sig-\(client)-\(index)", card: "c\(client)", time: baseTime + Int64(index))
                        let response = try http.post("/v1/events", body: body, headers: headers)
                        guard response.status == 200, response.body.contains(#""accepted":1"#) else {
                            acknowledged.record("client \(client) #\(index): \(response.status) \(response.body)")
                            return
                        }
                        acknowledged.bodies.withLock { $0.append(body) }
                    }
                } catch {
                    acknowledged.record("client \(client): \(error)")
                }
            }.start()
        }
        // SIGTERM once 100 events are acknowledged (waiting at most 120 s), while the clients send.
        Thread {
            let deadline = ContinuousClock.now + .seconds(120)
            while acknowledged.bodies.withLock({ $0.count }) < 100, ContinuousClock.now < deadline { usleep(1_000) }
            acknowledged.signalled.store(true, ordering: .sequentiallyConsistent)
            let status = Result { try server.stopBlocking() }
            acknowledged.stopStatus.withLock { $0 = status }
        }.start()
        // Every client ends: its next post fails once the server is gone (reads time out at 120 s).
        while acknowledged.finishedClients.load(ordering: .sequentiallyConsistent) < clients
            || acknowledged.stopStatus.withLock({ $0 == nil })
        {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try acknowledged.stopStatus.withLock { $0 }?.get() == 0)
        let acked = acknowledged.bodies.withLock { $0 }
        let failures = acknowledged.failures.withLock { $0 }
        #expect(acked.count >= 100, "\(failures)")
        // Before the signal the server acknowledged every post; every client was still sending.
        #expect(failures.count == clients && failures.allSatisfy { $0.hasPrefix("after SIGTERM") }, "\(failures)")

        // Restart at once on the same port: every acknowledged event is stored (a duplicate now).
        let again = try await ServeProcess.start(directory: directory + "/data", tokenFile: tokenFile, port: port)
        #expect(again.port == port)
        let check = try await TestClient.withClient(host: "127.0.0.1", port: port) { http in
            try await http.post(
                "/v1/events", headers: headers, body: ByteBuffer(string: "[\(acked.joined(separator: ","))]"))
        }
        #expect(check.status == .ok)
        let json =
            (try? JSONSerialization.jsonObject(with: Data(String(buffer: check.body ?? .init()).utf8)))
            as? [String: Any]
        #expect(json?["duplicates"] as? Int == acked.count)
        #expect(json?["accepted"] as? Int == 0)
        #expect(try await again.stop(signal: SIGINT) == 0)
    }
}
