import Foundation

/// The population standard deviation of running totals, in micro-units rounded half-even
/// (SPEC §1): √(n·Σv² − (Σv)²) / n, computed in integers (128-bit, or 256-bit where those would
/// overflow), so the digits are exact and equal inputs give equal digits.
enum PopulationDeviation {
    static func micros(_ totals: RunningTotals) -> Int128 {
        let n = Int128(totals.count)
        guard n > 0 else { return 0 }
        let scaled = n.multipliedReportingOverflow(by: totals.squares)
        let square = totals.sum.multipliedReportingOverflow(by: totals.sum)
        guard !scaled.overflow, !square.overflow else { return wide(totals) }
        let radicand = scaled.partialValue - square.partialValue  // n² · variance, in micro-units²
        guard radicand > 0 else { return 0 }
        let root = squareRoot(radicand)  // ⌊√radicand⌋
        let quotient = root / n  // ⌊√radicand / n⌋
        // Round half-even: compare √radicand / n with quotient + ½, i.e. 4·radicand with (n·(2q+1))².
        let doubled = n.multipliedReportingOverflow(by: 2 * quotient + 1)
        guard !doubled.overflow else { return wide(totals) }
        let bound = doubled.partialValue.multipliedReportingOverflow(by: doubled.partialValue)
        let four = radicand.multipliedReportingOverflow(by: 4)
        guard !bound.overflow, !four.overflow else { return wide(totals) }
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

    /// The same in 256-bit intermediates, for totals whose 128-bit ones overflow: n·Σv² has at
    /// most 191 bits, so the root has at most 96 and the rounding bound at most 196.
    static func wide(_ totals: RunningTotals) -> Int128 {
        guard totals.count > 0 else { return 0 }
        let n = UInt128(totals.count)
        let radicand = Wide(n, UInt128(totals.squares)) - Wide(totals.sum.magnitude, totals.sum.magnitude)
        var root: UInt128 = 0  // ⌊√radicand⌋, one bit at a time
        for bit in stride(from: 127, through: 0, by: -1) {
            let candidate = root | (1 << UInt128(bit))
            if !(radicand < Wide(candidate, candidate)) { root = candidate }
        }
        let quotient = root / n
        let doubled = 2 * (n * quotient) + n  // n·(2q+1) ≤ 2·root + n
        let bound = Wide(doubled, doubled)
        let four = radicand.timesFour
        if bound < four || (four == bound && quotient % 2 != 0) { return Int128(quotient + 1) }
        return Int128(quotient)
    }

    /// An unsigned 256-bit integer: products of two 128-bit values, their difference, ×4, order.
    private struct Wide: Comparable {
        var high: UInt128
        var low: UInt128

        init(high: UInt128, low: UInt128) {
            self.high = high
            self.low = low
        }

        /// a × b.
        init(_ a: UInt128, _ b: UInt128) {
            let (high, low) = a.multipliedFullWidth(by: b)
            self.init(high: high, low: low)
        }

        /// a − b, for a ≥ b (0 otherwise).
        static func - (a: Wide, b: Wide) -> Wide {
            guard !(a < b) else { return Wide(high: 0, low: 0) }
            let (low, borrow) = a.low.subtractingReportingOverflow(b.low)
            return Wide(high: a.high - b.high - (borrow ? 1 : 0), low: low)
        }

        /// self × 4 (the callers' values stay under 2^254).
        var timesFour: Wide { Wide(high: high << 2 | low >> 126, low: low << 2) }

        static func < (a: Wide, b: Wide) -> Bool { (a.high, a.low) < (b.high, b.low) }
    }
}
