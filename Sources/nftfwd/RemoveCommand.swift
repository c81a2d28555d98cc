import ArgumentParser
import PortForwarding

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove the mapping(s) published on exactly HOST.",
        discussion: """
        HOST is written as for 'add'. Without an address it removes the mappings on every local \
        address (IPv4 and IPv6); a range removes the whole range at once. It is an error (exit 1) \
        if nothing is published on exactly HOST. For UDP, the conntrack entries of flows to HOST \
        are deleted too, so a client that keeps sending stops reaching the old target at once; \
        open TCP connections run to their end. --save also writes the result to the saved file \
        ('nftfwd save').

        Examples:
          nftfwd rm 8080
          nftfwd rm 192.0.2.10:5353 --proto udp
          nftfwd rm 8000-8099
          nftfwd rm 8080 --save
        """,
        aliases: ["remove"]
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("Host side as published: [ADDR:]PORT[-PORT].", valueName: "host"))
    var host: String

    @Option(name: .long, help: ArgumentHelp("tcp, udp or sctp.", valueName: "proto"))
    var proto: String = "tcp"

    func run() throws {
        let endpoint = try Endpoint.parse(host, what: "host")
        let p = try Proto.parse(proto)
        let removed = try Persistence.change(global, saving) { try $0.remove(host: endpoint, proto: p) }
        for mapping in removed { Console.out("removed \(mapping)\n") }
    }
}
