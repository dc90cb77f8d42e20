/// What a bearer token may do (SPEC §3). `admin` implies every role.
///
/// | role | grants |
/// |---|---|
/// | `ingest` | `POST /v1/events` |
/// | `read` | entities, vectors, `GET /v1/definitions` |
/// | `decide` | `POST /v1/decide` |
/// | `audit` | `GET /v1/decisions/{id}`, `POST /v1/decisions/{id}/replay` |
/// | `admin` | all of the above, `PUT /v1/definitions`, lists and flags (`/v1/lists/…`, `/v1/flags/…`), `/metrics` |
public enum Role: String, Sendable, Codable, CaseIterable {
    case ingest, read, decide, audit, admin

    /// Whether a token of this role may call an endpoint that requires `required`.
    ///
    /// ```swift
    /// Role.admin.grants(.ingest)   // true
    /// Role.read.grants(.ingest)    // false
    /// ```
    public func grants(_ required: Role) -> Bool { self == .admin || self == required }
}
