import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization
import Tally

/// The server's metrics, in its own Prometheus registry (so two servers in one process — tests —
/// count apart). `tally serve` also bootstraps the global `MetricsSystem` with ``factory``, so
/// swift-metrics from libraries land in the same `/metrics` answer.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `tally_ingest_events_total` | counter | `result` (`accepted`, `duplicate`, `rejected`), `code` (rejections); decide's scored events too |
/// | `tally_ingest_requests_total` | counter | `outcome` (`committed`, or the error code) |
/// | `tally_ingest_batch_size` | histogram | |
/// | `tally_ingest_commit_seconds` | histogram | (queue wait + durable commit) |
/// | `tally_store_commit_seconds` | histogram | (the commit alone: page writes and fsyncs) |
/// | `tally_store_apply_seconds` | histogram | (applying a commit's requests, before the commit) |
/// | `tally_store_commit_requests` | histogram | (requests joined into one commit) |
/// | `tally_decisions_total` | counter | `outcome` (of each recorded decision) |
/// | `tally_http_requests_total` | counter | `endpoint`, `method`, `status` |
/// | `tally_http_request_duration_seconds` | histogram | `endpoint`, `method` |
/// | `tally_store_lsn`, `tally_store_watermark_ms`, `tally_store_freshness_seconds` | gauge | read at scrape |
/// | `tally_view_freshness_seconds` | gauge | `view`; read at scrape: now − the newest event time of the event types the view reads |
/// | `tally_store_map_size_bytes`, `tally_store_used_bytes`, `tally_store_readers_in_use`, `tally_store_reader_slots`, `tally_store_pending_writes`, `tally_store_commits`, `tally_store_ready` | gauge | read at scrape |
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory writing into ``registry``.
    public let factory: PrometheusMetricsFactory
    private let requestMetrics = Mutex<[RequestKey: RequestMetrics]>([:])
    /// The views whose freshness the last scrape exported: a view no longer served drops out.
    private let freshnessViews = Mutex<Set<String>>([])
    private let commitSeconds: CoreMetrics.Timer
    private let applySeconds: CoreMetrics.Timer
    private let commitRequests: CoreMetrics.Recorder

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100_000]
        self.factory = factory
        commitSeconds = CoreMetrics.Timer(label: "tally_store_commit_seconds", factory: factory)
        applySeconds = CoreMetrics.Timer(label: "tally_store_apply_seconds", factory: factory)
        commitRequests = CoreMetrics.Recorder(label: "tally_store_commit_requests", factory: factory)
    }

    /// Counts one HTTP request by endpoint pattern (e.g. `/v1/entities/:entity/:key`).
    func requestFinished(endpoint: String, method: String, status: Int, duration: Duration) {
        let key = RequestKey(endpoint: endpoint, method: method, status: status)
        let metrics =
            requestMetrics.withLock { $0[key] }
            ?? {
                let made = RequestMetrics(
                    count: CoreMetrics.Counter(
                        label: "tally_http_requests_total",
                        dimensions: [("endpoint", endpoint), ("method", method), ("status", String(status))],
                        factory: factory),
                    duration: CoreMetrics.Timer(
                        label: "tally_http_request_duration_seconds",
                        dimensions: [("endpoint", endpoint), ("method", method)], factory: factory))
                requestMetrics.withLock { cache in
                    if cache.count < Self.maxCachedRequestKeys { cache[key] = made }
                }
                return made
            }()
        metrics.count.increment()
        metrics.duration.recordNanoseconds(Self.nanoseconds(duration))
    }

    /// The labels of one request's metrics.
    private struct RequestKey: Hashable {
        let endpoint: String
        let method: String
        let status: Int
    }

    /// A request's counter and timer, made once per label set: making them through the factory
    /// on every request cost about 2 % of a vector read's server CPU.
    private struct RequestMetrics: Sendable {
        let count: CoreMetrics.Counter
        let duration: CoreMetrics.Timer
    }

    /// Label sets kept made; past this (odd methods or statuses) metrics are made per request.
    private static let maxCachedRequestKeys = 256

    /// Counts the outcome of every event of a committed ingest request, exactly.
    func ingested(_ result: IngestResult, duration: Duration) {
        var accepted = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
        for outcome in result.outcomes {
            switch outcome {
            case .accepted: accepted += 1
            case .duplicate: duplicates += 1
            case .rejected(let rejection): rejected[rejection.code.rawValue, default: 0] += 1
            }
        }
        eventCounter(result: "accepted", code: "").increment(by: accepted)
        eventCounter(result: "duplicate", code: "").increment(by: duplicates)
        for (code, count) in rejected { eventCounter(result: "rejected", code: code).increment(by: count) }
        ingestRequest(outcome: "committed")
        CoreMetrics.Recorder(label: "tally_ingest_batch_size", factory: factory).record(result.outcomes.count)
        CoreMetrics.Timer(label: "tally_ingest_commit_seconds", factory: factory).recordNanoseconds(
            Self.nanoseconds(duration))
    }

    /// Counts the scored event of a decision that ingested one (`POST /v1/decide`, ingest
    /// `before` or `including`) with the ingested events, by its outcome.
    func scoredEvent(_ outcome: EventOutcome) {
        switch outcome {
        case .accepted: eventCounter(result: "accepted", code: "").increment()
        case .duplicate: eventCounter(result: "duplicate", code: "").increment()
        case .rejected(let rejection): eventCounter(result: "rejected", code: rejection.code.rawValue).increment()
        }
    }

    /// Records one group commit of the store's writer (``Tally/observeCommits(_:)``).
    func committed(_ report: CommitReport) {
        commitSeconds.recordNanoseconds(Self.nanoseconds(report.commit))
        applySeconds.recordNanoseconds(Self.nanoseconds(report.apply))
        commitRequests.record(report.requests)
    }

    /// Counts one recorded decision by its outcome (`allow`, or a rule's outcome: a label set per
    /// outcome the definitions declare).
    func decided(outcome: String) {
        CoreMetrics.Counter(label: "tally_decisions_total", dimensions: [("outcome", outcome)], factory: factory)
            .increment()
    }

    /// Counts an ingest request that failed whole (malformed body, limits, overload).
    func ingestFailed(code: String) { ingestRequest(outcome: code) }

    private func ingestRequest(outcome: String) {
        CoreMetrics.Counter(label: "tally_ingest_requests_total", dimensions: [("outcome", outcome)], factory: factory)
            .increment()
    }

    private func eventCounter(result: String, code: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "tally_ingest_events_total", dimensions: [("result", result), ("code", code)], factory: factory)
    }

    /// Sets the store gauges (cheap reads: the metadata and LMDB's environment info), then renders
    /// the Prometheus text.
    func render(store: Tally, now: Int64) -> [UInt8] {
        func gauge(_ name: String, _ value: Double) {
            CoreMetrics.Gauge(label: name, factory: factory).record(value)
        }
        if let statistics = try? store.statistics() {
            gauge("tally_store_lsn", Double(statistics.lsn.rawValue))
            gauge("tally_store_map_size_bytes", Double(statistics.mapSizeBytes))
            gauge("tally_store_used_bytes", Double(statistics.usedBytes))
            gauge("tally_store_readers_in_use", Double(statistics.readerSlotsInUse))
            gauge("tally_store_reader_slots", Double(statistics.readerSlots))
            gauge("tally_store_commits", Double(statistics.commits))
            gauge("tally_store_map_growths", Double(statistics.mapGrowths))
            if let shaping = statistics.pageCacheShaping { gauge("tally_store_page_cache_shaping", shaping ? 1 : 0) }
            if let watermark = statistics.watermark {
                gauge("tally_store_watermark_ms", Double(watermark))
                gauge("tally_store_freshness_seconds", Double(now - watermark) / 1000)
            }
        }
        // Per view (SPEC §4): a view fed by rare event types goes stale while the store is fresh.
        // A view removed by a definitions change stops being exported, not frozen at its last value.
        // A failed read leaves the gauges as they were, rather than dropping every view's series.
        var freshness: [(view: String, time: Int64)] = []
        var removed: Set<String> = []
        if let times = try? store.viewNewestEventTimes() {
            freshness = times
            let exported = Set(times.map { $0.view })
            removed = freshnessViews.withLock { views in
                let gone = views.subtracting(exported)
                views = exported
                return gone
            }
        }
        for view in removed {
            CoreMetrics.Gauge(label: "tally_view_freshness_seconds", dimensions: [("view", view)], factory: factory)
                .destroy()
        }
        for (view, time) in freshness {
            CoreMetrics.Gauge(label: "tally_view_freshness_seconds", dimensions: [("view", view)], factory: factory)
                .record(Double(now - time) / 1000)
        }
        gauge("tally_store_pending_writes", Double(store.pendingWrites))
        // What /readyz answers: no write refusal, no map resize, no backfill in progress.
        let ready = store.writeRefusal == nil && !store.isResizingMap && store.definitionsChangeInProgress == nil
        gauge("tally_store_ready", ready ? 1 : 0)
        gauge("tally_definitions_version", Double(store.servedDefinitionsVersion))
        return registry.emitToBuffer()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
