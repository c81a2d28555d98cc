import ArgumentParser
import PortForwarding

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Exit non-zero, saying what is missing or extra, when the table differs from FILE.",
        discussion: """
        For monitoring and scripts: compares the kernel table with a saved FILE (default \
        /etc/nftfwd/mappings.json; for --table NAME, /etc/nftfwd/mappings-NAME.json) and \
        prints one summary line, then one line per mapping or masquerade rule missing from \
        the kernel or extra in it. 'nftfwd diff' shows the same as a patch.

        Exit status, as diff(1): 0 the table matches FILE, 1 it differs, 2 trouble (FILE \
        unreadable or invalid, a table changed outside nftfwd, netlink failure).

        Examples:
          nftfwd check
          nftfwd check /srv/backup/nftfwd.json || nftfwd restore /srv/backup/nftfwd.json
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("A file 'nftfwd save' wrote, or - for standard input (default: /etc/nftfwd/mappings.json).", valueName: "file"))
    var file: String?

    func run() throws {
        let c = try Comparison.make(file, global)
        let table = "table inet \(global.table)"
        guard !c.difference.isEmpty else {
            Console.out("ok: \(table) matches \(c.path) (\(c.desiredCount) mapping(s))\n")
            return
        }
        let state = c.snapshot.exists ? "" : " (the table does not exist)"
        var lines = ["\(table) differs from \(c.path)\(state): \(c.difference.summary)"]
        lines += c.difference.lines.map { ($0.missing ? "missing: " : "extra: ") + Untrusted.escape($0.text) }
        lines.append("'nftfwd restore \(c.path)' makes the table match the file again")
        Console.out(lines.joined(separator: "\n") + "\n")
        throw ExitCode(1)
    }
}
