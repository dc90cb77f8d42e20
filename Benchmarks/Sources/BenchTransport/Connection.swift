import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct ConnectionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking TCP connection to a loopback port with a read buffer: the one transport under both
/// the Redis (RESP2) and the Tally (HTTP/1.1) clients, so both networked systems are driven the
/// same way.
public final class Connection {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0

    public init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConnectionError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ConnectionError("connect to \(host):\(port): errno \(code)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(fd) }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0, errno == EINTR { continue }
                guard sent > 0 else { throw ConnectionError("send: errno \(errno)") }
                offset += sent
            }
        }
    }

    private func fill() throws {
        if start == end {
            start = 0
            end = 0
        } else if end == buffer.count {
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            } else {
                buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count))
            }
        }
        let received = buffer.withUnsafeMutableBytes { raw in
            Glibc.recv(fd, raw.baseAddress! + end, raw.count - end, 0)
        }
        if received < 0, errno == EINTR { return }
        guard received > 0 else {
            throw ConnectionError(received == 0 ? "connection closed by peer" : "recv: errno \(errno)")
        }
        end += received
    }

    /// The bytes up to (not including) the next CRLF, copied (a slice would keep the buffer
    /// shared and make the next fill copy all of it).
    public func readLine() throws -> [UInt8] {
        var scanned = 0  // bytes after `start` already searched
        while true {
            var i = start + scanned
            while i + 1 < end {
                if buffer[i] == 13, buffer[i + 1] == 10 {
                    let line = Array(buffer[start..<i])
                    start = i + 2
                    return line
                }
                i += 1
            }
            scanned = max(0, end - start - 1)
            try fill()
        }
    }

    /// Calls `body` with the next `count` bytes, in place (no copy), then consumes them.
    public func withBytes<T>(count: Int, _ body: (ArraySlice<UInt8>) throws -> T) throws -> T {
        while end - start < count { try fill() }
        let result = try body(buffer[start..<(start + count)])
        start += count
        return result
    }

    /// Exactly `count` bytes.
    public func read(count: Int) throws -> [UInt8] {
        while end - start < count { try fill() }
        let bytes = Array(buffer[start..<(start + count)])
        start += count
        return bytes
    }
}

/// A free loopback TCP port (bound, read back, released) for a server the tool starts.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            Glibc.bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw ConnectionError("cannot bind a loopback port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
