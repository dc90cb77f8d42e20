import Foundation
import HTTPTypes
import Hummingbird
import Tally

/// Lists and flags administration (SPEC §2 "Lists and flags are data in the log", §3), role admin.
///
/// | endpoint | does |
/// |---|---|
/// | `PUT /v1/lists/{list}/members/{member}` | adds the member for `[from, until)` (body optional) |
/// | `DELETE /v1/lists/{list}/members/{member}[?at=T]` | ends the membership at `at` |
/// | `GET /v1/lists/{list}/members/{member}[?lsn=N&at=T]` | whether it holds at `(lsn, at)` |
/// | `GET /v1/lists/{list}[?lsn&at&after&limit]` | the members that hold at `(lsn, at)`, a page |
/// | `PUT`, `DELETE`, `GET /v1/flags/{flag}/{key}` | the same for a flag on an entity |
///
/// A change answers `{"list"|"flag", "member"|"key", "changed", "lsn", "state"}`; a read
/// `{"list"|"flag", "member"|"key", "holds", "state", "snapshot"}`, where `state` is
/// `{"from", "until", "removed", "changed_at_lsn"}` (docs/SERVER.md, "Lists and flags").
extension TallyServer {
    /// The default and the largest `limit` of `GET /v1/lists/{list}`.
    static let listPageDefault = 100
    static let listPageMaximum = 1000

    /// `PUT` (`add`) or `DELETE` of a list member or a flag: one logged change, answered after
    /// its durable commit.
    func changeMark(
        _ kind: MarkKind, add: Bool, _ request: Request, _ context: BasicRequestContext, _ query: [String: String]
    ) async throws -> Response {
        let name = try pathParameter(kind == .list ? "list" : "flag", context)
        let key = try pathParameter(kind == .list ? "member" : "key", context)
        let report: MarkChangeReport
        if add {
            let interval = try await markInterval(request)
            switch kind {
            case .list:
                report = try await store.addListMember(name, member: key, from: interval.from, until: interval.until)
            case .flag:
                report = try await store.setFlag(name, key: key, from: interval.from, until: interval.until)
            }
        } else {
            let at = try query["at"].map { text throws(APIError) in try ReadPoint.time(text: text, name: "at") }
            // The time is a query parameter: a body (say {"at":…}) would be ignored, so it is refused.
            guard try await request.collectBody(limit: limits.maxBodyBytes).allSatisfy(Self.isJSONSpace) else {
                throw ReadPoint.invalid("DELETE takes no body; give the time it takes effect as ?at=T")
            }
            switch kind {
            case .list: report = try await store.removeListMember(name, member: key, at: at)
            case .flag: report = try await store.clearFlag(name, key: key, at: at)
            }
        }
        var json = JSONOutput()
        json.object { json in
            Self.names(kind, name, report.member, into: &json)
            json.member("changed") { $0.bool(report.changed) }
            json.member("lsn") { json in if let lsn = report.lsn { json.number(lsn.rawValue) } else { json.null() } }
            json.member("state") { Self.write(report.state, into: &$0) }
        }
        return .json(json.bytes)
    }

    /// `GET` of one list member or flag at `(lsn, at)`.
    func readMark(_ kind: MarkKind, _ request: Request, _ context: BasicRequestContext, _ query: [String: String])
        async throws -> Response
    {
        let name = try pathParameter(kind == .list ? "list" : "flag", context)
        let key = try pathParameter(kind == .list ? "member" : "key", context)
        let point = try ReadPoint.query(query)
        let (reading, token) = try await read(at: point) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            let reading =
                switch kind {
                case .list: try snapshot.listMembership(name, member: key, at: token)
                case .flag: try snapshot.flag(name, key: key, at: token)
                }
            return (reading, token)
        }
        var json = JSONOutput()
        json.object { json in
            Self.names(kind, name, reading.member, into: &json)
            json.member("holds") { $0.bool(reading.holds) }
            json.member("state") { Self.write(reading.state, into: &$0) }
            json.member("snapshot") { $0.raw { token.appendJSON(to: &$0) } }
        }
        return .json(json.bytes)
    }

    /// `GET /v1/lists/{list}[?lsn&at&after&limit]`: the members that hold at `(lsn, at)`, in the
    /// store's key order, at most `limit` (default 100, at most 1000), after the member `after`.
    /// A scan of the list's entries, so it runs on the blocking thread pool.
    func listMembers(_ request: Request, _ context: BasicRequestContext, _ query: [String: String]) async throws
        -> Response
    {
        let list = try pathParameter("list", context)
        let point = try ReadPoint.query(query)
        let after = query["after"]
        if after?.isEmpty == true { throw ReadPoint.invalid("after must name a member, not be empty") }
        let limit = try Self.pageLimit(query["limit"])
        let (page, token) = try await read(at: point, scans: true) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            return (try snapshot.listMembers(list, at: token, after: after, limit: limit), token)
        }
        var json = JSONOutput(reservingCapacity: 128 + 96 * page.members.count)
        json.object { json in
            json.member("list") { $0.string(list) }
            json.member("members") { json in
                json.array { json in
                    for reading in page.members {
                        json.element { json in
                            json.object { json in
                                json.member("member") { $0.string(reading.member) }
                                json.member("state") { Self.write(reading.state, into: &$0) }
                            }
                        }
                    }
                }
            }
            json.member("next_after") { $0.optionalString(page.more ? page.members.last?.member : nil) }
            json.member("snapshot") { $0.raw { token.appendJSON(to: &$0) } }
        }
        return .json(json.bytes)
    }

    /// The optional body of a `PUT`: `{"from": T, "until": T | null}`, each member optional (T:
    /// epoch ms or RFC 3339 text; null or absent: the default). An empty body takes both defaults.
    private func markInterval(_ request: Request) async throws -> (from: Int64?, until: Int64?) {
        if let type = request.mediaType, type != "application/json", type != "application/x-www-form-urlencoded" {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(type) is not accepted: send application/json, or no body")
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        if body.allSatisfy(Self.isJSONSpace) { return (nil, nil) }
        guard case .object(let members) = try StrictJSON.parse(body) else {
            throw ReadPoint.invalid(#"the body must be an object: {"from": T, "until": T}, or empty"#)
        }
        var from: Int64?
        var until: Int64?
        for member in members {
            let value: Int64?
            switch (member.key, member.value) {
            case ("from", .null), ("until", .null):
                value = nil
            case ("from", .number(let text)), ("from", .string(let text)), ("until", .number(let text)),
                ("until", .string(let text)):
                value = try ReadPoint.time(text: text, name: member.key)
            case ("from", _), ("until", _):
                throw ReadPoint.invalid("\(member.key) must be epoch milliseconds, RFC 3339 text or null")
            default:
                throw ReadPoint.invalid("unknown member '\(member.key.prefix(64))'; the body takes from and until")
            }
            if member.key == "from" { from = value } else { until = value }
        }
        return (from, until)
    }

    static func isJSONSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The query parameters of a request, by name; a name not in `allowed`, or given twice, is 400.
    /// An empty pair (`?lsn=1&`, `?&&`) is no parameter.
    static func query(_ request: Request, allowed: [String], hint: String? = nil) throws(APIError) -> [String: String] {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where !(key.isEmpty && value.isEmpty) {
            // Hummingbird percent-decodes values only; a name may be encoded too (`l%73n`).
            let name = String(key).removingPercentEncoding ?? String(key)
            guard allowed.contains(name) else {
                throw ReadPoint.invalid(
                    "unknown query parameter '\(name.prefix(64))'; this endpoint takes "
                        + (allowed.isEmpty ? "none" : allowed.joined(separator: ", ")) + (hint.map { ": \($0)" } ?? ""))
            }
            guard values.updateValue(String(value), forKey: name) == nil else {
                throw ReadPoint.invalid("query parameter '\(name)' is given twice")
            }
        }
        return values
    }

    /// `limit` of a list page: 1 to ``listPageMaximum``, default ``listPageDefault``.
    private static func pageLimit(_ text: String?) throws(APIError) -> Int {
        guard let text else { return listPageDefault }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text),
            (1...listPageMaximum).contains(value)
        else {
            throw ReadPoint.invalid("limit must be an integer from 1 to \(listPageMaximum), not '\(text.prefix(32))'")
        }
        return value
    }

    /// `"list":…,"member":…` or `"flag":…,"key":…`.
    private static func names(_ kind: MarkKind, _ name: String, _ key: String, into json: inout JSONOutput) {
        switch kind {
        case .list:
            json.member("list") { $0.string(name) }
            json.member("member") { $0.string(key) }
        case .flag:
            json.member("flag") { $0.string(name) }
            json.member("key") { $0.string(key) }
        }
    }

    /// `{"from":…,"until":…,"removed":…,"changed_at_lsn":…}`: the interval `[from, until)` of
    /// event time (epoch ms; `until` null = open-ended; both null = never added or set), whether
    /// the newest change was a removal (`DELETE`), and that change's LSN.
    private static func write(_ state: MarkState, into json: inout JSONOutput) {
        json.object { json in
            json.member("from") { json in if let from = state.from { json.number(from) } else { json.null() } }
            json.member("until") { json in if let until = state.until { json.number(until) } else { json.null() } }
            json.member("removed") { $0.bool(state.changedAt != nil && !state.added) }
            json.member("changed_at_lsn") { json in
                if let lsn = state.changedAt { json.number(lsn.rawValue) } else { json.null() }
            }
        }
    }
}
