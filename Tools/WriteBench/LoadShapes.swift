import Foundation
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
    /// queueing counts. The schedule is kept by a dedicated OS thread (like a client in another
    /// process), not by a task on the 2-thread cooperative pool that also runs the work measured;
    /// `sendLag` is how late that thread still sent. `operation` may return the commit's LSN,
    /// which the timeline records with the acknowledgement.
    static func openLoop(
        rate: Int, count: Int, _ operation: @escaping @Sendable (_ n: Int) async throws -> UInt64?
    ) async throws -> (latency: Histogram<UInt64>, sendLag: Histogram<UInt64>, seconds: Double) {
        let clock = ContinuousClock()
        let interval = Duration.nanoseconds(1_000_000_000 / rate)
        let start = clock.now + .milliseconds(10)
        let outcomes = OpenLoopOutcomes()
        let sendLag: Histogram<UInt64> = try await withCheckedThrowingContinuation { continuation in
            let generator = Thread {
                var sendLag = newHistogram()
                let inFlight = DispatchGroup()
                for n in 0..<count {
                    let scheduled = start + interval * n
                    sleep(until: scheduled, clock: clock)
                    let sent = clock.now
                    _ = sendLag.record(nanoseconds(max(.zero, sent - scheduled)))
                    // From the schedule if sent late, from the send if the timer woke early.
                    let origin = min(sent, scheduled)
                    inFlight.enter()
                    Task {
                        defer { inFlight.leave() }
                        do {
                            let lsn = try await operation(n)
                            let latency = nanoseconds(clock.now - origin)
                            outcomes.record(latency)
                            Timeline.shared?.ack(latency: latency, lsn: lsn)
                        } catch {
                            outcomes.fail(error)
                        }
                    }
                }
                inFlight.wait()
                if let error = outcomes.firstError {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume(returning: sendLag)
                }
            }
            generator.name = "open-loop-generator"
            generator.start()
        }
        return (outcomes.latency, sendLag, (clock.now - start).secondsValue)
    }

    /// Sleeps the calling thread until about `deadline`: Linux adds up to 50 µs of timer slack to
    /// a normal thread's sleep, so it asks for that much less.
    private static func sleep(until deadline: ContinuousClock.Instant, clock: ContinuousClock) {
        let remaining = deadline - clock.now - .microseconds(50)
        guard remaining > .zero else { return }
        let (seconds, attoseconds) = remaining.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var unslept = timespec()
        while nanosleep(&request, &unslept) != 0, errno == EINTR { request = unslept }
    }
}

/// What the open loop's tasks report: each latency and the first error.
private final class OpenLoopOutcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded = newHistogram()
    private var error: (any Error)?

    func record(_ nanoseconds: UInt64) { lock.withLock { _ = recorded.record(nanoseconds) } }

    func fail(_ error: any Error) { lock.withLock { if self.error == nil { self.error = error } } }

    var latency: Histogram<UInt64> { lock.withLock { recorded } }
    var firstError: (any Error)? { lock.withLock { error } }
}
