import HTTPTypes
import Hummingbird
import NIOPosix
import Tally

/// Decisions (SPEC §3): score a request on one snapshot, read a recorded decision back, replay it.
///
/// | endpoint | role | does |
/// |---|---|---|
/// | `POST /v1/decide` | decide | scores `{"request":{…},"entities":[…],"ingest":…,"at":T}`; answers the record |
/// | `GET /v1/decisions/{id}` | audit | the record, as `decide` answered it |
/// | `POST /v1/decisions/{id}/replay` | audit | recomputes it from the log at its snapshot and compares |
///
/// The record (`Decision.appendJSON`) is
/// `{"id","outcome","reasons","rules","vectors","snapshot","ingest","event","request","decided_at"}`;
/// a replay answers `{"id","matches","outcome","differences":[{"path","recorded","recomputed"}],"snapshot"}`
/// (docs/SERVER.md, "Decisions").
extension TallyServer {
    /// `POST /v1/decide`: one decision, recorded durably (its id is its LSN) before the answer.
    func decide(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let type = request.mediaType, type != "application/json", type != "application/x-www-form-urlencoded" {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(type) is not accepted: send application/json")
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        let asked = try parseDecideRequest(body)
        let decision: Decision
        do {
            decision = try await store.decide(asked)
        } catch {
            countRejectedScoredEvent(error, asked)
            throw error
        }
        if let event = decision.event { metrics.scoredEvent(event) }
        metrics.decided(outcome: decision.outcome)
        var json: [UInt8] = []
        json.reserveCapacity(1024)
        decision.appendJSON(to: &json)
        return .json(json)
    }

    /// A scored event that would have been ingested is judged as ingest judges it: a rejected one
    /// counts with the events (with `ingest: none` nothing would have been, so nothing is counted).
    private func countRejectedScoredEvent(_ error: TallyError, _ asked: DecisionRequest) {
        guard error.code == .eventRejected, asked.ingest != DecisionRequest.Ingest.notIngested,
            let rejection = error.cause as? EventRejection
        else { return }
        metrics.scoredEvent(EventOutcome.rejected(rejection))
    }

    /// `GET /v1/decisions/{id}`: the recorded decision's JSON, byte for byte as `decide` answered it.
    func recordedDecision(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try decisionID(context)
        return .json(try store.decision(id).json)
    }

    /// `POST /v1/decisions/{id}/replay`: recomputes the decision at its recorded snapshot from the
    /// log's entries (a scan, so on the blocking thread pool) and compares every value.
    func replayDecision(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try decisionID(context)
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        // No body, a blank one or an empty JSON object (what `json={}` clients send) all ask for
        // the same replay; anything else would suggest an option replay does not have.
        if !body.allSatisfy(Self.isJSONSpace) {
            let value = try? StrictJSON.parse(body)
            guard case .object(let members)? = value, members.isEmpty else {
                throw ReadPoint.invalid(
                    "a replay takes no body (or {}): the decision's id in the path says everything")
            }
        }
        let store = store
        let replay = try await NIOThreadPool.singleton.runIfActive { try store.replayDecision(id) }
        return .json(Self.replayJSON(replay))
    }

    /// A replay as JSON: `{"id":N,"matches":bool,"outcome":"…","differences":[{"path":"…",
    /// "recorded":V,"recomputed":V}],"snapshot":{…}}`. `recorded` and `recomputed` are the JSON
    /// values themselves; a value one side does not have is the string `"absent"`. `tally replay`
    /// prints the same.
    public static func replayJSON(_ replay: DecisionReplay) -> [UInt8] {
        var json = JSONOutput(reservingCapacity: 256 + 96 * replay.differences.count)
        json.object { json in
            json.member("id") { $0.number(replay.id.rawValue) }
            json.member("matches") { $0.bool(replay.matches) }
            json.member("outcome") { $0.string(replay.outcome) }
            json.member("differences") { json in
                json.array { json in
                    for difference in replay.differences {
                        json.element { json in
                            json.object { json in
                                json.member("path") { $0.string(difference.path) }
                                json.member("recorded") { $0.jsonText(difference.recorded) }
                                json.member("recomputed") { $0.jsonText(difference.recomputed) }
                            }
                        }
                    }
                }
            }
            json.member("snapshot") { $0.raw { replay.token.appendJSON(to: &$0) } }
        }
        return json.bytes
    }

    /// The `{id}` of a decisions path: a positive integer (the decision's LSN). Any other text
    /// names no decision: 404 `unknown_decision`, as an unknown number does.
    private func decisionID(_ context: BasicRequestContext) throws(APIError) -> LSN {
        let text = try pathParameter("id", context)
        guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(text), value > 0 else {
            throw APIError(
                TallyError(
                    .unknownDecision,
                    "no decision has id '\(text.prefix(64))': decision ids are positive integers (their LSNs)"))
        }
        return LSN(value)
    }

    /// `{"request":{…},"entities":[{"entity":…,"key":…}],"ingest":"including"|"before"|"none","at":T}`:
    /// `request` is required (a JSON object); the others are optional, null meaning the default.
    private func parseDecideRequest(_ body: [UInt8]) throws -> DecisionRequest {
        guard case .object(let members) = try StrictJSON.parse(body) else {
            throw ReadPoint.invalid(
                #"the body must be an object: {"request":{…},"entities":[{"entity":…,"key":…}],"ingest":…,"at":…}"#)
        }
        var payload: [UInt8]?
        var decision = DecisionRequest(payload: [])
        for member in members {
            switch (member.key, member.value) {
            case ("request", .object):
                var json = JSONOutput()
                json.value(member.value)
                payload = json.bytes
            case ("request", _):
                throw ReadPoint.invalid("request must be a JSON object: the payload the rules read as request.<field>")
            case ("entities", .null), ("ingest", .null), ("at", .null):
                continue
            case ("entities", .array(let list)):
                decision.entities = try entityKeys(list)
            case ("entities", _):
                throw ReadPoint.invalid("entities must be an array of {\"entity\":…,\"key\":…}")
            case ("ingest", .string(let text)):
                guard let mode = DecisionRequest.Ingest(rawValue: text) else {
                    throw ReadPoint.invalid("ingest must be including, before or none, not '\(text.prefix(64))'")
                }
                decision.ingest = mode
            case ("ingest", _):
                throw ReadPoint.invalid("ingest must be the string including, before or none")
            case ("at", .number(let text)), ("at", .string(let text)):
                decision.at = try ReadPoint.at(text: text)
            case ("at", _):
                throw ReadPoint.invalid("at must be epoch milliseconds or RFC 3339 text")
            default:
                throw ReadPoint.invalid(
                    "unknown member '\(member.key.prefix(64))'; the body takes request, entities, ingest and at")
            }
        }
        guard let payload else {
            throw ReadPoint.invalid(#"the body needs a request: {"request":{…the payload…}}"#)
        }
        decision.payload = payload
        return decision
    }
}

extension JSONOutput {
    /// Writes a parsed value back as JSON: member order and number digits as parsed.
    mutating func value(_ value: StrictJSON.Value) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let text): rawNumber(text)
        case .string(let text): string(text)
        case .array(let elements):
            array { json in
                for element in elements { json.element { $0.value(element) } }
            }
        case .object(let members):
            object { json in
                for member in members { json.member(member.key) { $0.value(member.value) } }
            }
        }
    }

    /// Writes `text` as is when it is one JSON value, else as a JSON string (a replay's `absent`).
    mutating func jsonText(_ text: String) {
        let bytes = Array(text.utf8)
        if (try? StrictJSON.parse(bytes)) != nil { raw { $0.append(contentsOf: bytes) } } else { string(text) }
    }
}
