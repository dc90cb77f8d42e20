import Foundation

/// The population standard deviation of running totals, in micro-units rounded half-even
/// (SPEC §1): √(n·Σv² − (Σv)²) / n, computed in integers so equal inputs give equal digits.
enum PopulationDeviation {
    static func micros(_ totals: RunningTotals) -> Int128 {
        let n = Int128(totals.count)
        guard n > 0 else { return 0 }
        let scaled = n.multipliedReportingOverflow(by: totals.squares)
        let square = totals.sum.multipliedReportingOverflow(by: totals.sum)
        guard !scaled.overflow, !square.overflow else { return approximate(totals) }
        let radicand = scaled.partialValue - square.partialValue  // n² · variance, in micro-units²
        guard radicand > 0 else { return 0 }
        let root = squareRoot(radicand)  // ⌊√radicand⌋
        let quotient = root / n  // ⌊√radicand / n⌋
        // Round half-even: compare √radicand / n with quotient + ½, i.e. 4·radicand with (n·(2q+1))².
        let doubled = n.multipliedReportingOverflow(by: 2 * quotient + 1)
        guard !doubled.overflow else { return approximate(totals) }
        let bound = doubled.partialValue.multipliedReportingOverflow(by: doubled.partialValue)
        let four = radicand.multipliedReportingOverflow(by: 4)
        guard !bound.overflow, !four.overflow else { return approximate(totals) }
        if four.partialValue > bound.partialValue { return quotient + 1 }
        if four.partialValue == bound.partialValue && quotient % 2 != 0 { return quotient + 1 }
        return quotient
    }

    /// ⌊√value⌋ for value ≥ 0 (Newton's method from a floating-point estimate).
    static func squareRoot(_ value: Int128) -> Int128 {
        guard value > 1 else { return value }
        var x = Int128(Double(value).squareRoot())
        while x > 0 && x.multipliedReportingOverflow(by: x).overflow { x -= 1 }
        while x * x > value { x = (x + value / x) / 2 }
        while (x + 1).multipliedReportingOverflow(by: x + 1).overflow == false && (x + 1) * (x + 1) <= value { x += 1 }
        return x
    }

    /// Totals too large for 128-bit intermediates: a floating-point estimate (documented).
    private static func approximate(_ totals: RunningTotals) -> Int128 {
        let n = Double(totals.count)
        let mean = Double(totals.sum) / n
        let variance = Swift.max(0, Double(totals.squares) / n - mean * mean)
        return Int128(variance.squareRoot().rounded(.toNearestOrEven))
    }
}

extension ExactDecimal {
    /// The decimal for `micros` micro-units, normalised; values beyond 64-bit mantissas keep fewer
    /// fractional digits (rounded half-even) and are clamped at the extremes.
    init(roundingMicros micros: Int128) {
        var value = micros
        var scale: UInt8 = ExactDecimal.maxScale
        while scale > 0 && Int64(exactly: value) == nil {
            value = ExpressionEvaluator.roundHalfEven(value, dividedBy: 10)
            scale -= 1
        }
        let mantissa = Int64(exactly: value) ?? (value < 0 ? Int64.min : Int64.max)
        self.init(mantissa: mantissa, scale: scale)
    }
}
