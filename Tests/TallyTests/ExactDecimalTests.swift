import Foundation
import Testing

@_spi(Testing) @testable import Tally

@Suite struct ExactDecimalTests {
    @Test(arguments: [
        ("0", 0, 0, "0"), ("-0", 0, 0, "0"), ("12.50", 125, 1, "12.5"), ("-0.5", -5, 1, "-0.5"),
        ("1e3", 1000, 0, "1000"),
        ("1.5E-3", 15, 4, "0.0015"), ("0.000001", 1, 6, "0.000001"),
        ("123456789012345678", 123_456_789_012_345_678, 0, "123456789012345678"),
        ("100", 100, 0, "100"), ("0.1000000", 1, 1, "0.1"), ("250e-2", 25, 1, "2.5"),
        ("-1234.567891", -1_234_567_891, 6, "-1234.567891"), ("-0.000007", -7, 6, "-0.000007"),
        ("-999999999999999999", -999_999_999_999_999_999, 0, "-999999999999999999"),
    ])
    func parsesExactlyAndWritesBackItsDigits(_ text: String, _ mantissa: Int64, _ scale: Int, _ written: String) throws
    {
        let value = try ExactDecimal(parsing: text)
        #expect(value.mantissa == Int128(mantissa) && Int(value.scale) == scale)
        #expect(value.description == written)
        #expect(try ExactDecimal(parsing: value.description) == value, "round trip")
    }

    @Test(arguments: ["1e400", "0.0000001", "1234567890123456789", "1e19", "-99999999999999999999"])
    func outOfRangeIsRefused(_ text: String) {
        #expect {
            try ExactDecimal(parsing: text)
        } throws: { error in
            if case .outOfRange = error as? ExactDecimal.ParseError { return true }
            return false
        }
    }

    @Test(arguments: ["NaN", "Infinity", "", "-", "1.", ".5", "01", "1e", "+1", " 1", "0x10", "1,5"])
    func nonNumbersAreRefused(_ text: String) {
        #expect(throws: ExactDecimal.ParseError.notANumber) { try ExactDecimal(parsing: text) }
    }

    @Test func pointOneAndPointTwoSummedAMillionTimesIsExact() throws {
        // Binary floating point gets this wrong: 0.1 + 0.2 != 0.3.
        let a = try ExactDecimal(parsing: "0.1")
        let b = try ExactDecimal(parsing: "0.2")
        var sum: Int128 = 0
        var double = 0.0
        for i in 0..<1_000_000 {
            let value = i % 2 == 0 ? a : b
            sum += value.micros
            double += i % 2 == 0 ? 0.1 : 0.2
        }
        #expect(sum == 150_000 * 1_000_000)
        #expect(double != 150_000, "the float sum drifts, which is why decimals are exact")
    }

    @Test func amountsStoredInTheLogSumExactly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let clock = IngestFixture.Clock()
        let store = try IngestFixture.open(directory, clock: clock)
        defer { store.close() }
        let now: Int64 = 1_700_000_000_000
        for chunk in 0..<20 {
            let events = (0..<1_000).map { i in
                IngestFixture.payment("e\(chunk)-\(i)", ts: now, amount: i % 2 == 0 ? "0.1" : "0.2")
            }
            _ = try await store.ingest(ndjson: Array(events.joined(separator: "\n").utf8))
        }
        var sum: Int128 = 0
        try store.read { snapshot in
            try snapshot.forEachEvent { event in
                if case .decimal(let amount)? = event.fields["amount"] { sum += amount.micros }
                return true
            }
        }
        #expect(sum == 3_000 * 1_000_000, "20,000 × (0.1 | 0.2) = 3000 exactly")
    }
}
