import ArgumentParser
import PortForwarding
import SavedState

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show how the kernel table differs from a saved FILE.",
        discussion: """
        One line per mapping or masquerade rule 'nftfwd restore FILE' would change:
          + 8080/tcp -> 10.0.0.2:80  (in file, not in kernel)   restore would add it
          - 9090/tcp -> 10.0.0.3:90  (in kernel, not in file)   restore would remove it
          + masquerade 10.88.0.0/24 out-not br0  (in file, not in kernel)
        A mapping whose comment differs shows as one '-' and one '+'. No table counts as an \
        empty one; a file that is a bare array of mappings says nothing about masquerade. FILE defaults to /etc/nftfwd/mappings.json (for --table NAME, \
        /etc/nftfwd/mappings-NAME.json).

        Exit status, as diff(1): 0 the same, 1 different, 2 trouble (FILE unreadable or \
        invalid, a table nftfwd cannot read, netlink failure).

        Examples:
          nftfwd diff
          nftfwd diff /srv/backup/nftfwd.json
          nftfwd diff || nftfwd restore
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("A file 'nftfwd save' wrote, or - for standard input (default: /etc/nftfwd/mappings.json).", valueName: "file"))
    var file: String?

    func run() throws {
        let comparison = try Comparison.make(file, global)
        for line in comparison.difference.lines {
            let text = Untrusted.escape(line.text)   // the file's and the kernel's text
            Console.out(line.missing ? "+ \(text)  (in file, not in kernel)\n" : "- \(text)  (in kernel, not in file)\n")
        }
        if !comparison.difference.isEmpty { throw ExitCode(1) }
    }
}

/// A saved file compared with the kernel table, for diff and check; any failure is "trouble"
/// (exit 2), as diff(1) has it.
struct Comparison {
    var path: String
    var snapshot: TableSnapshot
    var desiredCount: Int
    var difference: StateDifference

    static func make(_ file: String?, _ global: GlobalOptions) throws -> Comparison {
        let path = file ?? StateFile.defaultPath(table: global.table)
        do {
            let desired = try StateDocument.parse(try StateFile.read(path))
            let snapshot = try global.publisher().list()
            return Comparison(path: path, snapshot: snapshot, desiredCount: desired.mappings.count,
                              difference: StateDifference(desired, snapshot))
        } catch {
            _ = Console.exitCode(reporting: error)
            throw ExitCode(2)
        }
    }
}
