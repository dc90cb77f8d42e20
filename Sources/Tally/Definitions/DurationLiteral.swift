/// Durations as written in definitions: a whole number and a unit — `1500ms`, `90s`, `5m`, `24h`,
/// `30d` — converted to milliseconds.
enum DurationLiteral {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Milliseconds of `text`, or nil if it is not a duration literal (or overflows).
    static func milliseconds(_ text: String) -> Int64? {
        // "ms" before "m"/"s": try the longest suffix first.
        for (suffix, scale) in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int64(digits)
            else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return nil
    }
}
