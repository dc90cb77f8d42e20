import Hummingbird

/// Checks `Authorization: Bearer …` against a ``TokenFile``: the presented secret is hashed and
/// compared with every stored hash in constant time (no early exit, no secret in memory).
///
/// ```swift
/// let authenticator = Authenticator(tokens: try TokenFile.load(from: "tally-data/tokens.json"))
/// let insecure = Authenticator.disabled   // demo only: every request is admin
/// ```
public struct Authenticator: Sendable {
    private struct Known: Sendable {
        let name: String
        let role: Role
        let digest: [UInt8]
    }

    private let known: [Known]
    /// Whether authentication is off (`--insecure`).
    public let isDisabled: Bool

    public init(tokens: TokenFile) {
        known = tokens.tokens.map { entry in
            Known(name: entry.name, role: entry.role, digest: Self.bytes(hex: entry.sha256))
        }
        isDisabled = false
    }

    private init(disabled: Void) {
        known = []
        isDisabled = true
    }

    /// No authentication: every request may do everything. For demos on a trusted machine only.
    public static let disabled = Authenticator(disabled: ())

    /// The name of the token that authorizes `request` for `role`; 401 `unauthorized` (with
    /// `WWW-Authenticate: Bearer`) for a missing or unknown token, 403 `forbidden` for a token
    /// whose role does not grant `role`.
    @discardableResult
    public func authorize(_ request: Request, for role: Role) throws(APIError) -> String {
        if isDisabled { return "insecure" }
        // One pass over the fields: the String subscript joins every Authorization field into a
        // new string, which cost a third of this check.
        var header: String?
        var fields = 0
        for field in request.headers where field.name == .authorization {
            header = field.value
            fields += 1
        }
        guard let header else {
            throw APIError(
                .unauthorized, "unauthorized", "this endpoint needs an 'Authorization: Bearer <token>' header",
                headers: [.wwwAuthenticate: #"Bearer realm="tally""#])
        }
        guard fields == 1 else {
            throw APIError(
                .unauthorized, "unauthorized", "send one Authorization header, not \(fields)",
                headers: [.wwwAuthenticate: #"Bearer realm="tally", error="invalid_request""#])
        }
        let prefix = "bearer "
        guard header.utf8.count > prefix.utf8.count, header.prefix(prefix.count).lowercased() == prefix else {
            throw APIError(
                .unauthorized, "unauthorized", "the Authorization header must be 'Bearer <token>'",
                headers: [.wwwAuthenticate: #"Bearer realm="tally", error="invalid_request""#])
        }
        let secret = header.dropFirst(prefix.count).trimmingSpaces()
        let digest = TokenDigest.digest(Array(secret.utf8))
        var match: Known?
        for candidate in known where Self.constantTimeEqual(candidate.digest, digest) && match == nil {
            match = candidate
        }
        guard let match else {
            throw APIError(
                .unauthorized, "unauthorized", "the bearer token is not valid",
                headers: [.wwwAuthenticate: #"Bearer realm="tally", error="invalid_token""#])
        }
        guard match.role.grants(role) else {
            throw APIError(
                .forbidden, "forbidden",
                "token '\(match.name)' has role \(match.role.rawValue); this needs \(role.rawValue)")
        }
        return match.name
    }

    /// Compares two digests in time that depends only on their length.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func bytes(hex: String) -> [UInt8] {
        func nibble(_ byte: UInt8) -> UInt8 { byte <= 0x39 ? byte - 0x30 : byte - 0x61 + 10 }
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }
}
