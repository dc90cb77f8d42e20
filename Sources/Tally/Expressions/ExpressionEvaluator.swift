/// Evaluates type-checked expressions with SQL-like null semantics:
/// - arithmetic, comparisons and `in` with a null operand give null;
/// - `and` is false if either side is false, else null if either is null; `or` is true if either
///   side is true, else null if either is null; `not null` is null;
/// - a condition holds only when it is true (null counts as not holding);
/// - numbers are exact (micro-units in 128 bits); `*` and `/` round half-even to 6 decimals;
///   division by zero and overflow give null, never a crash.
struct ExpressionEvaluator {
    /// Resolves names, request fields, flags and list membership for one evaluation.
    var name: (String) -> ExpressionValue = { _ in .null }
    var request: (String) -> ExpressionValue = { _ in .null }
    var flag: (String) -> Bool = { _ in false }
    var listContains: (String, ExpressionValue) -> Bool = { _, _ in false }

    func holds(_ expression: Expression) -> Bool {
        evaluate(expression) == .bool(true)
    }

    func evaluate(_ expression: Expression) -> ExpressionValue {
        switch expression {
        case .literal(let value): return value
        case .name(let name, _): return self.name(name)
        case .requestField(let field, _): return request(field)
        case .flag(let name, _): return .bool(flag(name))
        case .unary(let op, let operand):
            let value = evaluate(operand)
            switch (op, value) {
            case (.negate, .number(let micros)): return .number(micros: -micros)
            case (.plus, .number): return value
            case (.not, .bool(let flag)): return .bool(!flag)
            default: return .null
            }
        case .binary(.and, let left, let right, _):
            let (l, r) = (evaluate(left), evaluate(right))
            if l == .bool(false) || r == .bool(false) { return .bool(false) }
            if l == .bool(true) && r == .bool(true) { return .bool(true) }
            return .null
        case .binary(.or, let left, let right, _):
            let (l, r) = (evaluate(left), evaluate(right))
            if l == .bool(true) || r == .bool(true) { return .bool(true) }
            if l == .bool(false) && r == .bool(false) { return .bool(false) }
            return .null
        case .binary(let op, let left, let right, _):
            let (l, r) = (evaluate(left), evaluate(right))
            if l == .null || r == .null { return .null }
            return op.isArithmetic ? Self.arithmetic(op, l, r) : Self.compare(op, l, r)
        case .inList(let element, let list, _):
            let value = evaluate(element)
            return value == .null ? .null : .bool(listContains(list, value))
        case .inLiterals(let element, let values):
            let value = evaluate(element)
            return value == .null ? .null : .bool(values.contains(value))
        case .coalesce(let arguments):
            for argument in arguments {
                let value = evaluate(argument)
                if value != .null { return value }
            }
            return .null
        }
    }

    static func arithmetic(_ op: BinaryOperator, _ l: ExpressionValue, _ r: ExpressionValue) -> ExpressionValue {
        switch (l, r) {
        case (.number(let a), .number(let b)):
            switch op {
            case .add: return checked(a.addingReportingOverflow(b))
            case .subtract: return checked(a.subtractingReportingOverflow(b))
            case .multiply:
                let product = a.multipliedReportingOverflow(by: b)
                return product.overflow
                    ? .null : .number(micros: roundHalfEven(product.partialValue, dividedBy: 1_000_000))
            case .divide:
                guard b != 0 else { return .null }
                let scaled = a.multipliedReportingOverflow(by: 1_000_000)
                return scaled.overflow ? .null : .number(micros: roundHalfEven(scaled.partialValue, dividedBy: b))
            default: return .null
            }
        case (.timestamp(let t), .number(let n)) where op == .add || op == .subtract:
            let delta = Int64(clamping: n / 1_000_000)  // a number of ms
            return .timestamp(op == .add ? t &+ delta : t &- delta)
        case (.number(let n), .timestamp(let t)) where op == .add:
            return .timestamp(t &+ Int64(clamping: n / 1_000_000))
        case (.timestamp(let a), .timestamp(let b)) where op == .subtract:
            return .integer(a &- b)
        default:
            return .null
        }
    }

    private static func checked(_ result: (partialValue: Int128, overflow: Bool)) -> ExpressionValue {
        result.overflow ? .null : .number(micros: result.partialValue)
    }

    /// `value / divisor` rounded half-even.
    static func roundHalfEven(_ value: Int128, dividedBy divisor: Int128) -> Int128 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        let twice = remainder.magnitude * 2
        let divisorMagnitude = divisor.magnitude
        guard twice >= divisorMagnitude else { return quotient }
        let awayFromZero: Int128 = (value < 0) != (divisor < 0) ? -1 : 1
        if twice > divisorMagnitude || quotient % 2 != 0 { return quotient + awayFromZero }
        return quotient
    }

    static func compare(_ op: BinaryOperator, _ l: ExpressionValue, _ r: ExpressionValue) -> ExpressionValue {
        let order: Int?
        switch (l, r) {
        case (.number(let a), .number(let b)): order = a < b ? -1 : (a == b ? 0 : 1)
        case (.string(let a), .string(let b)): order = a < b ? -1 : (a == b ? 0 : 1)
        case (.timestamp(let a), .timestamp(let b)): order = a < b ? -1 : (a == b ? 0 : 1)
        case (.bool(let a), .bool(let b)): order = a == b ? 0 : nil
        default: order = nil
        }
        guard let order else { return op == .notEqual ? .bool(true) : (op == .equal ? .bool(false) : .null) }
        switch op {
        case .equal: return .bool(order == 0)
        case .notEqual: return .bool(order != 0)
        case .less: return .bool(order < 0)
        case .lessOrEqual: return .bool(order <= 0)
        case .greater: return .bool(order > 0)
        case .greaterOrEqual: return .bool(order >= 0)
        default: return .null
        }
    }
}
