import ArgumentParser
import PortForwarding
import SavedState

/// The root command: only configuration; each subcommand lives in its own file.
struct Nftfwd: ParsableCommand {
    static let version = "0.3.0"

    static let configuration = CommandConfiguration(
        commandName: "nftfwd",
        abstract: "Publish host ports to services through one nftables table.",
        discussion: """
        nftfwd keeps every published port as an element of an nftables map in one table it owns \
        (inet nftfwd), so publishing a port never adds a rule, and a lookup costs the same at 10 or \
        10,000 ports. The kernel table is the only record: run under 'ip netns exec NS' to manage \
        the table of namespace NS.

        Examples:
          nftfwd add 8080 10.0.0.2:80               port 8080 on every IPv4 address
          nftfwd add 192.0.2.10:53 10.0.0.3:53 --proto udp
          nftfwd add 8000-8099 10.0.0.2:9000-9099   a range, port by port
          nftfwd add [::]:8080 [fd00::2]:80         IPv6
          nftfwd ls
          nftfwd rm 8080
          nftfwd ls --json > published.json; nftfwd apply published.json
          nftfwd flush
          nftfwd masquerade add 10.88.0.0/24 --out-not br0
          nftfwd relay                              serve 127.0.0.1 and ::1 too
          nftfwd save; nftfwd restore               /etc/nftfwd/mappings.json
          nftfwd add 8443 10.0.0.2:443 --save       and save it (NFTFWD_SAVE=1: always)
          nftfwd diff; nftfwd check                 the kernel against the saved file
          nftfwd doctor                             what would keep traffic out

        Exit status: 0 success, 1 a mistake in the request (nothing changed), 2 a system error \
        (not root, netlink failure, a table changed by someone else).
        """,
        version: version,
        subcommands: [AddCommand.self, RemoveCommand.self, ListCommand.self, ApplyCommand.self, FlushCommand.self, MasqueradeCommand.self,
                      SaveCommand.self, RestoreCommand.self, DiffCommand.self, CheckCommand.self, RelayCommand.self, DoctorCommand.self, ImportCommand.self]
    )

    // Declared here too, so `nftfwd -v add ...` and `nftfwd --table t ls` parse; the
    // subcommand's own group receives the values either way.
    @OptionGroup var global: GlobalOptions
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The nftables table nftfwd owns (family inet).", valueName: "name"))
    var table: String = "nftfwd"

    @Flag(name: .shortAndLong, help: "Say what is sent to the kernel.")
    var verbose = false

    func validate() throws {
        do { try TableLayout.validate(tableName: table) } catch { throw ValidationError(error.description) }
    }

    func publisher() throws -> Publisher { try GlobalOptions.publisher(table: table, verbose: verbose) }

    static func publisher(table: String, verbose: Bool) throws -> Publisher {
        let publisher = try Publisher(tableName: table)
        let rules = VerifiedRulesFile.onDemand(table: table); publisher.verifiedRules = VerifiedRules(load: rules.load, store: rules.store)
        if let file = NamespaceRecordFile.layout(table: table) { publisher.layoutRecords = LayoutRecords(kernel: file.kernel, load: file.load, store: file.overwrite) }
        if verbose { publisher.trace = { Console.error("nftfwd: " + $0) } }
        // What failed after a committed change: said on one line, the exit status stays 0.
        publisher.warn = { Console.error("nftfwd: warning: " + $0) }
        return publisher
    }

    func note(_ text: String) { GlobalOptions.note(text, verbose: verbose) }

    static func note(_ text: String, verbose: Bool) {
        if verbose { Console.error("nftfwd: \(text)") }
    }
}
