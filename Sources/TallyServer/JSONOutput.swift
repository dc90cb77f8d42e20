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
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, Self.hex[Int(byte >> 4)]])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
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

    private static let hex = Array("0123456789abcdef".utf8)
}
