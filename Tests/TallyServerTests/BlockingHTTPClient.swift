import Foundation
import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 client over one blocking loopback socket, for load that must keep flowing
/// when the Swift concurrency pool is busy: in the full parallel suite on 2 cores, the pool's two
/// threads are often held by other tests' synchronous work, and an async client stalls for seconds
/// between requests. Run it on its own `Thread`. It understands only `Content-Length` bodies,
/// which is what `tally serve` sends.
final class BlockingHTTPClient {
    struct Response {
        let status: Int
        let body: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let socket: Int32
    private var pending: [UInt8] = []

    /// Connects to `127.0.0.1:port`; reads time out after `timeoutSeconds`.
    init(port: Int, timeoutSeconds: Int = 120) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw Failure(description: "connect: errno \(errno)")
        }
    }

    deinit { close(socket) }

    /// Sends one POST and waits for its whole response.
    func post(_ path: String, body: String, headers: HTTPFields) throws -> Response {
        var request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n"
        for field in headers { request += "\(field.name): \(field.value)\r\n" }
        request += "\r\n" + body
        return try exchange(raw: request)
    }

    /// Sends `request` exactly as written (head and body) and waits for the whole response.
    func exchange(raw request: String) throws -> Response {
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += count
        }
        let head = try readHead()
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw Failure(description: "bad status line: \(head)") }
        guard
            let lengthLine = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
        else { throw Failure(description: "no Content-Length: \(head)") }
        while pending.count < length { try fill() }
        let body = String(decoding: pending[..<length], as: UTF8.self)
        pending.removeFirst(length)
        return Response(status: status, body: body)
    }

    /// Reads up to the blank line that ends the response head.
    private func readHead() throws -> String {
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if pending.count >= 4,
                let index = (0...(pending.count - 4)).first(where: { pending[$0..<($0 + 4)].elementsEqual(end) })
            {
                let head = String(decoding: pending[..<index], as: UTF8.self)
                pending.removeFirst(index + 4)
                return head
            }
            try fill()
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            throw Failure(description: count == 0 ? "connection closed by the server" : "recv: errno \(errno)")
        }
        pending += chunk[..<count]
    }
}
