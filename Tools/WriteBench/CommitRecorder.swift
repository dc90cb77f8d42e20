import Histogram
import Synchronization
import Tally

/// Collects a store's commit reports (``Tally/observeCommits(_:)``) while a case runs: how long the
/// commits alone took, how long applying their groups took, and how many requests each joined.
final class CommitRecorder: Sendable {
    private struct Figures {
        var commit = newHistogram()
        var apply = newHistogram()
        var requests = 0
        var commits = 0
    }
    private let figures = Mutex(Figures())

    /// Observes `store` until ``stop(_:)``.
    init(observing store: Tally) {
        store.observeCommits { [self] report in
            figures.withLock { figures in
                figures.commit.record(max(1, nanoseconds(report.commit)))
                figures.apply.record(max(1, nanoseconds(report.apply)))
                figures.requests += report.requests
                figures.commits += 1
            }
            Timeline.shared?.commit(report)
        }
    }

    /// Stops observing `store` and writes the figures into `result`.
    func stop(_ store: Tally, into result: inout Result) {
        store.observeCommits(nil)
        Timeline.shared?.save(as: result.name)
        figures.withLock { figures in
            guard figures.commits > 0 else { return }
            result.commitP50Micros = Double(figures.commit.valueAtPercentile(50)) / 1000
            result.commitP99Micros = Double(figures.commit.valueAtPercentile(99)) / 1000
            result.applyP50Micros = Double(figures.apply.valueAtPercentile(50)) / 1000
            result.applyP99Micros = Double(figures.apply.valueAtPercentile(99)) / 1000
            result.requestsPerCommit = Double(figures.requests) / Double(figures.commits)
        }
    }
}
