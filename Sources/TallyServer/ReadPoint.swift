import HTTPTypes
import Tally

/// The `(lsn, at)` a read asks for, both optional: from the query (`?lsn=12&at=…`) or a JSON body.
/// `at` is epoch milliseconds or RFC 3339 text (in a query, write `+` as `%2B`).
struct ReadPoint: Sendable, Equatable {
    var lsn: LSN?
    var at: Int64?

    /// The latest time an `at` may name: 9999-12-31T23:59:59.999Z.
    static let latest: Int64 = 253_402_300_799_999

    /// From query parameters already checked against what the route takes
    /// (``TallyServer/query(_:allowed:hint:)``: an unknown or repeated one is 400 there).
    static func query(_ values: [String: String]) throws(APIError) -> ReadPoint {
        var point = ReadPoint()
        if let text = values["lsn"] { point.lsn = try lsn(text: text) }
        if let text = values["at"] { point.at = try at(text: text) }
        return point
    }

    static func lsn(text: String) throws(APIError) -> LSN {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(text) else {
            throw invalid("lsn must be a non-negative integer, not '\(text.prefix(64))'")
        }
        return LSN(value)
    }

    static func at(text: String) throws(APIError) -> Int64 { try time(text: text, name: "at") }

    /// A time named `name` (in messages): epoch milliseconds or RFC 3339 text, 1970 to 9999.
    static func time(text: String, name: String) throws(APIError) -> Int64 {
        let value: Int64
        do {
            value = try SnapshotToken.parseTime(text)
        } catch {
            throw invalid(
                "\(name) must be epoch milliseconds (≥ 0) or RFC 3339 like 2024-11-23T14:33:20.123Z, "
                    + "not '\(text.prefix(64))'")
        }
        guard value >= 0, value <= latest else {
            throw invalid("\(name) \(text.prefix(64)) is not between 1970 and 9999")
        }
        return value
    }

    /// From the `lsn` and `at` members of a JSON body (`lsn` an integer; `at` an integer or text).
    mutating func set(member key: String, _ value: StrictJSON.Value) throws(APIError) {
        switch (key, value) {
        case ("lsn", .null), ("at", .null): return
        case ("lsn", .number(let text)): lsn = try Self.lsn(text: text)
        case ("at", .number(let text)): at = try Self.at(text: text)
        case ("at", .string(let text)): at = try Self.at(text: text)
        case ("lsn", _): throw Self.invalid("lsn must be a non-negative integer")
        default: throw Self.invalid("at must be epoch milliseconds or RFC 3339 text")
        }
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_argument", message) }
}
