/// A parsed expression of the definitions language (SPEC §1): filters (`where`), values (`+amount`),
/// flag conditions (`set_when`) and rules (`when`) all use it.
///
/// ```
/// reason != 'insufficient_funds'
/// card_exposure + request.amount > 5000
/// card_txn_count_60s >= 3 and request.country in @risky_countries
/// coalesce(mcc, 'none') in ('5411', '5812')
/// ```
indirect enum Expression: Sendable, Equatable {
    case literal(ExpressionValue)
    /// A name: an event field, a view, or an entity key, depending on where the expression is.
    case name(String, offset: Int)
    /// `request.<field>` in rules.
    case requestField(String, offset: Int)
    /// `flag(name)`.
    case flag(String, offset: Int)
    case unary(UnaryOperator, Expression)
    case binary(BinaryOperator, Expression, Expression, offset: Int)
    /// `x in @list`.
    case inList(Expression, list: String, offset: Int)
    /// `x in (a, b, …)` over literals.
    case inLiterals(Expression, [ExpressionValue])
    /// `coalesce(a, b, …)`: the first non-null.
    case coalesce([Expression])
}

enum UnaryOperator: String, Sendable {
    case negate = "-"
    case plus = "+"
    case not
}

enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case and, or

    var isArithmetic: Bool { [.add, .subtract, .multiply, .divide].contains(self) }
    var isComparison: Bool { [.equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual].contains(self) }
}

/// A value of the expression language. Numbers are exact: int and decimal values are held as
/// micro-units (10⁻⁶) in 128 bits.
enum ExpressionValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(micros: Int128)
    case string(String)
    /// Epoch milliseconds.
    case timestamp(Int64)

    static func integer(_ value: Int64) -> ExpressionValue { .number(micros: Int128(value) * 1_000_000) }
    static func decimal(_ value: ExactDecimal) -> ExpressionValue { .number(micros: value.micros) }
}

/// A syntax or type error in one expression; `offset` is the character position in its text.
struct ExpressionError: Error, Equatable, Sendable, CustomStringConvertible {
    var offset: Int
    var message: String
    var description: String { "at character \(offset + 1): \(message)" }
}
