import Foundation

struct SystemReport: Codable, Sendable {
    var label: String
    var durability: String
    var networked: Bool
    var ingest: IngestFigures
    var correctness: [CorrectnessFigures] = []
    var reads: [ReadFigures] = []
    var freshness: FreshnessFigures?

    func read(_ mode: ReadMode, clients: Int) -> ReadFigures? {
        reads.first { $0.mode == mode && $0.clients == clients }
    }
}

/// A ratio the issue asks for, with its target when it has one.
struct Ratio: Codable, Sendable {
    var name: String
    var value: Double
    /// The value must be at least this (nil: reported, no target).
    var target: Double?
    var met: Bool?
    var detail: String
}

struct Report: Codable, Sendable {
    var streamEvents: Int
    var distinctEvents: Int
    var cards: Int
    var batch: Int
    var readSeconds: Double
    var skewEvents: Int
    var skewReaders: Int
    var hotCards: [String]
    var systems: [SystemReport] = []
    var skew: [SkewFigures] = []
    var ratios: [Ratio] = []
    var gateFailures: [String] = []

    func system(_ label: String) -> SystemReport? { systems.first { $0.label == label } }

    /// Hard gates (Tally: 0 wrong, 0 torn, every mode valid, every event accepted) and ratios.
    mutating func evaluate() {
        for system in systems where system.label.hasPrefix("tally") {
            if system.ingest.accepted != distinctEvents {
                gateFailures.append(
                    "\(system.label) accepted \(system.ingest.accepted) of \(distinctEvents) distinct events")
            }
            for check in system.correctness where check.wrong > 0 {
                gateFailures.append(
                    "\(system.label) \(check.mode.rawValue): \(check.wrong) wrong values of \(check.points)")
            }
        }
        for run in skew where run.label.hasPrefix("tally") {
            if run.torn > 0 { gateFailures.append("\(run.label): \(run.torn) torn vectors of \(run.reads)") }
            if !run.valid {
                gateFailures.append("\(run.label): skew run invalid (only \(run.changesSeen) changes seen)")
            }
        }
        let redis = system("redis none")
        let http = system("tally-http durable")
        let embedded = system("tally-embedded durable")
        let relaxed = system("tally-embedded relaxed")
        let sqliteNormal = system("sqlite wal synchronous=NORMAL")
        let sqliteFull = system("sqlite wal synchronous=FULL")
        let redisAOF = system("redis aof-everysec")
        for clients in [1, 4] {
            if let r = redis?.read(.pipelined, clients: clients), let h = http?.read(.snapshot, clients: clients) {
                ratios.append(
                    Ratio(
                        name: "Redis pipelined p99 / Tally HTTP p99, \(clients) client\(clients == 1 ? "" : "s")",
                        value: r.latency.p99 / h.latency.p99, target: 5, met: nil,
                        detail: "\(h.latency.p99) µs vs \(r.latency.p99) µs"))
            }
            if let t = embedded?.read(.snapshot, clients: clients),
                let s = sqliteNormal?.read(.oneTransaction, clients: clients)
            {
                ratios.append(
                    Ratio(
                        name:
                            "Tally embedded reads/s / SQLite one-transaction reads/s, \(clients) client\(clients == 1 ? "" : "s")",
                        value: t.readsPerSecond / s.readsPerSecond, target: 10, met: nil,
                        detail: "\(Int(t.readsPerSecond)) vs \(Int(s.readsPerSecond)) reads/s"))
            }
        }
        func ingestRatio(_ name: String, _ a: SystemReport?, _ b: SystemReport?, target: Double?) {
            guard let a, let b else { return }
            ratios.append(
                Ratio(
                    name: name, value: a.ingest.eventsPerSecond / b.ingest.eventsPerSecond, target: target, met: nil,
                    detail: "\(Int(a.ingest.eventsPerSecond)) vs \(Int(b.ingest.eventsPerSecond)) events/s"))
        }
        ingestRatio("Tally embedded durable ingest / Redis (no persistence) ingest", embedded, redis, target: 3)
        ingestRatio("Tally HTTP durable ingest / Redis (no persistence) ingest", http, redis, target: 3)
        ingestRatio(
            "Tally embedded durable ingest / SQLite FULL ingest (both fsync per commit)", embedded, sqliteFull,
            target: nil)
        ingestRatio("Tally HTTP durable ingest / Redis AOF everysec ingest", http, redisAOF, target: nil)
        ingestRatio(
            "Tally embedded relaxed ingest / SQLite NORMAL ingest (neither fsyncs each commit)", relaxed, sqliteNormal,
            target: nil)
        ingestRatio("Tally embedded relaxed ingest / Redis AOF everysec ingest", relaxed, redisAOF, target: nil)
        for i in ratios.indices { if let target = ratios[i].target { ratios[i].met = ratios[i].value >= target } }
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let count = text.count
        if count >= width { return text }
        let padding = String(repeating: " ", count: width - count)
        return right ? padding + text : text + padding
    }

    private static func ms(_ micros: Double) -> String {
        micros >= 1000 ? String(format: "%.2f ms", micros / 1000) : String(format: "%.0f µs", micros)
    }

    func table() -> String {
        var lines: [String] = []
        lines.append(
            "stream: \(streamEvents) events (\(distinctEvents) distinct), \(cards) cards, batches of \(batch); "
                + "reads \(readSeconds) s per cell; skew: \(skewEvents) events, \(skewReaders) readers on \(hotCards.count) hot cards"
        )
        lines.append("")
        let header = [("system", 32), ("durability", 40), ("ingest ev/s", 12), ("wrong", 10), ("fresh p50/p99", 20)]
        lines.append(header.map { Self.pad($0.0, $0.1) }.joined(separator: " "))
        for system in systems {
            let wrong = system.correctness.map { "\($0.wrong)/\($0.points)" }.joined(separator: ",")
            let fresh =
                system.freshness.map { "\(Self.ms($0.ackToVisible.p50))/\(Self.ms($0.ackToVisible.p99))" } ?? "-"
            lines.append(
                [
                    Self.pad(system.label, 32), Self.pad(system.durability, 40),
                    Self.pad(String(Int(system.ingest.eventsPerSecond)), 12, right: true), Self.pad(wrong, 10),
                    Self.pad(fresh, 20),
                ].joined(separator: " "))
        }
        lines.append("")
        lines.append(
            [
                ("system", 32), ("read mode", 20), ("clients", 8), ("reads/s", 10), ("p50", 10), ("p99", 10),
                ("p999", 10),
            ]
            .map { Self.pad($0.0, $0.1) }.joined(separator: " "))
        for system in systems {
            for read in system.reads {
                lines.append(
                    [
                        Self.pad(system.label, 32), Self.pad(read.mode.rawValue, 20), Self.pad(String(read.clients), 8),
                        Self.pad(String(Int(read.readsPerSecond)), 10, right: true),
                        Self.pad(Self.ms(read.latency.p50), 10, right: true),
                        Self.pad(Self.ms(read.latency.p99), 10, right: true),
                        Self.pad(Self.ms(read.latency.p999), 10, right: true),
                    ].joined(separator: " "))
            }
        }
        lines.append("")
        lines.append(
            [
                ("skew: system", 32), ("writer / reader", 44), ("reads", 9), ("torn", 7), ("torn %", 8), ("changes", 8),
                ("valid", 6),
            ]
            .map { Self.pad($0.0, $0.1) }.joined(separator: " "))
        for run in skew {
            lines.append(
                [
                    Self.pad(run.label, 32), Self.pad("\(run.writer) / \(run.mode.rawValue)", 44),
                    Self.pad(String(run.reads), 9, right: true), Self.pad(String(run.torn), 7, right: true),
                    Self.pad(String(format: "%.3f", run.tornPercent), 8, right: true),
                    Self.pad(String(run.changesSeen), 8, right: true), Self.pad(run.valid ? "yes" : "NO", 6),
                ].joined(separator: " "))
        }
        lines.append("")
        lines.append("ratios:")
        for ratio in ratios {
            let verdict =
                ratio.met.map { $0 ? "met (target ≥ \(ratio.target!))" : "MISSED (target ≥ \(ratio.target!))" } ?? ""
            lines.append("  \(ratio.name): \(String(format: "%.2f", ratio.value))× — \(ratio.detail) \(verdict)")
        }
        lines.append("")
        lines.append(
            gateFailures.isEmpty
                ? "hard gates: passed" : "hard gates: FAILED\n  " + gateFailures.joined(separator: "\n  "))
        return lines.joined(separator: "\n")
    }

    func markdown() -> String {
        var out =
            "| system | durability | ingest events/s | wrong values | freshness p50 / p99 |\n|---|---|---:|---|---|\n"
        for system in systems {
            let wrong = system.correctness.map { "\($0.wrong) / \($0.points) (\($0.mode.rawValue))" }.joined(
                separator: ", ")
            let fresh =
                system.freshness.map { "\(Self.ms($0.ackToVisible.p50)) / \(Self.ms($0.ackToVisible.p99))" } ?? "–"
            out +=
                "| \(system.label) | \(system.durability) | \(Int(system.ingest.eventsPerSecond)) | \(wrong) | \(fresh) |\n"
        }
        out += "\n| system | read mode | clients | reads/s | p50 | p99 | p99.9 |\n|---|---|---:|---:|---:|---:|---:|\n"
        for system in systems {
            for read in system.reads {
                out +=
                    "| \(system.label) | \(read.mode.rawValue) | \(read.clients) | \(Int(read.readsPerSecond)) | \(Self.ms(read.latency.p50)) | \(Self.ms(read.latency.p99)) | \(Self.ms(read.latency.p999)) |\n"
            }
        }
        out +=
            "\n| skew run (fresh store) | writer / reader | reads | torn | torn % | changes seen | valid |\n|---|---|---:|---:|---:|---:|---|\n"
        for run in skew {
            out +=
                "| \(run.label) | \(run.writer) / \(run.mode.rawValue) | \(run.reads) | \(run.torn) | \(String(format: "%.3f", run.tornPercent)) | \(run.changesSeen) | \(run.valid ? "yes" : "**no**") |\n"
        }
        out += "\n| ratio | value | target | |\n|---|---:|---|---|\n"
        for ratio in ratios {
            let target = ratio.target.map { "≥ \(String(format: "%g", $0))" } ?? "–"
            let verdict = ratio.met.map { $0 ? "met" : "**missed**" } ?? ""
            out +=
                "| \(ratio.name) (\(ratio.detail)) | \(String(format: "%.2f", ratio.value))× | \(target) | \(verdict) |\n"
        }
        return out
    }
}
