import TallyLMDB

// Small, additive accessors the HTTP server (module TallyServer) needs. Kept in one file so the
// engine can move under it: each one only reads existing state. (`servedDefinitions` and
// `servedDefinitionsVersion` moved to Store/Tally+Definitions.swift on main.)

extension Tally {
    /// Why the store accepts no writes, or nil when it does: a store opened read-only, closed, or
    /// turned read-only by a failed commit or sync (``TallyError/Code/storeReadOnly``).
    ///
    /// ```swift
    /// let ready = store.writeRefusal == nil   // what `/readyz` reports
    /// ```
    public var writeRefusal: TallyError? {
        guard let writer else {
            return TallyError(.openedReadOnly, "the store at \(directory) was opened read-only")
        }
        guard let cause = writer.readOnlyCause else { return nil }
        return TallyError.fromStorage(WriterError.readOnly(cause: cause), path: directory)
    }

    /// Whether the map is being resized: reads wait until it is done (`/readyz` answers 503
    /// meanwhile rather than wait).
    public var isResizingMap: Bool { environment.isResizing }

    /// Write requests waiting for the writer thread (the write queue depth).
    public var pendingWrites: Int { writer?.pendingCount ?? 0 }

    /// Makes the next commit fail with `errno` as if `mdb_txn_commit` had (fault injection: the
    /// store turns read-only).
    @_spi(Testing)
    public func injectCommitFailure(errno: Int32) {
        writer?.injectCommitFailure(status: errno)
    }

    /// Keeps the writer from starting a new commit until the returned closure is called (tests of
    /// a full write queue).
    @_spi(Testing)
    public func pauseWriter() -> @Sendable () -> Void {
        guard let hold = writer?.hold() else { return {} }
        return { hold.release() }
    }
}

/// The engine's strict JSON parser (no NaN/Infinity, no duplicate keys, valid UTF-8 only, nesting
/// ≤ 32, numbers kept as text), for request bodies that are not events.
///
/// ```swift
/// let value = try StrictJSON.parse(Array(#"{"lsn": 12}"#.utf8))
/// ```
public enum StrictJSON {
    /// A parsed JSON value; numbers keep their exact text, objects their member order.
    public indirect enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(String)
        case string(String)
        case array([Value])
        case object([Member])
    }

    /// One object member.
    public struct Member: Sendable, Equatable {
        public let key: String
        public let value: Value
    }

    /// Parses exactly one JSON value; a syntax error is ``TallyError/Code/malformedJSON`` with the
    /// byte offset.
    public static func parse(_ bytes: [UInt8]) throws(TallyError) -> Value {
        do {
            return Value(try StrictJSONParser.parse(bytes))
        } catch {
            throw TallyError(.malformedJSON, error.description)
        }
    }
}

extension StrictJSON.Value {
    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let text): self = .number(text)
        case .string(let text): self = .string(text)
        case .array(let elements): self = .array(elements.map(Self.init))
        case .object(let members): self = .object(members.map { StrictJSON.Member(key: $0.key, value: Self($0.value)) })
        }
    }
}
