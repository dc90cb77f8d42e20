import Foundation
import Testing

@testable import Tally

/// SPEC §1: the JSON Schema in `Schemas/` and the loader agree. Every fixture under
/// `Tests/Fixtures/definitions/agreement/` goes through both `DefinitionsLoader` and Python's
/// `jsonschema` (via `Tools/schema-verdicts.py`, run once for all files); their verdicts must match,
/// and match the folder (`valid/`, `invalid/`). Fixtures under `semantic/` break rules only the
/// loader can check (references, ranges, collisions): the schema must accept them, the loader reject
/// them at the path their first line names (`# loader: views.v.window — …`).
///
/// Needs python3 with jsonschema and PyYAML: Tools/setup.sh installs them. Without them these tests
/// fail (they never skip).
@Suite struct DefinitionsSchemaTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let schemaPath = "Schemas/definitions.schema.json"
    static let toolPath = "Tools/schema-verdicts.py"
    static let fixturesPath = "Tests/Fixtures/definitions"

    static let validFixtures = fixtures(in: "agreement/valid")
    static let invalidFixtures = fixtures(in: "agreement/invalid")
    static let semanticFixtures = fixtures(in: "semantic")
    /// Agreement cases: the fixtures and the bundled example.
    static let agreementCases = validFixtures + invalidFixtures + ["Examples/cards.yaml"]

    /// Definitions files in a fixtures folder, as paths relative to the package root, sorted.
    static func fixtures(in folder: String) -> [String] {
        let directory = packageRoot.appendingPathComponent("\(fixturesPath)/\(folder)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { ["yaml", "yml", "json"].contains(($0 as NSString).pathExtension) }.sorted()
            .map { "\(fixturesPath)/\(folder)/\($0)" }
    }

    // MARK: The schema's verdicts (one python3 run for every file)

    struct SchemaVerdict: Decodable, Sendable {
        let file: String
        let valid: Bool
        let errors: [String]
    }

    /// Why the schema tool gave no verdicts; the test fails with this text.
    struct SchemaToolFailure: Error, CustomStringConvertible, Sendable {
        let description: String
    }

    /// The one python3 run, on a thread of its own (``offPool(_:)``): a static initialiser that ran
    /// it held the concurrency pool's threads (two on CI) while the parameterised cases waited.
    static let schemaRun = Task<Result<[String: SchemaVerdict], SchemaToolFailure>, Never> {
        do {
            return try await offPool { runSchemaTool(on: agreementCases + semanticFixtures) }
        } catch {
            return .failure(SchemaToolFailure(description: "\(error)"))
        }
    }

    static var schemaVerdicts: Result<[String: SchemaVerdict], SchemaToolFailure> {
        get async { await schemaRun.value }
    }

    static func runSchemaTool(on files: [String]) -> Result<[String: SchemaVerdict], SchemaToolFailure> {
        let setup = "run Tools/setup.sh to install python3 with jsonschema and PyYAML (this test never skips)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", toolPath, schemaPath] + files
        process.currentDirectoryURL = packageRoot
        let stdout = Pipe()
        // stderr goes to a file so a chatty failure can never block the pipe we read.
        let stderrPath = NSTemporaryDirectory() + "tally-schema-verdicts-\(UUID().uuidString).stderr"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: stderrPath) }
        guard let stderr = FileHandle(forWritingAtPath: stderrPath) else {
            return .failure(SchemaToolFailure(description: "cannot create \(stderrPath)"))
        }
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            return .failure(SchemaToolFailure(description: "cannot run python3 \(toolPath) (\(error)): \(setup)"))
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? stderr.close()
        let errors = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            return .failure(
                SchemaToolFailure(
                    description: "python3 \(toolPath) exited with status \(process.terminationStatus): "
                        + "\(errors.trimmingCharacters(in: .whitespacesAndNewlines)) — \(setup)"))
        }
        var verdicts: [String: SchemaVerdict] = [:]
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            guard let verdict = try? JSONDecoder().decode(SchemaVerdict.self, from: Data(line.utf8)) else {
                return .failure(
                    SchemaToolFailure(description: "\(toolPath) printed a line that is not a verdict: \(line)"))
            }
            verdicts[verdict.file] = verdict
        }
        return .success(verdicts)
    }

    static func schemaVerdict(_ file: String) async throws -> SchemaVerdict {
        let verdicts = try await schemaVerdicts.get()
        guard let verdict = verdicts[file] else {
            throw SchemaToolFailure(description: "\(toolPath) gave no verdict for \(file)")
        }
        return verdict
    }

    // MARK: The loader's verdicts

    struct LoaderVerdict {
        let valid: Bool
        let issues: [DefinitionIssue]
    }

    static func loaderVerdict(_ file: String) -> LoaderVerdict {
        do {
            _ = try DefinitionsLoader.load(path: packageRoot.appendingPathComponent(file).path)
            return LoaderVerdict(valid: true, issues: [])
        } catch let error as DefinitionsError {
            return LoaderVerdict(valid: false, issues: error.issues)
        } catch {
            return LoaderVerdict(valid: false, issues: [DefinitionIssue(path: "", message: "\(error)")])
        }
    }

    static func describe(_ verdict: SchemaVerdict) -> String {
        verdict.valid ? "valid" : "invalid (\(verdict.errors.joined(separator: " | ")))"
    }

    static func describe(_ verdict: LoaderVerdict) -> String {
        verdict.valid ? "valid" : "invalid (\(verdict.issues.map(\.description).joined(separator: " | ")))"
    }

    // MARK: Tests

    @Test func thereAreEnoughFixturesOfEveryKind() {
        #expect(Self.validFixtures.count >= 15, "valid fixtures: \(Self.validFixtures.count)")
        #expect(Self.invalidFixtures.count >= 20, "invalid fixtures: \(Self.invalidFixtures.count)")
        #expect(Self.validFixtures.count + Self.invalidFixtures.count >= 30, "SPEC §1 asks for at least 30")
        #expect(Self.semanticFixtures.count >= 8, "semantic fixtures: \(Self.semanticFixtures.count)")
        #expect(Self.validFixtures.contains { $0.hasSuffix(".json") }, "a valid JSON fixture")
        #expect(Self.invalidFixtures.contains { $0.hasSuffix(".json") }, "an invalid JSON fixture")
    }

    @Test func theSchemaToolGivesAVerdictForEveryFile() async throws {
        let verdicts = try await Self.schemaVerdicts.get()
        let files = Set(Self.agreementCases + Self.semanticFixtures)
        #expect(Set(verdicts.keys) == files)
    }

    @Test func theSchemaNamesItselfAndItsDraft() throws {
        let data = try Data(contentsOf: Self.packageRoot.appendingPathComponent(Self.schemaPath))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect((schema["$id"] as? String)?.isEmpty == false)
        #expect(schema["title"] as? String == "Tally definitions")
        #expect(schema["additionalProperties"] as? Bool == false)
        #expect(Set(schema["required"] as? [String] ?? []) == ["entities", "events"])
        #expect(Set((schema["properties"] as? [String: Any] ?? [:]).keys) == Set(DefinitionsParser.sections))
    }

    @Test(arguments: agreementCases)
    func loaderAndSchemaAgree(on file: String) async throws {
        let schema = try await Self.schemaVerdict(file)
        let loader = Self.loaderVerdict(file)
        #expect(
            loader.valid == schema.valid,
            "\(file): the loader says \(Self.describe(loader)); the schema says \(Self.describe(schema))")
        guard loader.valid == schema.valid else { return }
        let expected = !file.contains("/invalid/")
        #expect(
            loader.valid == expected,
            "\(file) is filed as \(expected ? "valid" : "invalid"), but both say \(Self.describe(loader))")
    }

    @Test(arguments: semanticFixtures)
    func onlyTheLoaderCatchesSemanticErrors(in file: String) async throws {
        let schema = try await Self.schemaVerdict(file)
        let loader = Self.loaderVerdict(file)
        #expect(
            schema.valid,
            "\(file): the schema should accept it (only the loader can tell), but says \(Self.describe(schema))")
        #expect(!loader.valid, "\(file): the loader should reject it, but says valid")

        // The first line names the path of the loader's error: `# loader: views.v.window — …`.
        let text = try String(contentsOf: Self.packageRoot.appendingPathComponent(file), encoding: .utf8)
        let firstLine = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let prefix = "# loader: "
        #expect(firstLine.hasPrefix(prefix), "\(file) must start with '\(prefix)<path> — why'")
        guard firstLine.hasPrefix(prefix) else { return }
        let path = String(firstLine.dropFirst(prefix.count).prefix { !$0.isWhitespace })
        #expect(
            loader.issues.contains { $0.path == path },
            "\(file) names \(path), but the loader reported \(Self.describe(loader))")
    }
}
