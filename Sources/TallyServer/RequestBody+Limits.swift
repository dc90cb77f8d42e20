import Foundation
import Hummingbird

extension Request {
    /// The whole body, refusing more than `limit` bytes with 413 `body_too_large` — before reading
    /// when `Content-Length` says so, else as soon as the stream passes it — and a body in a
    /// content coding (`Content-Encoding: gzip`, …) with 415: it would be read as plain bytes.
    func collectBody(limit: Int) async throws -> [UInt8] {
        // The HTTP parser frames a body whose last transfer coding is chunked and passes the
        // others through undecoded (`gzip, chunked`): refuse them rather than read gzip as JSON.
        let transferCodings = headers[values: .transferEncoding].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let coding = transferCodings.first(where: { $0 != "chunked" }) {
            throw APIError(
                .badRequest, "malformed_request",
                "Transfer-Encoding \(coding.prefix(32)) is not supported: send the body with Content-Length or "
                    + "chunked transfer coding alone")
        }
        if let coding = headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
            !coding.isEmpty, coding != "identity"
        {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Encoding \(coding.prefix(32)) is not accepted: send the body uncompressed")
        }
        let tooLarge = APIError(
            .contentTooLarge, "body_too_large", "the request body is larger than the limit of \(limit) bytes")
        if let length = headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        var bytes: [UInt8] = []
        for try await buffer in body {
            guard bytes.count + buffer.readableBytes <= limit else { throw tooLarge }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
        return bytes
    }

    /// The media type of the body, lowercased, without parameters (nil when absent).
    var mediaType: String? {
        guard let value = headers[.contentType] else { return nil }
        let type = value.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
