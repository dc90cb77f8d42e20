/// An exact decimal: `mantissa × 10^-scale` with scale ≤ 6 (SPEC §1). An event's decimal has at
/// most 18 significant digits, parsed from JSON text, never through binary floating point; an
/// aggregate's (a sum, an average) may have more: any 128-bit count of millionths, written back
/// with all its digits. Kept normalised (no trailing fractional zeros), so equal values have one
/// representation.
///
/// ```swift
/// let amount = try ExactDecimal(parsing: "12.50")   // mantissa 125, scale 1
/// amount.description                                 // "12.5"
/// ```
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public static let maxSignificantDigits = 18
    public static let maxScale: UInt8 = 6

    public let mantissa: Int128
    public let scale: UInt8

    /// Why a text is not an acceptable decimal.
    public enum ParseError: Error, Equatable, Sendable {
        /// Not the JSON number grammar.
        case notANumber
        /// More than 18 significant digits, or more than 6 digits after the point.
        case outOfRange(String)
    }

    /// Creates `mantissa × 10^-scale` (normalised). `scale` is at most 6, and the value in
    /// millionths (``micros``) must fit in 128 bits.
    public init(mantissa: Int128, scale: UInt8) {
        precondition(scale <= Self.maxScale, "a decimal's scale is at most 6")
        var m = mantissa
        var s = scale
        while s > 0 && m % 10 == 0 {
            m /= 10
            s -= 1
        }
        self.mantissa = m
        self.scale = s
    }

    /// Parses JSON number text (`-12.50`, `1e3`, `0.000001`).
    public init(parsing text: String) throws(ParseError) {
        var digits: [UInt8] = []  // all digits of integer and fraction parts
        var fractionDigits = 0
        var exponent = 0
        var negative = false
        let bytes = Array(text.utf8)
        var i = 0
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let intStart = i
        while i < bytes.count, Self.isDigit(bytes[i]) {
            digits.append(bytes[i] - 48)
            i += 1
        }
        let intCount = i - intStart
        guard intCount > 0, !(intCount > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw .notANumber }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < bytes.count, Self.isDigit(bytes[i]) {
                digits.append(bytes[i] - 48)
                i += 1
            }
            fractionDigits = i - start
            guard fractionDigits > 0 else { throw .notANumber }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            var exponentNegative = false
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) {
                exponentNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            let start = i
            while i < bytes.count, Self.isDigit(bytes[i]) {
                // Saturate: anything past 10^6 is out of range anyway.
                exponent = min(exponent * 10 + Int(bytes[i] - 48), 1_000_000)
                i += 1
            }
            guard i > start else { throw .notANumber }
            if exponentNegative { exponent = -exponent }
        }
        guard i == bytes.count else { throw .notANumber }

        // value = digits × 10^(exponent − fractionDigits)
        var power = exponent - fractionDigits
        // Drop leading zeros, then trailing zeros (moving them into the power).
        var first = 0
        while first < digits.count - 1 && digits[first] == 0 { first += 1 }
        var last = digits.count
        while last > first + 1 && digits[last - 1] == 0 {
            last -= 1
            power += 1
        }
        let significant = digits[first..<last]
        if significant.count == 1 && significant.first == 0 {
            self.init(mantissa: 0, scale: 0)
            return
        }
        let scale = max(0, -power)
        let zerosToAppend = max(0, power)
        guard scale <= Int(Self.maxScale) else {
            throw .outOfRange("\(text) has more than \(Self.maxScale) digits after the decimal point")
        }
        guard significant.count + zerosToAppend <= Self.maxSignificantDigits else {
            throw .outOfRange(
                "\(text) needs more than \(Self.maxSignificantDigits) digits from its first non-zero digit to its last "
                    + "(an exponent's zeros count)")
        }
        var mantissa: Int64 = 0
        for digit in significant { mantissa = mantissa * 10 + Int64(digit) }
        for _ in 0..<zerosToAppend { mantissa *= 10 }
        self.init(mantissa: Int128(negative ? -mantissa : mantissa), scale: UInt8(scale))
    }

    /// The decimal worth exactly `micros` millionths (an aggregate's value).
    public init(micros: Int128) { self.init(mantissa: micros, scale: Self.maxScale) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    /// The value scaled to 10^-6 as a 128-bit integer, for exact arithmetic.
    public var micros: Int128 {
        var value = mantissa
        for _ in Int(scale)..<Int(Self.maxScale) { value *= 10 }
        return value
    }

    public static func < (a: ExactDecimal, b: ExactDecimal) -> Bool { a.micros < b.micros }

    /// Exact text: `-0.5`, `12.5`, `100`.
    public var description: String {
        var text: [UInt8] = []
        appendText(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends ``description``'s UTF-8 to `bytes` without building a string (JSON answers).
    public func appendText(to bytes: inout [UInt8]) {
        if mantissa < 0 { bytes.append(UInt8(ascii: "-")) }
        let point = Int(scale)
        // An Int128 has at most 39 digits; scale ≤ 6 pads at most to 7.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var magnitude = mantissa.magnitude
            var count = 0
            repeat {
                digits[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            while count < point + 1 {
                digits[count] = UInt8(ascii: "0")
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) {
                if index == point - 1 { bytes.append(UInt8(ascii: ".")) }
                bytes.append(digits[index])
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a decimal: \(text)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
