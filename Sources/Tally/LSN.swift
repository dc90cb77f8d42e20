/// A log sequence number: the position of a logged change. Dense: every accepted change takes
/// the next number, starting at 1; 0 means "nothing logged yet".
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    /// The LSN of an empty store.
    public static let zero = LSN(0)

    public static func < (a: LSN, b: LSN) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }

    /// The next LSN.
    public var next: LSN { LSN(rawValue + 1) }
}
