import Tally

/// Writes JSON straight into bytes: minimal escaping, UTF-8 as is, no whitespace. Responses on the
/// hot path (ingest answers, vectors) are built with it rather than with `JSONEncoder`.
///
/// ```swift
/// var json = JSONOutput()
/// json.object { json in
///     json.member("accepted") { $0.number(3) }
/// }
/// json.bytes   // {"accepted":3}
/// ```
struct JSONOutput {
    private(set) var bytes: [UInt8] = []
    /// Whether the next member or element is the first of its container.
    private var first = true

    init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Writes `{`, the members `body` writes, `}`.
    mutating func object(_ body: (inout JSONOutput) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        first = true
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    /// Writes `[`, the elements `body` writes (each through ``element(_:)``), `]`.
    mutating func array(_ body: (inout JSONOutput) -> Void) {
        bytes.append(UInt8(ascii: "["))
        first = true
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    /// Writes `"key":` and then the value `body` writes, inside an object.
    mutating func member(_ key: String, _ body: (inout JSONOutput) -> Void) {
        separate()
        string(key)
        bytes.append(UInt8(ascii: ":"))
        body(&self)
        first = false
    }

    /// Writes one array element.
    mutating func element(_ body: (inout JSONOutput) -> Void) {
        separate()
        body(&self)
        first = false
    }

    private mutating func separate() {
        if !first { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func string(_ text: String) {
        JSONText.appendString(text, to: &bytes)
    }

    mutating func number<Number: BinaryInteger>(_ value: Number) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Writes an already valid JSON number text (an exact decimal's digits) as is.
    mutating func rawNumber(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Lets `body` append a complete JSON value it writes itself (the engine's vector and token JSON).
    mutating func raw(_ body: (inout [UInt8]) -> Void) {
        body(&bytes)
    }

    mutating func bool(_ value: Bool) {
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func null() {
        bytes.append(contentsOf: "null".utf8)
    }

    mutating func optionalString(_ text: String?) {
        if let text { string(text) } else { null() }
    }

}
