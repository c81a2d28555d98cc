#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import PortForwarding

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the table hold exactly the mappings (and masquerade rules) in FILE, in one atomic batch.",
        discussion: """
        FILE is the JSON that 'nftfwd ls --json' prints ('-' reads standard input): \
        {"mappings": [{"proto": "tcp", "host": "8080", "target": "10.0.0.2:80", "comment": "web"}], \
        "masquerade": [{"subnet": "10.88.0.0/24", "out-not": "br0"}]}. What is already in the \
        table stays untouched (counters keep counting), the rest is added or removed. A bare \
        array of mappings is read too; it leaves masquerade rules as they are. One bad entry and \
        nothing changes.

        Examples:
          nftfwd ls --json > published.json; nftfwd apply published.json
          echo '[{"host": "8080", "target": "10.0.0.2:80"}]' | nftfwd apply -
          echo '{"mappings": [], "masquerade": []}' | nftfwd apply -   remove everything, keep the table
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("JSON file, or - for standard input.", valueName: "file"))
    var file: String

    @OptionGroup var forwarding: ForwardingOption

    func run() throws {
        let text = try ApplyCommand.read(file)
        let document = try StateDocument.parse(text)
        let summary = try global.publisher().apply(document)
        var line = "applied \(document.mappings.count) mapping(s): \(summary.added) added, \(summary.removed) removed, \(summary.unchanged) unchanged"
        if let rules = document.masquerade {
            line += "; \(rules.count) masquerade rule(s): \(summary.masqueradeAdded) added, \(summary.masqueradeRemoved) removed"
        }
        Console.out(line + "\n")
        try forwarding.apply(to: document.mappings, table: global.table, command: "apply")
    }

    static func read(_ path: String) throws -> String {
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError(description: "cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
