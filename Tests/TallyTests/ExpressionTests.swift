import Foundation
import Testing

@testable import Tally

@Suite struct ExpressionParserTests {
    @Test func precedenceIsOrAndNotComparisonAdditiveMultiplicative() throws {
        let parsed = try ExpressionParser.parse("a or b and not c > 1 + 2 * 3")
        guard case .binary(.or, .name("a", _), let right, _) = parsed,
            case .binary(.and, .name("b", _), .unary(.not, let comparison), _) = right,
            case .binary(.greater, .name("c", _), .binary(.add, _, .binary(.multiply, _, _, _), _), _) = comparison
        else {
            Issue.record("unexpected tree: \(parsed)")
            return
        }
    }

    @Test func parsesEveryForm() throws {
        _ = try ExpressionParser.parse("card_exposure + request.amount > 5000")
        _ = try ExpressionParser.parse("card in @blocked_cards")
        _ = try ExpressionParser.parse("flag(velocity_hold)")
        _ = try ExpressionParser.parse("coalesce(mcc, 'none') in ('5411', \"5812\")")
        _ = try ExpressionParser.parse("-amount")
        _ = try ExpressionParser.parse("x != null and (y <= -1.5 or z >= 0.000001)")
    }

    @Test(arguments: [
        ("amount >", 8, "expected a value"), ("a = 1", 2, "'=' is not an operator"),
        ("'open", 0, "unterminated string"),
        ("a in (b)", 6, "takes literals"), ("foo(1)", 0, "unknown function"), ("a and", 5, "expected a value"),
        ("@list", 0, "can only follow 'in'"), ("a # b", 2, "unexpected character"), ("(a", 2, "expected ')'"),
        ("1234567890123456789", 0, "out of range"),
    ])
    func syntaxErrorsSayWhereAndWhat(_ text: String, _ offset: Int, _ fragment: String) {
        #expect {
            try ExpressionParser.parse(text)
        } throws: { error in
            guard let error = error as? ExpressionError else { return false }
            return error.offset == offset && error.message.contains(fragment)
        }
    }
}

@Suite struct ExpressionCheckerTests {
    let scope = ExpressionScope(
        names: ["amount": .number, "country": .string, "ts": .timestamp, "approved": .bool, "mcc": .string],
        lists: ["risky": .string], flags: ["hold"], allowsFlags: true, allowsRequest: true, describeNames: "fields")

    @Test(arguments: [
        "amount > 10", "country == 'FR' and not approved", "coalesce(mcc, 'x') in ('a', 'b')", "country in @risky",
        "flag(hold) or request.amount > 1", "ts - ts > 1000", "amount * 2 / 3 >= -1", "mcc == null",
    ])
    func wellTypedConditionsPass(_ text: String) throws {
        try ExpressionChecker.checkCondition(try ExpressionParser.parse(text), in: scope)
    }

    @Test(arguments: [
        ("amount > 'ten'", "cannot compare"), ("country + 1 > 0", "needs numbers"), ("amount", "must be true or false"),
        ("nope > 1", "unknown name 'nope'"), ("amount in @risky", "holds string"), ("flag(other)", "unknown flag"),
        ("approved < true", "does not order"), ("not amount", "needs a condition"),
        ("amount in ('a')", "compares number"),
    ])
    func illTypedExpressionsAreRejected(_ text: String, _ fragment: String) throws {
        let expression = try ExpressionParser.parse(text)
        #expect {
            try ExpressionChecker.checkCondition(expression, in: scope)
        } throws: { ($0 as? ExpressionError)?.message.contains(fragment) == true }
    }

    @Test func requestFieldsExistOnlyWhereAllowed() throws {
        var noRequest = scope
        noRequest.allowsRequest = false
        #expect(throws: ExpressionError.self) {
            try ExpressionChecker.checkCondition(try ExpressionParser.parse("request.amount > 1"), in: noRequest)
        }
    }
}

@Suite struct ExpressionEvaluatorTests {
    func evaluate(_ text: String, _ names: [String: ExpressionValue] = [:]) throws -> ExpressionValue {
        var evaluator = ExpressionEvaluator()
        evaluator.name = { names[$0] ?? .null }
        evaluator.listContains = { list, value in list == "risky" && value == .string("NG") }
        return evaluator.evaluate(try ExpressionParser.parse(text))
    }

    @Test func arithmeticIsExact() throws {
        #expect(try evaluate("0.1 + 0.2 == 0.3") == .bool(true))
        #expect(try evaluate("1 / 3") == .number(micros: 333_333))
        #expect(try evaluate("2 / 3") == .number(micros: 666_667))
        #expect(try evaluate("0.000001 / 2") == .number(micros: 0), "half-even: 0.5 micro rounds to 0")
        #expect(try evaluate("0.000003 / 2") == .number(micros: 2), "1.5 micro rounds half-even to 2")
        #expect(
            try evaluate("amount * 2", ["amount": .decimal(try ExactDecimal(parsing: "12.25"))])
                == .number(micros: 24_500_000))
        #expect(try evaluate("1 / 0") == .null, "division by zero is null, never a crash")
    }

    @Test func nullSemanticsAreThreeValued() throws {
        #expect(try evaluate("x > 1") == .null)
        #expect(try evaluate("x + 1") == .null)
        #expect(try evaluate("x > 1 and false") == .bool(false))
        #expect(try evaluate("x > 1 and true") == .null)
        #expect(try evaluate("x > 1 or true") == .bool(true))
        #expect(try evaluate("x > 1 or false") == .null)
        #expect(try evaluate("not (x > 1)") == .null)
        #expect(try evaluate("coalesce(x, 7)") == .integer(7))
        #expect(try evaluate("x in ('a')") == .null)
        #expect(try evaluate("x == null") == .null, "comparing with null is null; use coalesce")
        var evaluator = ExpressionEvaluator()
        evaluator.name = { _ in .null }
        #expect(evaluator.holds(try ExpressionParser.parse("x > 1")) == false, "a null condition does not hold")
    }

    @Test func listsLiteralsAndStrings() throws {
        #expect(try evaluate("country in @risky", ["country": .string("NG")]) == .bool(true))
        #expect(try evaluate("country in @risky", ["country": .string("FR")]) == .bool(false))
        #expect(try evaluate("country in ('FR', 'DE')", ["country": .string("DE")]) == .bool(true))
        #expect(try evaluate("reason != 'insufficient_funds'", ["reason": .string("expired_card")]) == .bool(true))
        #expect(try evaluate("'a' < 'b'") == .bool(true))
    }
}

@Suite struct DefinitionsExpressionTests {
    @Test func aBadExpressionIsALoadErrorWithItsPosition() throws {
        let text = """
            entities:
              card: { key: string }
            events:
              auth: { id: t, time: ts, fields: { t: string, card: string, amount: decimal } }
            views:
              n: { entity: card, from: auth, aggregate: count, window: 60s, where: "amount > 10 and amont < 5" }
            """
        #expect {
            try DefinitionsLoader.load(text: text)
        } throws: { error in
            guard let issue = (error as? DefinitionsError)?.issues.first else { return false }
            // The quote opens at column 72; `amont` is 16 characters into the expression: column 89,
            // exactly where `amont` stands on line 6.
            return issue.path == "views.n.where" && issue.line == 6 && issue.column == 72 + 1 + 16
                && issue.message.contains("unknown name 'amont'")
        }
    }

    @Test func theExampleDefinitionsTypeCheck() throws {
        let definitions = try DefinitionsLoader.load(
            path: CommandLineTests.packageRoot.appendingPathComponent("Examples/cards.yaml").path)
        #expect(definitions.rules.count == 4)
    }
}
