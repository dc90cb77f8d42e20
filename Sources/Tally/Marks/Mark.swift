/// What a list membership or a flag is: a named set of keys, each with a validity interval of
/// event time (docs/LISTS.md).
public enum MarkKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// A member of a list (`lists:` in the definitions).
    case list = 1
    /// A flag on an entity (`flags:` in the definitions).
    case flag = 2

    public var description: String {
        switch self {
        case .list: "list"
        case .flag: "flag"
        }
    }
}

/// One change of a key's list membership or flag (docs/LISTS.md, "Model"): the interval of event
/// time it painted, `[from, until)`, and whether it painted it true (an add or a set) or false (a
/// remove or a clear, whose interval is `[at, ∞)`). Reads report the change that decides them.
public struct MarkState: Sendable, Hashable {
    /// The LSN of the change that set this interval; nil when the key was never added or set.
    public let changedAt: LSN?
    /// Start of the validity interval, epoch ms (inclusive); nil when never set.
    public let from: Int64?
    /// End of the validity interval, epoch ms (exclusive); nil when open-ended or never set.
    public let until: Int64?
    /// Whether the change added (set) the key, rather than removed (cleared) it.
    public let added: Bool

    static let never = MarkState(changedAt: nil, from: nil, until: nil, added: false)

    /// Whether this change paints the key true at event time `time`: an add or set with
    /// `from ≤ time < until`. (Whether the key holds at a read point is the read's answer: a later
    /// change may cover the same time.)
    public func holds(at time: Int64) -> Bool {
        guard let from, changedAt != nil, added else { return false }
        return from <= time && time < (until ?? Int64.max)
    }
}

/// What one list or flag change did (``Tally/addListMember(_:member:from:until:)`` and the others).
public struct MarkChangeReport: Sendable, Hashable {
    /// The canonical key (an entity key as vectors name it).
    public let member: String
    /// False when the change would not have changed anything (the member already held that
    /// interval, or was never added); such a request is not logged and takes no LSN.
    public let changed: Bool
    /// The LSN of the logged change; nil when nothing changed.
    public let lsn: LSN?
    /// The state after the request.
    public let state: MarkState
}

/// The stored form of marks in the `marks` database.
///
/// Key: kind (1) · name length (1) · name (UTF-8) · member (``ViewStateKey/entity(_:)`` form:
/// tag, then length and UTF-8 or 8 order-preserving bytes) · LSN (8, big-endian). Value: what the
/// change left (``MarkEntry``). The newest entry at or before an LSN is one backward seek.
enum MarkKey {
    static func prefix(_ kind: MarkKind, _ name: String) -> [UInt8] {
        var key: [UInt8] = [kind.rawValue, UInt8(name.utf8.count)]
        key.append(contentsOf: name.utf8)
        return key
    }

    static func member(_ kind: MarkKind, _ name: String, _ member: [UInt8]) -> [UInt8] {
        prefix(kind, name) + member
    }

    static func entry(_ memberKey: [UInt8], lsn: UInt64) -> [UInt8] {
        var key = memberKey
        BigEndian.append(lsn, to: &key)
        return key
    }

    /// The encoded member at the start of `bytes` (after the prefix), and its length; nil if
    /// malformed.
    static func memberLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let tag = bytes.first else { return nil }
        switch tag {
        case 1:
            guard bytes.count >= 3 else { return nil }
            let length = Int(bytes[1]) << 8 | Int(bytes[2])
            return bytes.count >= 3 + length ? 3 + length : nil
        case 2:
            return bytes.count >= 9 ? 9 : nil
        default:
            return nil
        }
    }

    /// The member's text as vectors name it.
    static func memberText(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let length = memberLength(bytes) else { return nil }
        switch bytes[0] {
        case 1:
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[3..<length]), as: UTF8.self)
        default:
            let raw = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt64.self)) ^ (1 << 63)
            return String(Int64(bitPattern: raw))
        }
    }
}

/// The value of a `marks` entry: added (1) or removed (2), then `from` and `until` (8 bytes each,
/// big-endian; `until` = Int64.max when open-ended).
struct MarkEntry: Equatable {
    var added: Bool
    var from: Int64
    var until: Int64

    static let size = 17

    var bytes: [UInt8] {
        var out: [UInt8] = [added ? 1 : 2]
        BigEndian.append(from, to: &out)
        BigEndian.append(until, to: &out)
        return out
    }

    init(added: Bool, from: Int64, until: Int64) {
        self.added = added
        self.from = from
        self.until = until
    }

    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == Self.size, raw[0] == 1 || raw[0] == 2 else { return nil }
        added = raw[0] == 1
        from = Int64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: Int64.self))
        until = Int64(bigEndian: raw.loadUnaligned(fromByteOffset: 9, as: Int64.self))
    }

    func state(lsn: UInt64) -> MarkState {
        MarkState(changedAt: LSN(lsn), from: from, until: until == Int64.max ? nil : until, added: added)
    }
}
