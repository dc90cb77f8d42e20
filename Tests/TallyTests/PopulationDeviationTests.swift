import Testing

@testable import Tally

/// The standard deviation's two integer paths (128-bit, and 256-bit where 128 bits overflow) give
/// the same exactly rounded digits.
@Suite struct PopulationDeviationTests {
    @Test func theWidePathAgreesWithTheNarrowOneWhereBothFit() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var totals = RunningTotals()
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                // Values in millionths, up to ±10^12 (squares well inside 128 bits).
                let micros = Int128(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &random))
                totals = totals.adding(RunningTotals(count: 1, sum: micros, squares: micros * micros))!
            }
            #expect(PopulationDeviation.wide(totals) == PopulationDeviation.micros(totals), "\(totals)")
        }
    }

    @Test func theWidePathRoundsHalfEven() {
        // {0, 1, 1, 0} millionths: σ = 0.5 millionths, a tie that rounds to the even 0.
        let tie = RunningTotals(count: 4, sum: 2, squares: 2)
        #expect(PopulationDeviation.wide(tie) == 0)
        // {0, 3}: σ = 1.5, rounds to 2; {0, 5}: σ = 2.5, rounds to 2.
        #expect(PopulationDeviation.wide(RunningTotals(count: 2, sum: 3, squares: 9)) == 2)
        #expect(PopulationDeviation.wide(RunningTotals(count: 2, sum: 5, squares: 25)) == 2)
        // 10^13 and 1 (in units, so ×10^6): σ = 4,999,999,999,999.5 exactly; n·Σv² needs 129 bits.
        let big = Int128(10_000_000_000_000) * 1_000_000
        let totals = RunningTotals(count: 2, sum: big + 1_000_000, squares: big * big + 1_000_000_000_000)
        #expect(PopulationDeviation.wide(totals) == 4_999_999_999_999_500_000)
        #expect(PopulationDeviation.micros(totals) == 4_999_999_999_999_500_000)
    }
}
