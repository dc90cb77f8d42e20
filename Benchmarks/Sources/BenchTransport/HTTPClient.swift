import Foundation

/// A minimal blocking HTTP/1.1 client on one keep-alive ``Connection`` (Content-Length bodies,
/// chunked answers understood): what drives `tally serve`, over the same transport as Redis.
public final class HTTPClient {
    public struct Response {
        public let status: Int
        public let body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private var connection: Connection
    private let port: Int
    private let host: String
    private let authorization: String?

    public init(port: Int, token: String?) throws {
        connection = try Connection(port: port)
        self.port = port
        host = "127.0.0.1:\(port)"
        authorization = token.map { "Bearer \($0)" }
    }

    public func request(_ method: String, _ target: String, body: [UInt8]? = nil, contentType: String? = nil) throws
        -> Response
    {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
        }
        head += "\r\n"
        var out = Array(head.utf8)
        if let body { out.append(contentsOf: body) }
        do {
            try connection.write(out)
            return try readResponse()
        } catch is ConnectionError {
            // The server closed an idle keep-alive connection (`--idle-timeout`): reconnect once.
            // Safe to resend: reads are idempotent and ingest deduplicates by event id.
            connection = try Connection(port: port)
            try connection.write(out)
            return try readResponse()
        }
    }

    private func readResponse() throws -> Response {
        let statusLine = String(decoding: try connection.readLine(), as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw ConnectionError("bad status line \(statusLine)")
        }
        var length: Int?
        var chunked = false
        while true {
            let line = try connection.readLine()
            if line.isEmpty { break }
            let header = String(decoding: line, as: UTF8.self)
            guard let colon = header.firstIndex(of: ":") else { continue }
            let name = header[..<colon].lowercased()
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding", value.lowercased().contains("chunked") { chunked = true }
        }
        if chunked {
            var body: [UInt8] = []
            while true {
                let sizeLine = String(decoding: try connection.readLine(), as: UTF8.self)
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw ConnectionError("bad chunk size \(sizeLine)")
                }
                if size == 0 {
                    while !(try connection.readLine()).isEmpty {}
                    break
                }
                body.append(contentsOf: try connection.read(count: size))
                _ = try connection.read(count: 2)
            }
            return Response(status: status, body: body)
        }
        return Response(status: status, body: try connection.read(count: length ?? 0))
    }
}

extension Array where Element == UInt8 {
    /// The text of the JSON number after `"key":` (first occurrence), for reading a few fields of
    /// a flat answer without a JSON parser on the timed path.
    public func jsonNumber(after key: String) -> Substring? {
        let needle = Array("\"\(key)\":".utf8)
        guard needle.count <= count else { return nil }
        var i = 0
        outer: while i + needle.count <= count {
            for j in 0..<needle.count where self[i + j] != needle[j] {
                i += 1
                continue outer
            }
            var k = i + needle.count
            while k < count, self[k] == UInt8(ascii: " ") { k += 1 }
            let begin = k
            while k < count,
                self[k] == UInt8(ascii: "-") || self[k] == UInt8(ascii: ".") || (self[k] >= 48 && self[k] <= 57)
                    || self[k] == UInt8(ascii: "e") || self[k] == UInt8(ascii: "E") || self[k] == UInt8(ascii: "+")
            {
                k += 1
            }
            return Substring(String(decoding: self[begin..<k], as: UTF8.self))
        }
        return nil
    }
}
