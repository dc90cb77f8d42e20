import Foundation

/// The token file: named bearer tokens with a role, kept only as SHA-256 hashes.
///
/// ```json
/// {"tokens": [{"name": "admin", "role": "admin", "sha256": "9f86d081…"}]}
/// ```
///
/// ```swift
/// var file = TokenFile()
/// let token = file.add(name: "scorer", role: .read)   // the secret: shown once, never stored
/// try file.save(to: "tally-data/tokens.json")          // mode 0600
/// ```
public struct TokenFile: Sendable, Codable, Equatable {
    /// One token: its name (for logs), role and the hex SHA-256 of the secret.
    public struct Entry: Sendable, Codable, Equatable {
        public var name: String
        public var role: Role
        public var sha256: String

        public init(name: String, role: Role, sha256: String) {
            self.name = name
            self.role = role
            self.sha256 = sha256
        }
    }

    public var tokens: [Entry]

    public init(tokens: [Entry] = []) { self.tokens = tokens }

    /// A fresh secret: `tally_` and 64 hex digits from the system's secure random generator.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for _ in 0..<32 {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return "tally_" + String(decoding: hex, as: UTF8.self)
    }

    /// The hash stored for `secret`.
    public static func hash(_ secret: String) -> String { TokenDigest.hex(Array(secret.utf8)) }

    /// Adds a new token and returns its secret (the file keeps only the hash).
    public mutating func add(name: String, role: Role) -> String {
        let secret = Self.newSecret()
        tokens.append(Entry(name: name, role: role, sha256: Self.hash(secret)))
        return secret
    }

    /// Reads a token file; a missing or unreadable file, bad JSON, an unknown role or a hash that
    /// is not 64 hex digits is an error naming the file.
    public static func load(from path: String) throws -> TokenFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenFileError("cannot read the token file \(path)")
        }
        let file: TokenFile
        do {
            file = try JSONDecoder().decode(TokenFile.self, from: data)
        } catch {
            throw TokenFileError("the token file \(path) is not valid: \(error)")
        }
        for entry in file.tokens {
            guard entry.sha256.utf8.count == 64, entry.sha256.utf8.allSatisfy(Self.isLowerHex) else {
                throw TokenFileError("token '\(entry.name)' in \(path): sha256 must be 64 lowercase hex digits")
            }
        }
        return file
    }

    /// Writes the file atomically with mode 0600 (owner only).
    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw TokenFileError("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TokenFileError("cannot move the token file into place at \(path) (errno \(errno))")
        }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }
}

/// A token file that cannot be read or written.
public struct TokenFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
