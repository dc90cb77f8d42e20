import BenchTransport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An open-loop HTTP/1.1 load: request `i` is due at `start + i / rate`, whether or not earlier
/// answers have come back, and its latency is timed from that due time, not from when it was
/// sent. Request `i` goes out on connection `i % connections`, each connection on its own thread
/// sleeping until its next due time; a connection still waiting for an answer sends late, and
/// the wait counts in the latency (no coordinated omission). Due times are spread evenly, so
/// connections never fire in aligned bursts (as `h2load --rps` clients do, every 1/rps s).
struct OpenLoop {
    var port: Int
    var target: String
    var token: String?
    var rate: Double
    var seconds: Double
    var connections: Int

    struct Result {
        /// Latency of each answered request from its due time, in microseconds, sorted.
        var latencies: [Int]
        var failures: Int
        var nonOK: Int
        var elapsed: Double
        /// CPU seconds (user + system) this process used during the run.
        var cpuSeconds: Double

        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return .nan }
            return Double(latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))]) / 1000
        }
    }

    func run() throws -> Result {
        let total = Int(rate * seconds)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        let request = Array((head + "\r\n").utf8)
        let clients = try (0..<connections).map { _ in try Connection(port: port) }
        for client in clients { _ = try Self.exchange(request, on: client) }  // connected and warm
        let cpuBefore = Self.cpuSeconds()
        let start = Self.now() + 10_000_000  // 10 ms for the threads to start
        let interval = 1e9 / rate
        let collected = Collected(expected: total)
        let done = DispatchGroup()
        for (index, client) in clients.enumerated() {
            let job = Job(client: client, request: request, first: index, step: connections, total: total)
            done.enter()
            Thread.detachNewThread {
                collected.add(job.run(start: start, interval: interval))
                done.leave()
            }
        }
        done.wait()
        let elapsed = Double(Self.now() - start) / 1e9
        var result = collected.result
        result.latencies.sort()
        result.elapsed = elapsed
        result.cpuSeconds = Self.cpuSeconds() - cpuBefore
        return result
    }

    /// One connection's share of the schedule: requests first, first + step, … below total.
    /// Only its own thread touches the client.
    private struct Job: @unchecked Sendable {
        let client: Connection
        let request: [UInt8]
        let first: Int
        let step: Int
        let total: Int

        func run(start: UInt64, interval: Double) -> Result {
            var result = Result(latencies: [], failures: 0, nonOK: 0, elapsed: 0, cpuSeconds: 0)
            result.latencies.reserveCapacity(total / step + 1)
            var i = first
            while i < total {
                let due = start + UInt64(Double(i) * interval)
                OpenLoop.sleep(until: due)
                do {
                    if try OpenLoop.exchange(request, on: client) != 200 { result.nonOK += 1 }
                    result.latencies.append(Int((OpenLoop.now() - due) / 1_000))
                } catch {
                    result.failures += 1
                }
                i += step
            }
            return result
        }
    }

    /// The threads' results, merged under a lock.
    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var merged: Result

        init(expected: Int) {
            merged = Result(latencies: [], failures: 0, nonOK: 0, elapsed: 0, cpuSeconds: 0)
            merged.latencies.reserveCapacity(expected)
        }

        func add(_ part: Result) {
            lock.withLock {
                merged.latencies.append(contentsOf: part.latencies)
                merged.failures += part.failures
                merged.nonOK += part.nonOK
            }
        }

        var result: Result { lock.withLock { merged } }
    }

    private static let contentLength = Array("content-length:".utf8)

    /// Sends one request and reads its answer (a Content-Length body, as `tally serve` sends);
    /// returns the status. Bytes are compared in place: the load must cost little CPU beside the
    /// server it measures.
    static func exchange(_ request: [UInt8], on connection: Connection) throws -> Int {
        try connection.write(request)
        let status = try connection.readLine()
        guard status.count >= 12 else { throw ConnectionError("bad status line") }
        let code = status[9...11].reduce(0) { $0 * 10 + Int($1) - 48 }
        var length = 0
        while true {
            let line = try connection.readLine()
            if line.isEmpty { break }
            guard line.count > contentLength.count,
                zip(line, contentLength).allSatisfy({ $0 | 0x20 == $1 | 0x20 })
            else { continue }
            length = line[contentLength.count...].reduce(0) { $1 >= 48 && $1 <= 57 ? $0 * 10 + Int($1) - 48 : $0 }
        }
        try connection.withBytes(count: length) { _ in }
        return code
    }

    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func sleep(until deadline: UInt64) {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
