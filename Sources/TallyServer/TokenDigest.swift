import Crypto

/// SHA-256 of bearer tokens (swift-crypto), as the token file stores them.
///
/// ```swift
/// TokenDigest.hex(Array("abc".utf8))   // "ba7816bf…f20015ad"
/// ```
enum TokenDigest {
    /// The 32-byte digest of `message`.
    static func digest(_ message: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: message)) }

    /// The digest as 64 lowercase hex digits.
    static func hex(_ message: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in digest(message) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
