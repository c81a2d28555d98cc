import Logging
import Testing
import PortForwarding
@testable import PublishedRelay

/// Log lines quote what the kernel's table and files hold: one event stays one line, and no
/// control or bidi character reaches the journal or a terminal raw.
@Suite("The relay's log lines are escaped")
struct RelayLogEscapingTests {
    static let hostile = "8080/tcp -> 10.0.0.2:80 # \u{1b}[31mred\n<3>forged line\u{202e}"

    @Test("a newline in the message or in metadata cannot start a forged journal line", arguments: [true, false])
    func oneEventOneLine(journal: Bool) {
        let handler = RelayLogHandler(label: "nftfwd relay", journal: journal, write: { _ in })
        let line = handler.format(level: .warning, message: "cannot read \(Self.hostile)",
                                  metadata: ["comment": .string(Self.hostile), "k\ney": "v"])
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(!line.dropLast().unicodeScalars.contains(where: Untrusted.isUnsafe))
        #expect(line.contains("\\x1b[31mred\\n<3>forged line\\u{202e}"))
        #expect(line.contains(" k\\ney=v"))
    }

    @Test("text already escaped where it entered the message is not escaped twice")
    func noDoubleEscape() {
        let handler = RelayLogHandler(label: "nftfwd relay", journal: true, write: { _ in })
        let escaped = Untrusted.escape(Self.hostile)
        #expect(handler.format(level: .error, message: escaped, metadata: [:]) == "<3>" + escaped + "\n")
    }

    @Test("printable text, non-ASCII too, is logged as it is")
    func printableUntouched() {
        let handler = RelayLogHandler(label: "nftfwd relay", journal: false, write: { _ in })
        #expect(handler.format(level: .info, message: "serving 8080/tcp -> 10.0.0.2:80 (café ☕)", metadata: [:])
                == "nftfwd relay: serving 8080/tcp -> 10.0.0.2:80 (café ☕)\n")
    }

    @Test("--metrics is parsed as strictly as HOST", arguments: [" 127.0.0.1:9420", "127.0.0.1:9420 ", "127.0.0.1:09420",
                                                                  "127.0.0.1:+9420", "127.0.0.01:9420", "[::1%lo]:9420", "127.0.0.1:9420/tcp"])
    func strictMetrics(text: String) {
        #expect(throws: MappingError.self) { try MetricsServer.address(parsing: text) }
    }
}
