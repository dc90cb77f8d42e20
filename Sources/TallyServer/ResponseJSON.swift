import Tally

/// The API's JSON for values other modules print too (`tally get` prints exactly what
/// `GET /v1/entities/{entity}/{key}` answers).
///
/// ```swift
/// let bytes = ResponseJSON.vector(vector, snapshot: token)
/// ```
public enum ResponseJSON {
    /// `{"entity":…,"key":…,"views":{…},"recomputed":…,"snapshot":{…}}`
    public static func vector(_ vector: EntityVector, snapshot: SnapshotToken) -> [UInt8] {
        var json = JSONOutput()
        TallyServer.write(vector, snapshot: snapshot, into: &json)
        return json.bytes
    }

    /// Parses a read's `at`: epoch milliseconds or RFC 3339 text; nil if it is neither.
    public static func time(_ text: String) -> Int64? { try? ReadPoint.at(text: text) }
}
