import Foundation

@testable import TallyLMDB

/// A fresh environment with a writer in a temporary directory, removed on `close`.
final class TestStore: @unchecked Sendable {
    let directory: String
    let environment: Environment
    let writer: Writer
    let data: Database

    init(_ configure: (inout EnvironmentOptions) -> Void = { _ in }) throws {
        directory = NSTemporaryDirectory() + "tally-lmdb-\(UUID().uuidString)"
        var options = EnvironmentOptions()
        options.mapSize = 64 << 20
        configure(&options)
        environment = try Environment.open(path: directory, options: options, databases: [DatabaseSpec("data")])
        writer = try Writer(environment: environment)
        data = environment.database("data")
    }

    func close() {
        writer.close()
        environment.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `value` under `key` in its own request.
    @discardableResult
    func put(_ key: String, _ value: [UInt8], cost: Int = 1) async throws -> Committed<Void> {
        let data = data
        return try await writer.write(cost: cost) { txn in try txn.put(data, Array(key.utf8), value) }
    }

    func value(_ key: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.value(data, Array(key.utf8)) }
    }

    func count() throws -> Int {
        try environment.read { txn in try txn.entryCount(data) }
    }
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held. The default is
/// generous on purpose: under the full suite other tests can hold both cooperative threads for
/// seconds; a passing wait costs nothing.
func eventually(seconds: Double = 120, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return condition()
}
