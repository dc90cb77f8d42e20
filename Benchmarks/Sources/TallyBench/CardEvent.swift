import Foundation

/// One event of the generated stream (`tally generate`), parsed from its NDJSON line. The raw
/// line is kept so Tally receives exactly the bytes the generator wrote.
struct CardEvent: Sendable {
    enum Kind: String, Sendable { case authorization, settlement, reversal, decline }

    let kind: Kind
    let txnID: String
    let ts: Int64
    let card: String
    /// Amount in cents (the generator writes two decimals).
    let cents: Int64
    let line: [UInt8]

    /// Signed contribution to `card_exposure`: +authorized, −settled, −reversed.
    var exposureDelta: Int64 {
        switch kind {
        case .authorization: cents
        case .settlement, .reversal: -cents
        case .decline: 0
        }
    }
}

/// A batch of events: what one request / one transaction carries in every system.
struct EventBatch: Sendable {
    let events: [CardEvent]
    /// The events as an NDJSON body (newline-terminated lines).
    let ndjson: [UInt8]

    init(_ events: ArraySlice<CardEvent>) {
        self.events = Array(events)
        var body: [UInt8] = []
        body.reserveCapacity(events.count * 190)
        for event in events {
            body.append(contentsOf: event.line)
            body.append(UInt8(ascii: "\n"))
        }
        ndjson = body
    }
}

enum StreamError: Error, CustomStringConvertible {
    case unreadable(String)
    case badLine(Int, String)

    var description: String {
        switch self {
        case .unreadable(let path): "cannot read the stream file \(path)"
        case .badLine(let line, let why): "stream line \(line): \(why)"
        }
    }
}

/// Reads the NDJSON file written by `tally generate`. The generator writes flat objects with
/// string, number and null values and no escapes, so a small scanner is enough (and exact: the
/// amount is read from its digits, never through a binary float).
enum StreamFile {
    static func load(path: String) throws -> [CardEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { throw StreamError.unreadable(path) }
        let bytes = [UInt8](data)
        var events: [CardEvent] = []
        events.reserveCapacity(bytes.count / 170)
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            lineNumber += 1
            events.append(try parse(Array(line), lineNumber: lineNumber))
        }
        return events
    }

    static func parse(_ line: [UInt8], lineNumber: Int) throws -> CardEvent {
        let fields = try flatObject(line, lineNumber: lineNumber)
        func text(_ key: String) throws -> String {
            guard let value = fields[key] else { throw StreamError.badLine(lineNumber, "no \(key)") }
            return value
        }
        guard let kind = CardEvent.Kind(rawValue: try text("type")) else {
            throw StreamError.badLine(lineNumber, "unknown type")
        }
        guard let ts = Int64(try text("ts")) else { throw StreamError.badLine(lineNumber, "bad ts") }
        guard let cents = Cents.parse(try text("amount")) else {
            throw StreamError.badLine(lineNumber, "amount is not a decimal with at most 2 places")
        }
        return CardEvent(
            kind: kind, txnID: try text("txn_id"), ts: ts, card: try text("card"), cents: cents, line: line)
    }

    /// `{"k":"v","n":12.5,"z":null}` → ["k": "v", "n": "12.5", "z": "null"].
    private static func flatObject(_ line: [UInt8], lineNumber: Int) throws -> [String: String] {
        var result: [String: String] = [:]
        var i = 0
        let quote = UInt8(ascii: "\"")
        func readString() throws -> String {
            guard i < line.count, line[i] == quote else { throw StreamError.badLine(lineNumber, "expected a string") }
            let start = i + 1
            var end = start
            while end < line.count, line[end] != quote {
                if line[end] == UInt8(ascii: "\\") { throw StreamError.badLine(lineNumber, "escapes not expected") }
                end += 1
            }
            i = end + 1
            return String(decoding: line[start..<end], as: UTF8.self)
        }
        guard line.first == UInt8(ascii: "{") else { throw StreamError.badLine(lineNumber, "not an object") }
        i = 1
        while i < line.count, line[i] != UInt8(ascii: "}") {
            let key = try readString()
            guard i < line.count, line[i] == UInt8(ascii: ":") else {
                throw StreamError.badLine(lineNumber, "no colon")
            }
            i += 1
            let value: String
            if i < line.count, line[i] == quote {
                value = try readString()
            } else {
                let start = i
                while i < line.count, line[i] != UInt8(ascii: ","), line[i] != UInt8(ascii: "}") { i += 1 }
                value = String(decoding: line[start..<i], as: UTF8.self)
            }
            result[key] = value
            if i < line.count, line[i] == UInt8(ascii: ",") { i += 1 }
        }
        return result
    }
}

/// Exact decimal text ↔ integer cents.
enum Cents {
    /// "12.5" → 1250, "-3.07" → -307, "7" → 700; nil for more than two places or junk.
    static func parse<S: StringProtocol>(_ text: S) -> Int64? {
        var digits = Substring(text)
        var negative = false
        if digits.first == "-" {
            negative = true
            digits = digits.dropFirst()
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]) else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            var places = parts[1]
            while places.count > 2, places.last == "0" { places = places.dropLast() }
            guard places.count <= 2, !places.isEmpty, let value = Int64(places) else { return nil }
            fraction = places.count == 1 ? value * 10 : value
        }
        let cents = whole * 100 + fraction
        return negative ? -cents : cents
    }

    static func text(_ cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
