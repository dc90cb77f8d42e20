import Foundation

/// Ranks 0..<n drawn with probability ∝ 1 / (rank + 1)^s: a few hot cards, a long tail.
/// Sampling is a binary search in the cumulative table (n doubles).
public struct ZipfDistribution: Sendable {
    private let cumulative: [Double]

    public init(count: Int, exponent: Double) {
        precondition(count > 0)
        var running = 0.0
        var table = [Double](repeating: 0, count: count)
        for rank in 0..<count {
            running += 1 / pow(Double(rank + 1), exponent)
            table[rank] = running
        }
        cumulative = table.map { $0 / running }
    }

    public func sample(_ generator: inout some RandomNumberGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &generator)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] < u { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
