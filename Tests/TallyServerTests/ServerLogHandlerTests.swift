import Logging
import Synchronization
import Testing

@testable import TallyServer

@Suite("server log handler")
struct ServerLogHandlerTests {
    /// A text stream that keeps what was written.
    final class Lines: TextOutputStream, Sendable {
        let text = Mutex("")
        func write(_ string: String) { text.withLock { $0 += string } }
    }

    @Test("a logger's metadata is written with its messages; a message's own metadata wins; levels filter")
    func metadataAndLevels() {
        let lines = Lines()
        var logger = Logger(label: "tally.test") { label in
            ServerLogHandler(output: StreamLogHandler(label: label, stream: lines, metadataProvider: nil), level: .info)
        }
        logger[metadataKey: "hb.request.id"] = "r1"
        logger[metadataKey: "shared"] = "logger"
        logger.debug("hidden")
        logger.info("shown", metadata: ["shared": "message"])
        let text = lines.text.withLock { $0 }
        #expect(!text.contains("hidden"))
        #expect(text.contains("shown"))
        #expect(text.contains("hb.request.id=r1"))
        #expect(text.contains("shared=message"))
        #expect(!text.contains("shared=logger"))
        #expect(logger[metadataKey: "shared"] == "logger")
        #expect(logger.logLevel == .info)
    }
}
