import Foundation
import Testing

/// `tally export LABELS.csv`: each label row's features as of its own time, at one LSN, equal to
/// what `tally get` serves at that point.
@Suite struct ExportCommandTests {
    static let definitions = """
        entities: { card: { key: string } }
        events:
          auth: { id: id, time: ts, fields: { id: string, card: string, amount: decimal, note: "string?" } }
        views:
          n: { entity: card, from: auth, aggregate: count, window: 1h }
          total: { entity: card, from: auth, aggregate: sum(amount), window: lifetime }
          last_note: { entity: card, from: auth, aggregate: last(note), window: lifetime }
        lists: { blocked: { of: card } }
        """

    @Test func rowsAreReadAtTheirOwnTimeAtOneLSN() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let defs = directory.path + "/defs.yaml"
        let events = directory.path + "/events.ndjson"
        let labels = directory.path + "/labels.csv"
        try Self.definitions.write(toFile: defs, atomically: true, encoding: .utf8)
        let t0: Int64 = 1_780_000_000_000
        try [
            #"{"type":"auth","id":"a","ts":\#(t0),"card":"c1","amount":"1.5","note":"x, \"y\""}"#,
            #"{"type":"auth","id":"b","ts":\#(t0 + 1000),"card":"c1","amount":"2"}"#,
            #"{"type":"auth","id":"c","ts":\#(t0 + 2000),"card":"c2","amount":"7"}"#,
        ].joined(separator: "\n").write(toFile: events, atomically: true, encoding: .utf8)
        let ingest = try await CommandLineTests.tally(["ingest", defs, events, "--data-dir", directory.path])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        try """
        label,card,ts
        0,c1,\(t0)
        1,c1,\(t0 + 1000)
        "a ""quoted"", label",c2,1970-01-01T00:00:00Z
        2,,\(t0)

        """.write(toFile: labels, atomically: true, encoding: .utf8)

        let run = try await CommandLineTests.tally(["export", labels, "--data-dir", directory.path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stdout == #"""
                label,card,ts,card.n,card.total,card.last_note,card.list.blocked
                0,c1,\#(t0),1,1.5,"x, ""y""",false
                1,c1,\#(t0 + 1000),2,3.5,"x, ""y""",false
                "a ""quoted"", label",c2,1970-01-01T00:00:00Z,0,0,,false
                2,,\#(t0),,,,

                """#)
        #expect(run.stderr.contains("4 rows at lsn 3"))

        // At an older LSN the later events are not counted.
        let old = try await CommandLineTests.tally(["export", labels, "--lsn", "1", "--data-dir", directory.path])
        #expect(old.stdout.split(separator: "\n")[2] == "1,c1,\(t0 + 1000),1,1.5,\"x, \"\"y\"\"\",false")
        // A bad time names its row; a missing column is refused.
        try "card,ts\nc1,yesterday\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let bad = try await CommandLineTests.tally(["export", labels, "--data-dir", directory.path])
        #expect(bad.status != 0 && bad.stderr.contains("row 2"), "\(bad.stderr)")
        let missing = try await CommandLineTests.tally([
            "export", labels, "--entity", "merchant", "--data-dir", directory.path,
        ])
        #expect(missing.status == 1 && missing.stderr.contains("merchant"), "\(missing.stderr)")
        #expect(!bad.stderr.contains("Usage"), "a bad row is not a usage error")
        // A byte order mark, and a column read as an entity's keys under its own name.
        try "\u{FEFF}payer,ts\nc1,\(t0)\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let mapped = try await CommandLineTests.tally([
            "export", labels, "--entity", "payer=card", "--data-dir", directory.path,
        ])
        #expect(mapped.stdout.hasPrefix("payer,ts,payer.n,"), "\(mapped.stdout)\(mapped.stderr)")
        #expect(mapped.stdout.contains("c1,\(t0),1,1.5,"), "\(mapped.stdout)")
        // Two columns of one name are refused, not read twice with one key.
        try "card,ts,card\nc1,\(t0),c2\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let twice = try await CommandLineTests.tally(["export", labels, "--data-dir", directory.path])
        #expect(twice.status == 1 && twice.stderr.contains("exactly one column"), "\(twice.stderr)")
    }
}
