import BenchTransport

/// A RESP2 reply.
enum RESPValue: Sendable {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    var text: String? {
        switch self {
        case .simple(let value): value
        case .bulk(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        default: nil
        }
    }
}

/// A minimal blocking Redis client (RESP2 over ``Connection``): commands are encoded as arrays of
/// bulk strings; ``pipeline(_:)`` writes many commands in one send and reads their replies in order.
final class RedisClient {
    private let connection: Connection

    init(port: Int) throws { connection = try Connection(port: port) }

    /// Sends every command at once, then reads one reply per command.
    func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        var out: [UInt8] = []
        out.reserveCapacity(commands.count * 64)
        for command in commands { Self.encode(command, into: &out) }
        try connection.write(out)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply()) }
        return replies
    }

    /// Sends commands without reading their replies (read them with ``readReply()`` or
    /// ``readBulkArray(_:)``, in order).
    func send(_ commands: [[String]]) throws {
        var out: [UInt8] = []
        for command in commands { Self.encode(command, into: &out) }
        try connection.write(out)
    }

    /// Reads an array reply of bulk strings, handing each element's bytes to `body` in place
    /// (large ZRANGEBYSCORE answers are summed without one allocation per member). Nil array: 0.
    func readBulkArray(_ body: (ArraySlice<UInt8>) throws -> Void) throws -> Int {
        let header = try connection.readLine()
        guard header.first == UInt8(ascii: "*"), let count = Int(String(decoding: header.dropFirst(), as: UTF8.self))
        else {
            throw ConnectionError("expected an array reply, got \(String(decoding: header, as: UTF8.self))")
        }
        for _ in 0..<max(count, 0) {
            let line = try connection.readLine()
            guard line.first == UInt8(ascii: "$"), let length = Int(String(decoding: line.dropFirst(), as: UTF8.self)),
                length >= 0
            else { throw ConnectionError("expected a bulk string") }
            try connection.withBytes(count: length + 2) { try body($0.dropLast(2)) }
        }
        return max(count, 0)
    }

    func command(_ arguments: String...) throws -> RESPValue { try pipeline([arguments])[0] }

    static func encode(_ command: [String], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        out.append(contentsOf: String(command.count).utf8)
        out.append(contentsOf: [13, 10])
        for argument in command {
            let bytes = argument.utf8
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(bytes.count).utf8)
            out.append(contentsOf: [13, 10])
            out.append(contentsOf: bytes)
            out.append(contentsOf: [13, 10])
        }
    }

    /// The element count of an array reply (`*N`), as `.integer(N)`; nil arrays as `.array(nil)`.
    func readArrayHeader() throws -> RESPValue {
        let line = try connection.readLine()
        guard line.first == UInt8(ascii: "*"), let count = Int64(String(decoding: line.dropFirst(), as: UTF8.self))
        else {
            if line.first == UInt8(ascii: "-") { return .error(String(decoding: line.dropFirst(), as: UTF8.self)) }
            throw ConnectionError("expected an array header")
        }
        return count < 0 ? .array(nil) : .integer(count)
    }

    func readReply() throws -> RESPValue {
        let line = try connection.readLine()
        guard let kind = line.first else { throw ConnectionError("empty RESP line") }
        let rest = line.dropFirst()
        func number() throws -> Int64 {
            guard let value = Int64(String(decoding: rest, as: UTF8.self)) else {
                throw ConnectionError("bad RESP number \(String(decoding: rest, as: UTF8.self))")
            }
            return value
        }
        switch kind {
        case UInt8(ascii: "+"): return .simple(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: ":"): return .integer(try number())
        case UInt8(ascii: "$"):
            let length = try number()
            if length < 0 { return .bulk(nil) }
            let bytes = try connection.read(count: Int(length) + 2)
            return .bulk(Array(bytes.dropLast(2)))
        case UInt8(ascii: "*"):
            let count = try number()
            if count < 0 { return .array(nil) }
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count { elements.append(try readReply()) }
            return .array(elements)
        default:
            throw ConnectionError("unknown RESP type byte \(kind)")
        }
    }
}
