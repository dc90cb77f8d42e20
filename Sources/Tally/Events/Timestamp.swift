/// Event times: epoch milliseconds ≥ 0, written on the wire as an integer or as RFC 3339 text
/// (`2024-11-23T14:33:20.123Z`, `…+01:00`). Sub-millisecond digits are rejected unless they are
/// zeros (`.123000` is `.123`, `.1234` is an error).
enum Timestamp {
    /// Latest accepted time: 9999-12-31T23:59:59.999Z.
    static let maximum: Int64 = 253_402_300_799_999

    enum ParseError: Error, Equatable {
        /// Not an RFC 3339 time.
        case invalid(String)
        /// A valid time before 1970 or after 9999 (UTC).
        case outOfRange(String)
    }

    /// Parses RFC 3339 text to epoch ms.
    static func parse(rfc3339 text: String) throws(ParseError) -> Int64 {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= b.count else { return nil }
            var value = 0
            for i in at..<(at + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        func expect(_ at: Int, _ chars: String) -> Bool { at < b.count && chars.utf8.contains(b[at]) }
        guard let year = digits(0, 4), expect(4, "-"), let month = digits(5, 2), expect(7, "-"), let day = digits(8, 2),
            expect(10, "Tt "), let hour = digits(11, 2), expect(13, ":"), let minute = digits(14, 2), expect(16, ":"),
            let second = digits(17, 2)
        else { throw .invalid("'\(text)' is not an RFC 3339 time like 2024-11-23T14:33:20.123Z") }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
            second < 60
        else { throw .invalid("'\(text)' is not a valid date and time") }
        var i = 19
        var millis = 0
        if expect(i, ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48 && b[i] <= 57 { i += 1 }
            let fraction = b[start..<i]
            guard !fraction.isEmpty else { throw .invalid("'\(text)': expected digits after '.'") }
            guard fraction.dropFirst(3).allSatisfy({ $0 == 48 }) else {
                throw .invalid("'\(text)' has sub-millisecond digits; times have millisecond resolution")
            }
            for (n, byte) in fraction.prefix(3).enumerated() { millis += Int(byte - 48) * [100, 10, 1][n] }
        }
        var offsetMinutes = 0
        if expect(i, "Zz") {
            i += 1
        } else if expect(i, "+-"), let oh = digits(i + 1, 2), expect(i + 3, ":"), let om = digits(i + 4, 2), oh < 24,
            om < 60
        {
            offsetMinutes = (oh * 60 + om) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            throw .invalid("'\(text)' needs a time zone after the time: Z, or ±hh:mm with hh 00-23 and mm 00-59")
        }
        guard i == b.count else { throw .invalid("'\(text)' has extra characters") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        let ms = seconds * 1000 + Int64(millis)
        guard ms >= 0, ms <= maximum else { throw .outOfRange("'\(text)' is before 1970 or after 9999 (UTC)") }
        return ms
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-30T12:00:00.000Z`; `-∞` for `Int64.min`.
    static func format(_ ms: Int64) -> String {
        guard ms != .min else { return "-∞" }
        let inDay = Int((ms % 86_400_000 + 86_400_000) % 86_400_000)
        let days = Int((ms - Int64(inDay)) / 86_400_000)
        let (year, month, day) = civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = inDay % 1000
        let milliText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(two(month))-\(two(day))T\(two(inDay / 3_600_000)):\(two(inDay / 60_000 % 60)):"
            + "\(two(inDay / 1000 % 60)).\(milliText)Z"
    }

    /// The civil date of a day count since 1970-01-01 (the inverse of ``daysFromCivil``).
    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
