import ArgumentParser
import Foundation

/// `tally-load`: an open-loop fixed-rate GET load on a running `tally serve`, timed from each
/// request's due time (see ``OpenLoop``). `Tools/bench-http-rate` runs it beside `h2load`.
@main
struct TallyLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-load",
        abstract: "Open-loop fixed-rate GET load on a loopback server; latency from each request's due time.")

    @Option(help: "The server's loopback port.") var port: Int
    @Option(help: "The request target, e.g. /v1/entities/card/card_3.") var target: String
    @Option(help: "A bearer token (or the file named by --token-file).") var token: String?
    @Option(help: "A file whose first line is the bearer token.") var tokenFile: String?
    @Option(help: "Requests per second offered.") var rate: Double
    @Option(help: "Seconds of load.") var seconds = 10.0
    @Option(help: "Keep-alive connections, each on its own thread (default: rate / 100, at least 8).")
    var connections: Int?
    @Option(help: "A label printed at the start of the result line.") var name = "open-loop"

    func validate() throws {
        guard rate > 0, seconds > 0 else { throw ValidationError("--rate and --seconds must be positive") }
    }

    func run() throws {
        let bearer =
            try token
            ?? tokenFile.map { path in
                try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
            }
        let count = connections ?? max(8, Int(rate / 100))
        let load = OpenLoop(port: port, target: target, token: bearer, rate: rate, seconds: seconds, connections: count)
        let result = try load.run()
        let answered = result.latencies.count
        let line =
            "\(name.padding(toLength: 16, withPad: " ", startingAt: 0)) "
            + String(
                format: "%9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  p999 %7.2f ms  max %7.2f ms  non-200 %d  failed %d  "
                    + "load CPU %4.0f%%  (%d connections, %.0f offered)",
                Double(answered) / result.elapsed, result.percentile(0.5), result.percentile(0.99),
                result.percentile(0.999), result.percentile(1), result.nonOK, result.failures,
                result.cpuSeconds / result.elapsed * 100, count, rate)
        print(line)
        if result.failures > 0 || result.nonOK > 0 { throw ExitCode(1) }
    }
}
