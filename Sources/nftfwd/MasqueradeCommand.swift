import ArgumentParser
import PortForwarding
import NetworkAddress

/// `nftfwd masquerade add|rm|ls`: outbound masquerade for target subnets.
struct MasqueradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "masquerade",
        abstract: "Masquerade a target subnet's outbound traffic (Docker's '-s SUBNET ! -o BRIDGE -j MASQUERADE').",
        discussion: """
        Traffic from SUBNET that leaves by any interface but the --out-not one gets the address \
        of the interface it leaves by as its source, so that containers or VMs on a private \
        subnet reach other hosts. Traffic that stays on the bridge keeps its source.

        Masquerade is decided at a flow's first packet: after a change, the conntrack entries \
        of UDP flows from the subnet are deleted, so a container that keeps sending takes the \
        new path at its next datagram (-v shows how many; a failure is a warning).

        Connections that come in through a published port are not masqueraded (the target sees \
        the client's address) unless they hairpin: a container reaching a port published on the \
        host, served by itself or by a neighbour on the same bridge. nftfwd masquerades those by \
        itself, with no rule to add here.

        Examples:
          nftfwd masquerade add 10.88.0.0/24 --out-not br0
          nftfwd masquerade add fd88::/64 --out-not br0
          nftfwd masquerade ls
          nftfwd masquerade rm 10.88.0.0/24
        """,
        subcommands: [MasqueradeAdd.self, MasqueradeRemove.self, MasqueradeList.self]
    )
    @OptionGroup var global: GlobalOptions
}

struct MasqueradeAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Masquerade traffic from SUBNET, except what leaves by --out-not.",
        discussion: """
        Adding the same rule again changes nothing and succeeds; a rule whose subnet overlaps an \
        existing one (including the same subnet with another --out-not) is refused: remove that \
        one first. --save also writes the result to the saved file ('nftfwd save').

        Examples:
          nftfwd masquerade add 10.88.0.0/24 --out-not br0
          nftfwd masquerade add 192.168.122.0/24            every interface, the bridge too
          nftfwd masquerade add fd88::/64 --out-not br0 --save
        """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("The source network, in CIDR form (10.88.0.0/24, fd88::/64).", valueName: "subnet"))
    var subnet: String

    @Option(name: .customLong("out-not"), help: ArgumentHelp("Leave traffic that goes out by this interface alone (the subnet's own bridge).", valueName: "ifname"))
    var outNot: String?

    func run() throws {
        let rule = try MasqueradeRule.parse(subnet: subnet, outNot: outNot)
        switch try Persistence.change(global, saving, { try $0.addMasquerade(rule) }) {
        case .added: Console.out("masquerading \(rule)\n")
        case .alreadyPresent: Console.out("already masquerading \(rule)\n")
        }
    }
}

struct MasqueradeRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Stop masquerading SUBNET.",
        discussion: """
        SUBNET must be exactly the one given to 'masquerade add'. --save also writes the \
        result to the saved file ('nftfwd save').

        Examples:
          nftfwd masquerade rm 10.88.0.0/24
          nftfwd masquerade rm 10.88.0.0/24 --save
        """,
        aliases: ["remove", "del"]
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("The subnet, as listed by 'nftfwd masquerade ls'.", valueName: "subnet"))
    var subnet: String

    func run() throws {
        let parsed = try Subnet.parse(subnet)
        let rule = try Persistence.change(global, saving) { try $0.removeMasquerade(parsed) }
        Console.out("no longer masquerading \(rule)\n")
    }
}

struct MasqueradeList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List masqueraded subnets.",
        discussion: """
        --json prints the "masquerade" part of what 'nftfwd ls --json' prints.

        Examples:
          nftfwd masquerade ls
          nftfwd masquerade ls --json
        """,
        aliases: ["list"]
    )
    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let snapshot = try global.publisher().list()
        if json {
            Console.out(MappingFile.renderMasquerade(snapshot.masquerade))
            return
        }
        if snapshot.masquerade.isEmpty {
            Console.out("no subnet is masqueraded\n")
            return
        }
        Console.out(MasqueradeList.table(snapshot.masquerade))
    }

    static func table(_ rules: [MasqueradeRule]) -> String {
        let rows = [["SUBNET", "FAMILY", "OUT-NOT"]] + rules.map { [$0.subnet.description, $0.subnet.family.rawValue, $0.outNot ?? "-"] }
        return ListCommand.columns(rows)
    }
}
