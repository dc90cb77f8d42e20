/// Appends canonical JSON to a byte buffer: minimal escaping, UTF-8 as is, no whitespace.
enum JSONWriter {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `"text"` (preceded by `{` when `opening`).
    static func appendString(_ text: String, to buffer: inout [UInt8], opening: Bool = false) {
        if opening { buffer.append(UInt8(ascii: "{")) }
        buffer.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape (the common case for ids, keys, codes).
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            buffer.append(contentsOf: text.utf8)
            buffer.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: buffer.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: buffer.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: buffer.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                buffer.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            default: buffer.append(byte)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    /// Appends a field value in canonical form.
    static func appendValue(_ value: FieldValue, to buffer: inout [UInt8]) {
        switch value {
        case .string(let text): appendString(text, to: &buffer)
        case .int(let number): buffer.append(contentsOf: Array(String(number).utf8))
        case .bool(let flag): buffer.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case .timestamp(let ms): buffer.append(contentsOf: Array(String(ms).utf8))
        case .decimal(let decimal): decimal.appendText(to: &buffer)
        case .null: buffer.append(contentsOf: Array("null".utf8))
        }
    }
}

extension JSONWriter {
    /// Appends a parsed JSON value compactly: numbers with their text as written, members in order.
    static func appendJSON(_ value: JSONValue, to buffer: inout [UInt8]) {
        switch value {
        case .null: buffer.append(contentsOf: "null".utf8)
        case .bool(let flag): buffer.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): buffer.append(contentsOf: text.utf8)
        case .string(let text): appendString(text, to: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                appendJSON(element, to: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let members):
            buffer.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                appendString(member.key, to: &buffer)
                buffer.append(UInt8(ascii: ":"))
                appendJSON(member.value, to: &buffer)
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }
}
