import HTTPTypes
import Hummingbird
import Tally

extension TallyServer {
    /// `GET /v1/definitions[?lsn&at]`: the definitions served at the read point (default: now), as
    /// a catalog, with their version and the snapshot token; an older `lsn` gives the version
    /// served then.
    func definitionsResponse(_ query: [String: String]) async throws -> Response {
        let point = try ReadPoint.query(query)
        let (token, definitions, versions) = try await read(at: point) { snapshot in
            let token = try snapshot.token(lsn: point.lsn, at: point.at)
            return (token, snapshot.servedDefinitions(at: token), snapshot.catalogVersions(at: token))
        }
        let progress = store.definitionsChangeInProgress
        var json = JSONOutput(reservingCapacity: 4096)
        json.object { json in
            json.member("version") { $0.number(token.definitionsVersion) }
            json.member("change_in_progress") { json in
                if let progress { Self.write(progress, into: &json) } else { json.null() }
            }
            if let definitions { Self.write(definitions, versions: versions, into: &json) }
            json.member("snapshot") { $0.raw { token.appendJSON(to: &$0) } }
        }
        return .json(json.bytes)
    }

    /// `PUT /v1/definitions`: applies the definitions in the body (YAML, or JSON which YAML reads
    /// too). New views are backfilled from the log before they are served; the answer comes once
    /// they are (200), or at once with `?wait=false` (202, progress in `GET /v1/definitions`).
    func applyDefinitions(_ request: Request, _ query: [String: String]) async throws -> Response {
        let wait: Bool
        switch query["wait"] {
        case nil, "true": wait = true
        case "false": wait = false
        case let other?:
            throw APIError(.badRequest, "invalid_argument", "wait must be true or false, not '\(other.prefix(32))'")
        }
        switch request.mediaType {
        // curl -d sends application/x-www-form-urlencoded: the body is still the file, as for events.
        case nil, "application/yaml", "application/x-yaml", "text/yaml", "application/json", "text/plain",
            "application/x-www-form-urlencoded":
            break
        case let other?:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(other) is not accepted: send the definitions file as application/yaml or application/json"
            )
        }
        let body = try await request.collectBody(limit: limits.maxBodyBytes)
        guard let text = String(validating: body, as: UTF8.self) else {
            throw APIError(.badRequest, "invalid_definitions", "the definitions are not valid UTF-8")
        }
        let definitions: Definitions
        do {
            definitions = try DefinitionsLoader.load(text: text, source: "request body")
        } catch {
            throw APIError(.unprocessableContent, "invalid_definitions", error.description)
        }
        let report = try await store.apply(definitions, waitUntilServed: wait)
        var json = JSONOutput()
        json.object { json in
            json.member("status") { $0.string(report.servedFrom == nil ? "backfilling" : "served") }
            json.member("version") { $0.number(report.version) }
            json.member("previous_version") { $0.number(report.previousVersion) }
            json.member("changed") { $0.bool(report.changed) }
            json.member("served_from_lsn") { json in
                if let lsn = report.servedFrom { json.number(lsn.rawValue) } else { json.null() }
            }
            Self.strings("backfilled_views", report.backfilledViews, into: &json)
            json.member("replayed_events") { $0.number(report.replayedEvents) }
        }
        return .json(json.bytes, status: report.servedFrom == nil ? .accepted : .ok)
    }

    private static func write(_ progress: DefinitionsProgress, into json: inout JSONOutput) {
        json.object { json in
            json.member("version") { $0.number(progress.version) }
            json.member("target_lsn") { $0.number(progress.target.rawValue) }
            json.member("next_lsn") { $0.number(progress.next.rawValue) }
            json.member("replayed_events") { $0.number(progress.replayedEvents) }
        }
    }

    private static func write(_ definitions: Definitions, versions: CatalogVersions, into json: inout JSONOutput) {
        json.member("settings") { json in
            json.object { json in
                json.member("max_future_ms") { $0.number(definitions.settings.maxFuture) }
                json.member("retention_ms") { $0.number(definitions.settings.retention) }
            }
        }
        json.member("outcomes") { json in
            json.array { json in for outcome in definitions.outcomes { json.element { $0.string(outcome) } } }
        }
        list("entities", definitions.entities, into: &json) { entity, json in
            json.member("name") { $0.string(entity.name) }
            json.member("key") { $0.string(entity.keyType.rawValue) }
            catalog(entity.catalog, version: versions.entities[entity.name], into: &json)
        }
        list("events", definitions.events, into: &json) { event, json in
            json.member("name") { $0.string(event.name) }
            json.member("id") { $0.string(event.idField) }
            json.member("time") { $0.string(event.timeField) }
            json.member("lateness_ms") { $0.number(event.lateness) }
            list("fields", event.fields, into: &json) { field, json in
                json.member("name") { $0.string(field.name) }
                json.member("type") { $0.string(field.type.description) }
            }
            catalog(event.catalog, version: versions.events[event.name], into: &json)
        }
        list("views", definitions.views, into: &json) { view, json in
            json.member("name") { $0.string(view.name) }
            json.member("entity") { $0.string(view.entity) }
            list("from", view.sources, into: &json) { source, json in
                json.member("event") { $0.string(source.eventType) }
                json.member("value") { $0.optionalString(source.value) }
            }
            json.member("aggregate") { $0.string(view.aggregate.rawValue) }
            json.member("argument") { $0.optionalString(view.argument) }
            json.member("where") { $0.optionalString(view.filter) }
            strings("windows", view.windows.map(\.description), into: &json)
            strings("served_names", view.servedNames, into: &json)
            catalog(view.catalog, version: versions.views[view.name], into: &json)
        }
        list("lists", definitions.lists, into: &json) { item, json in
            json.member("name") { $0.string(item.name) }
            json.member("of") { json in
                json.object { json in
                    switch item.of {
                    case .entity(let entity): json.member("entity") { $0.string(entity) }
                    case .scalar(let type): json.member("type") { $0.string(type.rawValue) }
                    }
                }
            }
            catalog(item.catalog, version: versions.lists[item.name], into: &json)
        }
        list("flags", definitions.flags, into: &json) { flag, json in
            json.member("name") { $0.string(flag.name) }
            json.member("entity") { $0.string(flag.entity) }
            json.member("set_when") { json in
                if let setWhen = flag.setWhen { json.string(setWhen) } else { json.null() }
            }
            strings("on", flag.on, into: &json)
            json.member("for_ms") { json in if let ms = flag.duration { json.number(ms) } else { json.null() } }
            catalog(flag.catalog, version: versions.flags[flag.name], into: &json)
        }
        list("rules", definitions.rules, into: &json) { rule, json in
            json.member("name") { $0.string(rule.name) }
            json.member("when") { $0.string(rule.when) }
            json.member("outcome") { $0.string(rule.outcome) }
            catalog(rule.catalog, version: versions.rules[rule.name], into: &json)
        }
    }

    /// `"name":[{…},…]`, each element an object whose members `body` writes.
    private static func list<Item>(
        _ name: String, _ items: [Item], into json: inout JSONOutput, _ body: (Item, inout JSONOutput) -> Void
    ) {
        json.member(name) { json in
            json.array { json in
                for item in items { json.element { json in json.object { body(item, &$0) } } }
            }
        }
    }

    private static func strings(_ name: String, _ values: [String], into json: inout JSONOutput) {
        json.member(name) { json in json.array { json in for value in values { json.element { $0.string(value) } } } }
    }

    /// The catalog metadata, and the item's version (``CatalogVersions``).
    private static func catalog(_ info: CatalogInfo, version: UInt32?, into json: inout JSONOutput) {
        json.member("version") { json in if let version { json.number(version) } else { json.null() } }
        json.member("description") { $0.optionalString(info.description) }
        json.member("owner") { $0.optionalString(info.owner) }
        strings("tags", info.tags, into: &json)
    }
}
