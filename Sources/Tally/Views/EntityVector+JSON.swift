/// JSON text helpers shared by the engine and the server, so strings are escaped one way.
public enum JSONText {
    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, UTF-8
    /// as is.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// JSONText.appendString("a\"b", to: &out)   // "a\"b" with the quote escaped
    /// ```
    public static func appendString(_ text: String, to buffer: inout [UInt8]) {
        JSONWriter.appendString(text, to: &buffer)
    }
}

extension FeatureValue {
    /// Appends the value as JSON: decimals as numbers with their exact digits, timestamps as
    /// epoch ms, strings escaped.
    public func appendJSON(to buffer: inout [UInt8]) {
        switch self {
        case .null: buffer.append(contentsOf: "null".utf8)
        case .int(let value): buffer.append(contentsOf: String(value).utf8)
        case .decimal(let value): value.appendText(to: &buffer)
        case .string(let value): JSONWriter.appendString(value, to: &buffer)
        case .bool(let value): buffer.append(contentsOf: (value ? "true" : "false").utf8)
        case .timestamp(let value): buffer.append(contentsOf: String(value).utf8)
        }
    }
}

extension SnapshotToken {
    /// Appends `{"lsn":…,"at":…,"definitions_version":…}`.
    public func appendJSON(to buffer: inout [UInt8]) {
        buffer.append(
            contentsOf: #"{"lsn":\#(lsn.rawValue),"at":\#(at),"definitions_version":\#(definitionsVersion)}"#.utf8)
    }

    /// Parses a time given as epoch milliseconds or RFC 3339 text (the `at` of a read).
    ///
    /// ```swift
    /// try SnapshotToken.parseTime("2026-12-01T08:00:00Z")   // 1796112000000
    /// ```
    public static func parseTime(_ text: String) throws(TallyError) -> Int64 {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let ms = Int64(text), ms <= Timestamp.maximum else {
                throw TallyError(.invalidArgument, "time \(text.prefix(40)) is after year 9999")
            }
            return ms
        }
        do throws(Timestamp.ParseError) {
            return try Timestamp.parse(rfc3339: text)
        } catch {
            throw TallyError(
                .invalidArgument, "'\(text.prefix(64))' is not a time: give epoch milliseconds ≥ 0 or RFC 3339 text")
        }
    }
}

extension EntityVector {
    /// Appends the vector as JSON: `{"entity":…,"key":…,"views":{name: value, …},"flags":{name:
    /// bool, …},"lists":{name: bool, …}}`, with `"snapshot":{…}` last when `token` is given.
    ///
    /// The JSON is a function of the token alone, so one token always gives the same bytes
    /// (SPEC §2). Whether the values were recomputed from the log (``recomputed``) depends on what
    /// was ingested since, so it is not part of it: the server reports it in the
    /// `Tally-Recomputed` header.
    ///
    /// ```swift
    /// var json: [UInt8] = []
    /// vector.appendJSON(to: &json, token: token)
    /// ```
    public func appendJSON(to buffer: inout [UInt8], token: SnapshotToken? = nil) {
        buffer.append(contentsOf: #"{"entity":"#.utf8)
        JSONWriter.appendString(entity, to: &buffer)
        buffer.append(contentsOf: #","key":"#.utf8)
        JSONWriter.appendString(key, to: &buffer)
        buffer.append(contentsOf: #","views":{"#.utf8)
        for (index, view) in views.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(view.name, to: &buffer)
            buffer.append(UInt8(ascii: ":"))
            view.value.appendJSON(to: &buffer)
        }
        for (section, marks) in [("flags", flags), ("lists", lists)] {
            buffer.append(contentsOf: #"},""#.utf8)
            buffer.append(contentsOf: section.utf8)
            buffer.append(contentsOf: #"":{"#.utf8)
            for (index, mark) in marks.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(mark.name, to: &buffer)
                buffer.append(contentsOf: (mark.holds ? ":true" : ":false").utf8)
            }
        }
        buffer.append(UInt8(ascii: "}"))
        if let token {
            buffer.append(contentsOf: #","snapshot":"#.utf8)
            token.appendJSON(to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }
}
