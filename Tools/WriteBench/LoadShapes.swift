import Histogram

/// The two load shapes every benchmark case uses.
enum LoadShape {
    /// Closed loop: `producers` tasks, each awaiting `operation(producer, n)` for n = 0, 1, … until
    /// `deadline` or until the operation returns false. Returns operations done and their latency.
    static func closedLoop(
        producers: Int, until deadline: ContinuousClock.Instant,
        _ operation: @escaping @Sendable (_ producer: Int, _ n: Int) async throws -> Bool
    ) async throws -> (operations: Int, latency: Histogram<UInt64>) {
        let clock = ContinuousClock()
        return try await withThrowingTaskGroup(of: (Int, Histogram<UInt64>).self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var latency = newHistogram()
                    var n = 0
                    while clock.now < deadline {
                        let t0 = clock.now
                        guard try await operation(producer, n) else { break }
                        _ = latency.record(nanoseconds(clock.now - t0))
                        n += 1
                    }
                    return (n, latency)
                }
            }
            var total = 0
            var merged = newHistogram()
            for try await (n, latency) in group {
                total += n
                merged.add(latency)
            }
            return (total, merged)
        }
    }

    /// Open loop: `count` operations sent at `rate`/s on a fixed schedule, each in its own task,
    /// without waiting for earlier ones. Latency is measured from the *scheduled* send time, so
    /// queueing counts; `sendLag` is how late the generator itself sent (it runs on the same
    /// cooperative pool as the work it measures).
    static func openLoop(
        rate: Int, count: Int, _ operation: @escaping @Sendable (_ n: Int) async throws -> Void
    ) async throws -> (latency: Histogram<UInt64>, sendLag: Histogram<UInt64>, seconds: Double) {
        let clock = ContinuousClock()
        let interval = Duration.nanoseconds(1_000_000_000 / rate)
        let start = clock.now + .milliseconds(10)
        var sendLag = newHistogram()
        let latency = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for n in 0..<count {
                let scheduled = start + interval * n
                if scheduled > clock.now { try await clock.sleep(until: scheduled, tolerance: .microseconds(20)) }
                _ = sendLag.record(nanoseconds(max(.zero, clock.now - scheduled)))
                group.addTask {
                    try await operation(n)
                    return nanoseconds(clock.now - scheduled)
                }
            }
            var histogram = newHistogram()
            for try await value in group { _ = histogram.record(value) }
            return histogram
        }
        return (latency, sendLag, (clock.now - start).secondsValue)
    }
}
