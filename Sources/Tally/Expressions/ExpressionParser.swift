/// Parses expression text into an ``Expression``: precedence, lowest first — `or`, `and`, `not`,
/// comparisons and `in`, `+ -`, `* /`, unary `- +`. Strings are quoted with ' or ".
struct ExpressionParser {
    private enum Token: Equatable {
        case number(String)
        case string(String)
        case word(String)
        case list(String)
        case symbol(String)
        case end
    }

    private var tokens: [(token: Token, offset: Int)] = []
    private var index = 0

    static func parse(_ text: String) throws(ExpressionError) -> Expression {
        var parser = ExpressionParser()
        parser.tokens = try tokenize(text)
        let expression = try parser.disjunction()
        guard case .end = parser.current else { throw parser.error("unexpected \(parser.describe(parser.current))") }
        return expression
    }

    private var current: Token { tokens[index].token }
    private var offset: Int { tokens[index].offset }
    private func error(_ message: String) -> ExpressionError { ExpressionError(offset: offset, message: message) }

    private func describe(_ token: Token) -> String {
        switch token {
        case .number(let text), .word(let text): "'\(text)'"
        case .string(let text): "string '\(text)'"
        case .list(let name): "'@\(name)'"
        case .symbol(let symbol): "'\(symbol)'"
        case .end: "end of expression"
        }
    }

    private mutating func accept(_ symbol: String) -> Bool {
        if case .symbol(symbol) = current {
            index += 1
            return true
        }
        return false
    }

    private mutating func acceptWord(_ word: String) -> Bool {
        if case .word(word) = current {
            index += 1
            return true
        }
        return false
    }

    private mutating func expect(_ symbol: String) throws(ExpressionError) {
        guard accept(symbol) else { throw error("expected '\(symbol)', found \(describe(current))") }
    }

    private mutating func disjunction() throws(ExpressionError) -> Expression {
        var left = try conjunction()
        while true {
            let at = offset
            guard acceptWord("or") else { return left }
            left = .binary(.or, left, try conjunction(), offset: at)
        }
    }

    private mutating func conjunction() throws(ExpressionError) -> Expression {
        var left = try negation()
        while true {
            let at = offset
            guard acceptWord("and") else { return left }
            left = .binary(.and, left, try negation(), offset: at)
        }
    }

    private mutating func negation() throws(ExpressionError) -> Expression {
        if acceptWord("not") { return .unary(.not, try negation()) }
        return try comparison()
    }

    private mutating func comparison() throws(ExpressionError) -> Expression {
        let left = try additive()
        let at = offset
        for symbol in ["==", "!=", "<=", ">=", "<", ">"] where accept(symbol) {
            return .binary(BinaryOperator(rawValue: symbol)!, left, try additive(), offset: at)
        }
        if acceptWord("in") {
            if case .list(let name) = current {
                index += 1
                return .inList(left, list: name, offset: at)
            }
            try expect("(")
            var values: [ExpressionValue] = []
            repeat {
                guard let value = literalValue() else {
                    throw error("'in ( … )' takes literals, found \(describe(current))")
                }
                values.append(value)
            } while accept(",")
            try expect(")")
            return .inLiterals(left, values)
        }
        return left
    }

    private mutating func additive() throws(ExpressionError) -> Expression {
        var left = try multiplicative()
        while true {
            let at = offset
            if accept("+") {
                left = .binary(.add, left, try multiplicative(), offset: at)
            } else if accept("-") {
                left = .binary(.subtract, left, try multiplicative(), offset: at)
            } else {
                return left
            }
        }
    }

    private mutating func multiplicative() throws(ExpressionError) -> Expression {
        var left = try unary()
        while true {
            let at = offset
            if accept("*") {
                left = .binary(.multiply, left, try unary(), offset: at)
            } else if accept("/") {
                left = .binary(.divide, left, try unary(), offset: at)
            } else {
                return left
            }
        }
    }

    private mutating func unary() throws(ExpressionError) -> Expression {
        if accept("-") { return .unary(.negate, try unary()) }
        if accept("+") { return .unary(.plus, try unary()) }
        return try primary()
    }

    /// A literal at the current token (number, string, true/false/null, or a signed number).
    private mutating func literalValue() -> ExpressionValue? {
        var negative = false
        let start = index
        if accept("-") { negative = true }
        switch current {
        case .number(let text):
            guard let decimal = try? ExactDecimal(parsing: text) else { break }
            index += 1
            return .number(micros: negative ? -decimal.micros : decimal.micros)
        case .string(let text) where !negative:
            index += 1
            return .string(text)
        case .word("true") where !negative:
            index += 1
            return .bool(true)
        case .word("false") where !negative:
            index += 1
            return .bool(false)
        case .word("null") where !negative:
            index += 1
            return .null
        default:
            break
        }
        index = start
        return nil
    }

    private mutating func primary() throws(ExpressionError) -> Expression {
        let at = offset
        switch current {
        case .number(let text):
            do {
                let value = try ExactDecimal(parsing: text)
                index += 1
                return .literal(.decimal(value))
            } catch {
                throw self.error("number \(text) is out of range (at most 18 digits, 6 after the point)")
            }
        case .string(let text):
            index += 1
            return .literal(.string(text))
        case .symbol("("):
            index += 1
            let inner = try disjunction()
            try expect(")")
            return inner
        case .list(let name):
            throw error("'@\(name)' can only follow 'in'")
        case .word(let word):
            index += 1
            switch word {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            case "and", "or", "not", "in":
                throw ExpressionError(offset: at, message: "'\(word)' needs an operand before it")
            case "request":
                try expect(".")
                guard case .word(let field) = current else { throw error("expected a field name after 'request.'") }
                index += 1
                return .requestField(field, offset: at)
            case "flag":
                try expect("(")
                guard case .word(let name) = current else { throw error("flag( ) takes a flag name") }
                index += 1
                try expect(")")
                return .flag(name, offset: at)
            case "coalesce":
                try expect("(")
                var arguments: [Expression] = []
                repeat { arguments.append(try disjunction()) } while accept(",")
                try expect(")")
                return .coalesce(arguments)
            default:
                if case .symbol("(") = current {
                    throw ExpressionError(offset: at, message: "unknown function '\(word)' (functions: coalesce, flag)")
                }
                return .name(word, offset: at)
            }
        default:
            throw error("expected a value, found \(describe(current))")
        }
    }

    private static func tokenize(_ text: String) throws(ExpressionError) -> [(token: Token, offset: Int)] {
        let chars = Array(text)
        var tokens: [(token: Token, offset: Int)] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
                continue
            }
            let start = i
            if c.isASCII && (c.isLetter || c == "_") {
                while i < chars.count, chars[i].isASCII, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" {
                    i += 1
                }
                tokens.append((.word(String(chars[start..<i])), start))
            } else if c.isASCII && c.isNumber {
                while i < chars.count, chars[i].isASCII, chars[i].isNumber || chars[i] == "." { i += 1 }
                tokens.append((.number(String(chars[start..<i])), start))
            } else if c == "'" || c == "\"" {
                i += 1
                var value = ""
                while i < chars.count, chars[i] != c {
                    value.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { throw ExpressionError(offset: start, message: "unterminated string") }
                i += 1
                tokens.append((.string(value), start))
            } else if c == "@" {
                i += 1
                while i < chars.count, chars[i].isASCII, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" {
                    i += 1
                }
                guard i > start + 1 else {
                    throw ExpressionError(offset: start, message: "'@' must be followed by a list name")
                }
                tokens.append((.list(String(chars[(start + 1)..<i])), start))
            } else {
                let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
                if ["==", "!=", "<=", ">="].contains(two) {
                    tokens.append((.symbol(two), start))
                    i += 2
                } else if "+-*/<>(),.".contains(c) {
                    tokens.append((.symbol(String(c)), start))
                    i += 1
                } else if c == "=" {
                    throw ExpressionError(offset: start, message: "'=' is not an operator: compare with '=='")
                } else {
                    throw ExpressionError(offset: start, message: "unexpected character '\(c)'")
                }
            }
        }
        tokens.append((.end, chars.count))
        return tokens
    }
}
