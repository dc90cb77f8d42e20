import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import TallyServer

@Suite("authentication and roles")
struct AuthenticationTests {
    /// Every protected endpoint with a body it accepts.
    static let endpoints: [(method: HTTPRequest.Method, uri: String, body: String?, role: Role)] = [
        (.post, "/v1/events", authorization("auth-1"), .ingest),
        (.get, "/v1/entities/card/c1", nil, .read),
        (.post, "/v1/vectors", #"{"entities":[{"entity":"card","key":"c1"}]}"#, .read),
        (.get, "/v1/definitions", nil, .read),
        (.put, "/v1/definitions", "{}", .admin),
        (.get, "/metrics", nil, .admin),
    ]

    @Test("no token and a bad token answer 401 with WWW-Authenticate on every protected endpoint")
    func unauthorized() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for endpoint in Self.endpoints {
                for headers: HTTPFields in [
                    [:], [.authorization: "Bearer tally_wrong"], [.authorization: "Basic YWxhZGRpbjpvcGVu"],
                    [.authorization: "Bearer"],
                ] {
                    let response = try await client.send(
                        endpoint.uri, endpoint.method, headers: headers, body: endpoint.body)
                    #expect(response.status == .unauthorized, "\(endpoint.method) \(endpoint.uri) \(headers)")
                    #expect(response.errorCode == "unauthorized")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                }
                // A valid admin token beside a second Authorization field is refused too.
                var twice = fixture.headers(.admin)
                twice.append(HTTPField(name: .authorization, value: "Bearer tally_wrong"))
                let response = try await client.send(endpoint.uri, endpoint.method, headers: twice, body: endpoint.body)
                #expect(response.status == .unauthorized, "two Authorization fields on \(endpoint.uri)")
                #expect(response.headers[.wwwAuthenticate]?.contains("invalid_request") == true)
            }
        }
        #expect(fixture.lsn == 0)
    }

    @Test("each role on each endpoint: its own role and admin pass, every other role is 403")
    func roles() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for endpoint in Self.endpoints {
                for role in Role.allCases {
                    let response = try await client.send(
                        endpoint.uri, endpoint.method, headers: fixture.headers(role), body: endpoint.body)
                    if role.grants(endpoint.role) {
                        #expect(![401, 403].contains(response.status.code), "\(role) on \(endpoint.uri)")
                    } else {
                        #expect(response.status == .forbidden, "\(role) on \(endpoint.method) \(endpoint.uri)")
                        #expect(response.errorCode == "forbidden")
                    }
                }
            }
        }
        // Only the ingest and admin tokens could post the one event (the second time a duplicate).
        #expect(fixture.lsn == 1)
    }

    @Test("admin implies every role")
    func adminImpliesAll() {
        for role in Role.allCases { #expect(Role.admin.grants(role)) }
        #expect(!Role.read.grants(.ingest))
        #expect(!Role.ingest.grants(.read))
        #expect(!Role.audit.grants(.admin))
    }

    @Test("health endpoints are open, with or without a token")
    func openEndpoints() async throws {
        let fixture = try ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for uri in ["/healthz", "/readyz"] {
                let open = try await client.send(uri, .get)
                #expect(open.status == .ok)
                let withBadToken = try await client.send(uri, .get, headers: [.authorization: "Bearer bad"])
                #expect(withBadToken.status == .ok)
            }
        }
    }

    @Test("--insecure mode: no token needed")
    func insecure() async throws {
        let fixture = try ServerFixture(insecure: true)
        defer { fixture.remove() }
        try await fixture.test { client in
            let metrics = try await client.send("/metrics", .get)
            #expect(metrics.status == .ok)
            let events = try await client.send("/v1/events", .post, body: authorization("i1"))
            #expect(events.status == .ok)
        }
    }

    @Test("token files keep only hashes, are written 0600 and read back")
    func tokenFile() throws {
        let path = NSTemporaryDirectory() + "tally-tokens-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = TokenFile()
        let secret = file.add(name: "scorer", role: .read)
        try file.save(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(secret))
        #expect(text.contains(TokenFile.hash(secret)))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try TokenFile.load(from: path) == file)
        #expect(secret.hasPrefix("tally_") && secret.count == 70)
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        #expect(
            TokenDigest.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenDigest.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            TokenDigest.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            TokenDigest.hex(Array(repeating: UInt8(ascii: "a"), count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
