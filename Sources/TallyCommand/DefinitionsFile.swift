import ArgumentParser
import Foundation
import Tally

/// Loading a definitions file for a command: every problem goes to standard error with its
/// position, and the command exits with status 1 (the documented status for invalid definitions).
enum DefinitionsFile {
    static func load(_ path: String) throws -> Definitions {
        do {
            return try DefinitionsLoader.load(path: path)
        } catch let error as DefinitionsError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
