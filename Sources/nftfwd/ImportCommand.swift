#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import IptablesImport
import PortForwarding
import SavedState

/// `nftfwd import SOURCE`: one subcommand per tool whose port publishing nftfwd can take over.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Take over the ports another tool publishes.",
        discussion: """
        Reads another tool's rules and prints the nftfwd state that publishes the same ports \
        (the document 'nftfwd ls --json' prints and 'nftfwd apply' reads), or with --apply \
        publishes it.

        Examples:
          iptables-save -t nat | nftfwd import iptables -
          nftfwd import iptables saved-rules.txt --apply
        """,
        subcommands: [ImportIptablesCommand.self]
    )
}

struct ImportIptablesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iptables",
        abstract: "Import port publishing from iptables-save or ip6tables-save output.",
        discussion: """
        Reads the nat table (other tables are skipped, saying so): DNAT rules with -p tcp|udp|\
        sctp and --dport (a port, a range A:B, or -m multiport --dports) to --to-destination, in \
        any chain PREROUTING or OUTPUT leads to, as Docker's DOCKER chain; -d ADDR/32 binds the \
        mapping to ADDR (127.0.0.1: served by 'nftfwd relay'); -m comment becomes its comment. \
        MASQUERADE rules for a source subnet (-s NET [! -o IF]) become masquerade rules; Docker's \
        per-port hairpin MASQUERADE rules are not needed (nftfwd does that by itself).
        Every other rule is listed on standard error with its line and the reason it was not \
        imported, as are conditions a mapping drops (an input interface: a mapping applies on \
        every interface).

        Without --apply, prints the state document on standard output and changes nothing. \
        With --apply, makes the table hold exactly the imported mappings and masquerade rules \
        in one batch, as 'nftfwd apply' does with that document (--save then also writes it to \
        the saved file). Exit status 1 when nothing can be imported or the input is not \
        iptables-save output.

        On a Docker host this gives the ports 'docker port' lists, except the IPv6 listeners \
        of docker-proxy (':::8080'), which are not in iptables (the report says so).

        Examples:
          iptables-save -t nat | nftfwd import iptables -
          ip6tables-save -t nat | nftfwd import iptables - > published6.json
          (iptables-save; ip6tables-save) | nftfwd import iptables - --apply
          nftfwd import iptables /etc/iptables/rules.v4 2>report.txt
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("iptables-save output, or - for standard input.", valueName: "file"), completion: .file())
    var file: String = "-"

    @Flag(name: .long, help: "Publish the imported mappings (the table then holds exactly them).")
    var apply = false

    func validate() throws {
        if saving.save && !apply { throw ValidationError("--save goes with --apply: without it nothing is published, so nothing would be saved") }
    }

    func run() throws {
        if file == "-" && isatty(0) == 1 {
            throw MappingError.invalid("standard input is a terminal: pipe iptables-save output in (iptables-save -t nat | nftfwd import iptables -) or name a file")
        }
        let text: String
        do { text = try StateFile.read(file) } catch {
            // StateFile's words for a missing file point at 'nftfwd save', which is not the cure here.
            if error.isMissing { throw MappingError.invalid("cannot read \(file): \(error.errno)") }
            throw error
        }
        let imported = try IptablesImport.read(text)
        Console.errorLines(imported.report)
        guard !imported.isEmpty else {
            throw MappingError.invalid("nothing to import: no DNAT rule publishing a port and no subnet MASQUERADE rule that nftfwd can take over")
        }
        guard apply else {
            Console.out(imported.documentText)
            return
        }
        Console.out(try ApplyCommand.apply(imported.document, global, saving, verb: "applied"))
    }
}
