import Foundation
import TallyLMDB

/// How an acknowledged write survives failures.
public enum Durability: Sendable, Equatable {
    /// The default: each commit is fsync'd before any caller in it is acknowledged. Survives
    /// `kill -9`, kernel crashes and power loss. Group commit keeps throughput up.
    case durable
    /// Faster: commits are not fsync'd; the writer flushes every `flushInterval`. Survives
    /// `kill -9` (the data is in the OS page cache) but may lose up to the last interval of
    /// acknowledged writes on power loss or a kernel crash.
    case relaxed(flushInterval: Duration = .milliseconds(100))
    /// As durable as ``durable`` (power loss included), faster for small concurrent writes: each
    /// group commit is flushed to a sequential journal (one short `fdatasync`) before it is
    /// acknowledged, and the store's pages are flushed by a background checkpoint every
    /// `checkpointInterval`. Opening a store that was not closed cleanly returns it to its last
    /// checkpoint and replays the journal. See docs/STORAGE.md, "The journaled mode".
    case journaled(checkpointInterval: Duration = .seconds(1))
}

extension Tally {
    /// Whether this handle writes or only reads.
    public enum Access: Sendable, Equatable {
        /// The one writing process of a store.
        case readWrite
        /// A reader beside a running writer (e.g. `tally stats` next to `tally serve`).
        case readOnly
    }

    /// Options of ``Tally/open(directory:options:)``.
    public struct Options: Sendable {
        /// Whether the store is written in the journaled mode (ingest then records its requests).
        var isJournaled: Bool {
            if case .journaled = durability { return true }
            return false
        }

        public var durability: Durability = .durable
        public var access: Access = .readWrite
        /// Initial LMDB map size in bytes. The data file grows only as pages are used, and the map
        /// grows by itself when full, so this is a starting reservation, not a limit.
        public var initialMapSize: Int = 64 << 30
        /// Concurrent read transactions this process may hold; reads past it wait.
        public var maxConcurrentReaders: Int = 126
        /// Writes that may wait for the writer before new ones fail with `overloaded`.
        public var maxPendingWrites: Int = 65_536
        /// Events that may wait for the writer, summed over the waiting requests, before a new
        /// request fails with `overloaded` (HTTP 503 with `Retry-After`): about 10 s of ingest at
        /// 13,000 events/s. A request alone in the queue is taken whatever its size.
        public var maxQueuedEvents: Int = 131_072
        /// Events one ingest request may carry.
        public var maxEventsPerRequest: Int = 100_000
        /// How long background retention waits after a step that found nothing to drop (see
        /// docs/RETENTION.md); nil turns it off (``Tally/reclaimRetained(limit:)`` drives it by hand).
        public var retentionInterval: Duration? = .seconds(1)
        /// How far (ms of event time) the retention floor moves before another view-state sweep.
        @_spi(Testing) public var sweepEvery: Int64 = 3_600_000
        /// The wall clock (epoch ms) for `max_future` and ingest times; tests pin it.
        @_spi(Testing) public var wallClock: @Sendable () -> Int64 = {
            Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        }

        /// The id-index hash; tests force collisions with a constant one.
        @_spi(Testing) public var idHash: @Sendable ([UInt8]) -> UInt64 = IdIndexKey.hash
        /// Entries the id index's level 0 holds before its excess moves on (``IdIndex``); tests
        /// make it tiny so every level is used.
        @_spi(Testing) public var idIndexLevelBase: Int = 4_096
        /// The least excess one id-index level moves at once.
        @_spi(Testing) public var idIndexMoveChunk: Int = IdIndexShape().chunk
        /// Entries the view stage keeps before a commit moves its excess into the view state
        /// (docs/VIEWS.md, "The view stage"); tests make it tiny so moves interleave with
        /// everything. 0 moves everything at every commit. Nil (the default): no stage, view
        /// state is written in place. Either way a writable open empties a stage an earlier run
        /// left.
        @_spi(Testing) public var viewStageEntries: Int? = nil
        /// With the view stage on: the event of an entity in one write transaction from which
        /// its view state is written past the stage for the rest of that transaction (docs/VIEWS.md,
        /// "Busy entities bypass the stage"). Nil: never.
        @_spi(Testing) public var viewStageThroughEvents: Int? = 8
        /// Group-commit gather window (see docs/STORAGE.md); tuned by benchmarks.
        @_spi(Testing) public var gatherWindow: Duration = .microseconds(200)
        /// Logged events one backfill transaction replays (see ``Tally/apply(_:waitUntilServed:)``).
        @_spi(Testing) public var backfillChunk: Int = 2_048
        /// Logged events one backfill transaction replays during a writable open, before the
        /// writer starts: nothing interleaves then, and larger transactions copy fewer pages
        /// (docs/DEFINITIONS.md, "Changing definitions").
        @_spi(Testing) public var openBackfillChunk: Int = 32_768
        /// Called on the opening thread after each backfill transaction a writable open commits (a
        /// change a crash interrupted, views new to the definitions given to the open, states
        /// rebuilt from an older layout), with the change's progress: ``Tally/open(directory:definitions:options:)``
        /// returns only once the change is served, and `tally serve` prints this meanwhile.
        public var openBackfillProgress: (@Sendable (DefinitionsProgress) -> Void)? = nil
        /// Called after each backfill transaction an open commits, with how many it has committed;
        /// the crash tests use it to stop a child at a known point of a backfill.
        @_spi(Testing) public var backfillStepCommitted: (@Sendable (Int) -> Void)? = nil
        /// Count LMDB entries touched per database (see ``Tally/entryAccesses(in:)``).
        @_spi(Testing) public var countEntryAccesses = false
        /// Keep `data.mdb`'s page cache in single-page folios (docs/STORAGE.md, "Page-cache
        /// folios"); off only for benchmarks that compare.
        @_spi(Testing) public var shapePageCache = true
        /// In the journaled mode, flush a group's journal record while the group is applied
        /// (docs/STORAGE.md, "The journaled mode"); off only for benchmarks and tests that compare.
        @_spi(Testing) public var overlapJournalFlush = true
        /// Called on the writer thread in the middle of a map growth, while readers are held out.
        @_spi(Testing) public var mapGrowing: (@Sendable () -> Void)? = nil

        public init() {}

        var idIndexShape: IdIndexShape {
            IdIndexShape(base: max(1, idIndexLevelBase), chunk: max(1, idIndexMoveChunk))
        }

        var environmentOptions: EnvironmentOptions {
            var options = EnvironmentOptions()
            options.mapSize = initialMapSize
            options.maxConcurrentReaders = maxConcurrentReaders
            options.maxPendingWrites = maxPendingWrites
            options.maxPendingCost = maxQueuedEvents
            options.access = access == .readWrite ? .readWrite : .readOnly
            options.countEntryAccesses = countEntryAccesses
            options.gatherWindow = gatherWindow
            options.stageEntries = viewStageEntries
            options.stageThroughVisits = viewStageThroughEvents
            options.shapePageCache = shapePageCache
            options.overlapJournalFlush = overlapJournalFlush
            options.mapGrowing = mapGrowing
            switch durability {
            case .durable: options.sync = .durable
            case .relaxed(let interval): options.sync = .relaxed(flushInterval: interval)
            case .journaled(let interval): options.sync = .journaled(checkpointInterval: interval)
            }
            return options
        }
    }
}
