/// A command failed for a reason outside its arguments (a server that does not answer, a file
/// that cannot be written): printed as `Error: <description>`, exit 1, without the usage text a
/// `ValidationError` brings.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
