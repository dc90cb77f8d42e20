import ArgumentParser
import Foundation
import Tally

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `tally apply DEFS`: makes DEFS the store's definitions. New views are backfilled from the log
/// (with a progress bar) before they are served; reads keep the previous version until then.
/// With `--url` the change goes through a running `tally serve` (`PUT /v1/definitions`), the way
/// every write goes while a server holds the store.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply new definitions to a store; new views are backfilled from the log before they are served.",
        discussion: """
            Unchanged definitions change nothing. Changed ones get the next version, which is served from \
            the LSN of its logged change; reads at earlier LSNs keep the version served then. Event types \
            must stay compatible with the stored events (new fields nullable, no type changes). While \
            `tally serve` runs on the store, the change goes through it (found from DATA_DIR/server.json, or \
            --url), with an admin token in --token or $TALLY_TOKEN.
            """)

    @Argument(help: "The definitions file (YAML or JSON).") var definitionsFile: String
    @OptionGroup var dataDirectory: DataDirectoryOption
    @Option(help: "Apply through the server at this base URL (e.g. http://127.0.0.1:8080).") var url: String?
    @Option(help: "An admin token for --url (default: $TALLY_TOKEN).") var token: String?

    func run() async throws {
        let definitions = try DefinitionsFile.load(definitionsFile)
        if let url {
            try await applyThroughServer(url: url)
            return
        }
        let store: Tally
        do {
            store = try Self.open(dataDirectory.resolved)
        } catch {
            // tally serve holds the store: the change goes through it.
            guard let server = ServerAddress.running(in: dataDirectory.resolved) else { throw error }
            FileHandle.standardError.write(
                Data("tally apply: tally serve holds the store; sending to \(server.url)\n".utf8))
            try await applyThroughServer(url: server.url)
            return
        }
        defer { store.close() }
        let progress = Task { () async -> Void in await Self.showProgress(of: store) }
        let report = try await store.apply(definitions)
        progress.cancel()
        _ = await progress.value
        print(Self.summary(report, directory: dataDirectory.resolved))
    }

    /// Opens the store for writing; a server holding it is named in the error.
    private static func open(_ directory: String) throws -> Tally {
        do {
            return try Tally.open(directory: directory, options: OpenProgress.options("tally apply"))
        } catch {
            guard error.code == TallyError.Code.storeBusy else { throw error }
            let hint: String = "A server is writing this store: apply through it with --url http://HOST:PORT"
            throw ValidationError(error.message + "\n" + hint)
        }
    }

    /// Draws the backfill's progress until cancelled.
    private static func showProgress(of store: Tally) async {
        var bar: ProgressBar? = nil
        var target: Int = 0
        var replayed: Int = 0
        while !Task.isCancelled {
            if let pending: DefinitionsProgress = store.definitionsChangeInProgress {
                target = Int(pending.target.rawValue)
                replayed = Int(pending.replayedEvents)
                if bar == nil { bar = ProgressBar(total: target, label: "backfill") }
                let done: Int = Int(pending.next.rawValue) - 1
                bar?.update(done, events: replayed)
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        bar?.update(target, events: replayed, force: true)
    }

    static func summary(_ report: DefinitionsChangeReport, directory: String) -> String {
        guard report.changed else { return "definitions unchanged: \(directory) serves version \(report.version)" }
        var lines = ["definitions version \(report.version) applied to \(directory) (was \(report.previousVersion))"]
        if let lsn = report.servedFrom { lines.append("  served from LSN \(lsn)") }
        if report.backfilledViews.isEmpty {
            lines.append("  no view needed a backfill")
        } else {
            let views: String = report.backfilledViews.joined(separator: ", ")
            lines.append("  backfilled from the log: \(views) (\(report.replayedEvents) events replayed)")
        }
        return lines.joined(separator: "\n")
    }

    private func applyThroughServer(url base: String) async throws {
        let trimmed: String = base.hasSuffix("/") ? String(base.dropLast()) : base
        guard let endpoint = URL(string: trimmed + "/v1/definitions") else {
            throw ValidationError("--url \(base) is not a URL")
        }
        guard let token = token ?? ProcessInfo.processInfo.environment["TALLY_TOKEN"] else {
            throw ValidationError(
                "applying through the server at \(base) needs an admin token: --token T or $TALLY_TOKEN")
        }
        var request = URLRequest(url: endpoint)
        request.httpMethod = "PUT"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/yaml", forHTTPHeaderField: "Content-Type")
        request.httpBody = try Data(contentsOf: URL(fileURLWithPath: definitionsFile))
        request.timeoutInterval = 3_600
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let text = String(decoding: data, as: UTF8.self)
        guard status == 200 || status == 202 else {
            FileHandle.standardError.write(Data("tally serve answered \(status): \(text)\n".utf8))
            throw ExitCode(1)
        }
        print(text)
    }
}
