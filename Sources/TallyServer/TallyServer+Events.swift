import HTTPTypes
import Hummingbird
import Tally

extension TallyServer {
    /// `POST /v1/events`: one event object, a JSON array, or NDJSON; answers after the durable commit.
    func ingest(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (result, single): (IngestResult, Bool)
        do {
            (result, single) = try await ingestBody(request)
        } catch {
            let answer = APIError.from(error)
            metrics.ingestFailed(code: answer.code)
            throw answer
        }
        if single, result.outcomes.count == 1, case .rejected(let rejection) = result.outcomes[0] {
            // A single-object body whose event is rejected: 422 with the rejection's code (and
            // field, as a batch's rejection carries it).
            var error = APIError(.unprocessableContent, rejection.code.rawValue, rejection.message)
            error.field = rejection.field
            throw error
        }
        return .json(Self.encode(result))
    }

    /// Applies the body; returns the result and whether the body was a single event object.
    private func ingestBody(_ request: Request) async throws -> (IngestResult, Bool) {
        let ndjson: Bool
        switch request.mediaType {
        // curl -d sends application/x-www-form-urlencoded: the body is still JSON, take it as such.
        case nil, "application/json", "application/x-www-form-urlencoded": ndjson = false
        case "application/x-ndjson", "application/ndjson", "application/jsonl": ndjson = true
        case let other?:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(other) is not accepted: send application/json (an event or an array) "
                    + "or application/x-ndjson (one event per line)")
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        let started = ContinuousClock.now
        let result: IngestResult
        var single = false
        if ndjson {
            try checkLineLengths(body)
            result = try await store.ingest(ndjson: body)
        } else {
            single = body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 } == UInt8(ascii: "{")
            result = try await store.ingest(json: body)
        }
        metrics.ingested(result, duration: ContinuousClock.now - started)
        return (result, single)
    }

    /// 413 `line_too_long` for an NDJSON line over the limit (checked before anything is parsed);
    /// a line's length leaves out its line ending, LF or CRLF.
    private func checkLineLengths(_ body: [UInt8]) throws {
        var start = 0
        var line = 0
        for index in body.indices where body[index] == 0x0A || index == body.count - 1 {
            var end = body[index] == 0x0A ? index : index + 1
            if end > start, body[end - 1] == 0x0D { end -= 1 }  // CRLF: the CR ends the line too
            if end - start > limits.maxNDJSONLineBytes {
                throw APIError(
                    .contentTooLarge, "line_too_long",
                    "NDJSON line \(line + 1) has \(end - start) bytes; the limit is \(limits.maxNDJSONLineBytes)")
            }
            start = index + 1
            line += 1
        }
    }

    /// `{"accepted":n,"duplicates":d,"rejected":[{"index":i,"code":"…","message":"…"}],"lsn":N}`
    static func encode(_ result: IngestResult) -> [UInt8] {
        var json = JSONOutput()
        json.object { json in
            json.member("accepted") { $0.number(result.accepted) }
            json.member("duplicates") { $0.number(result.duplicates) }
            json.member("rejected") { json in
                json.array { json in
                    for (index, rejection) in result.rejected {
                        json.element { json in
                            json.object { json in
                                json.member("index") { $0.number(index) }
                                json.member("code") { $0.string(rejection.code.rawValue) }
                                json.member("message") { $0.string(rejection.message) }
                                if let field = rejection.field { json.member("field") { $0.string(field) } }
                            }
                        }
                    }
                }
            }
            json.member("lsn") { $0.number(result.lsn.rawValue) }
        }
        return json.bytes
    }
}
