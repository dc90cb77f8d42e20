/// Static types of the expression language. `any` is a value whose type is known only at run time
/// (a field of a decision request); it is accepted where any type is.
enum ExpressionType: String, Sendable, Equatable, CustomStringConvertible {
    case number, string, bool, timestamp, null, any

    var description: String { rawValue }

    init(_ scalar: ScalarType) {
        switch scalar {
        case .int, .decimal: self = .number
        case .string: self = .string
        case .bool: self = .bool
        case .timestamp: self = .timestamp
        }
    }

    /// Whether values of the two types can be compared or combined.
    func fits(_ other: ExpressionType) -> Bool {
        self == other || self == .any || other == .any || self == .null || other == .null
    }

    func fits(_ expected: ExpressionType...) -> Bool { expected.contains { fits($0) } }
}

/// What names mean where an expression stands.
struct ExpressionScope {
    /// Names and their types: event fields (filters, values), views and entity keys (flags, rules).
    var names: [String: ExpressionType] = [:]
    /// Lists usable with `in @list`, by member type.
    var lists: [String: ExpressionType] = [:]
    /// Flags usable with `flag(name)`.
    var flags: Set<String> = []
    /// Whether `flag(name)` may stand here at all (flags and rules; not view filters).
    var allowsFlags = false
    /// Whether `request.<field>` is allowed (rules).
    var allowsRequest = false
    /// For messages: "fields of authorization", "views of card".
    var describeNames = "names"
}

/// Type-checks an ``Expression`` in a scope (load time: a bad expression is a load error with its
/// position, never a run-time failure).
enum ExpressionChecker {
    static func type(of expression: Expression, in scope: ExpressionScope) throws(ExpressionError) -> ExpressionType {
        switch expression {
        case .literal(let value):
            switch value {
            case .null: return .null
            case .bool: return .bool
            case .number: return .number
            case .string: return .string
            case .timestamp: return .timestamp
            }
        case .name(let name, let offset):
            guard let type = scope.names[name] else {
                let known = scope.names.keys.sorted().prefix(12).joined(separator: ", ")
                throw ExpressionError(
                    offset: offset, message: "unknown name '\(name)' (\(scope.describeNames): \(known))")
            }
            return type
        case .requestField(let field, let offset):
            guard scope.allowsRequest else {
                throw ExpressionError(offset: offset, message: "request.\(field): request fields exist only in rules")
            }
            return .any
        case .flag(let name, let offset):
            guard scope.flags.contains(name) else {
                throw ExpressionError(
                    offset: offset,
                    message: scope.allowsFlags
                        ? "unknown flag '\(name)' (declared: \(scope.flags.isEmpty ? "none" : scope.flags.sorted().joined(separator: ", ")))"
                        : "flag( ) is not available here")
            }
            return .bool
        case .unary(let op, let operand):
            let type = try self.type(of: operand, in: scope)
            switch op {
            case .negate, .plus:
                guard type.fits(.number) else {
                    throw ExpressionError(
                        offset: start(operand), message: "'\(op.rawValue)' needs a number, not \(type)")
                }
                return .number
            case .not:
                guard type.fits(.bool) else {
                    throw ExpressionError(offset: start(operand), message: "'not' needs a condition, not \(type)")
                }
                return .bool
            }
        case .binary(let op, let left, let right, let offset):
            let l = try self.type(of: left, in: scope)
            let r = try self.type(of: right, in: scope)
            if op.isArithmetic {
                if l == .timestamp || r == .timestamp {
                    // timestamp ± number → timestamp; timestamp − timestamp → number (ms)
                    if op == .subtract && l == .timestamp && r == .timestamp { return .number }
                    if (op == .add || op == .subtract) && l == .timestamp && r.fits(.number) { return .timestamp }
                    if op == .add && r == .timestamp && l.fits(.number) { return .timestamp }
                }
                guard l.fits(.number) && r.fits(.number) else {
                    throw ExpressionError(offset: offset, message: "'\(op.rawValue)' needs numbers, not \(l) and \(r)")
                }
                return .number
            }
            if op == .and || op == .or {
                guard l.fits(.bool) && r.fits(.bool) else {
                    throw ExpressionError(
                        offset: offset, message: "'\(op.rawValue)' needs conditions, not \(l) and \(r)")
                }
                return .bool
            }
            guard l.fits(r) else {
                throw ExpressionError(offset: offset, message: "cannot compare \(l) with \(r)")
            }
            if op != .equal && op != .notEqual && (l == .bool || r == .bool) {
                throw ExpressionError(offset: offset, message: "'\(op.rawValue)' does not order booleans")
            }
            return .bool
        case .inList(let element, let list, let offset):
            let type = try self.type(of: element, in: scope)
            guard let member = scope.lists[list] else {
                throw ExpressionError(
                    offset: offset,
                    message: scope.lists.isEmpty ? "lists are not available here" : "unknown list '@\(list)'")
            }
            guard type.fits(member) else {
                throw ExpressionError(offset: offset, message: "@\(list) holds \(member) values, not \(type)")
            }
            return .bool
        case .inLiterals(let element, let values):
            let type = try self.type(of: element, in: scope)
            for value in values {
                let literal = try self.type(of: .literal(value), in: scope)
                guard type.fits(literal) else {
                    throw ExpressionError(
                        offset: start(element), message: "'in' compares \(type) with a \(literal) literal")
                }
            }
            return .bool
        case .coalesce(let arguments):
            var result = ExpressionType.null
            for argument in arguments {
                let type = try self.type(of: argument, in: scope)
                guard result.fits(type) else {
                    throw ExpressionError(offset: start(argument), message: "coalesce mixes \(result) and \(type)")
                }
                if result == .null || result == .any { result = type }
            }
            return result
        }
    }

    /// Checks a condition (`where`, `set_when`, `when`): it must be a boolean.
    static func checkCondition(_ expression: Expression, in scope: ExpressionScope) throws(ExpressionError) {
        let type = try type(of: expression, in: scope)
        guard type.fits(.bool) else {
            throw ExpressionError(offset: 0, message: "a condition must be true or false, not \(type)")
        }
    }

    /// The first character offset of an expression, for messages.
    static func start(_ expression: Expression) -> Int {
        switch expression {
        case .name(_, let offset), .requestField(_, let offset), .flag(_, let offset): offset
        case .binary(_, let left, _, _), .inList(let left, _, _), .inLiterals(let left, _): start(left)
        case .unary(_, let operand): max(0, start(operand) - 1)
        case .coalesce(let arguments): arguments.first.map(start) ?? 0
        case .literal: 0
        }
    }
}
