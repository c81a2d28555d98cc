import ArgumentParser
import HostChecks
import PortForwarding

struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Publish HOST (a port or range, optionally on one address) to TARGET.",
        discussion: """
        HOST   = [ADDR:]PORT[-PORT]  no ADDR: every local address of the target's
                                     family; 0.0.0.0 / [::]: every IPv4 / IPv6 one
        TARGET = ADDR:PORT[-PORT]    a range as long as HOST's
        PORT is 1-65535 in decimal digits; ADDR is a.b.c.d (no leading zeros) or \
        [IPv6] (no zone). Nothing else is read as a port or address: spaces, '+8080', \
        '08080', '0x1f90', '8080-' are refused, and so is '8080/tcp' (use --proto).

        A host address of 127.0.0.1 or ::1, or a target of the other address family, is recorded \
        but gets no kernel DNAT (the kernel cannot NAT loopback without route_localnet, which \
        nftfwd never sets, nor translate between IPv6 and IPv4); 'nftfwd relay' serves it.
        --proxy-protocol v1|v2 (tcp only) starts every connection to TARGET with a PROXY \
        protocol header (v1 text, v2 binary, as HAProxy specifies) naming the client's address \
        and port and the address and port it connected to. Such a mapping gets no kernel DNAT: \
        'nftfwd relay' serves every client, remote ones too, so the relay must run; TARGET \
        must expect the header (e.g. haproxy 'accept-proxy', nginx 'proxy_protocol').
        Adding a mapping that is already published changes nothing and succeeds.
        For UDP, the conntrack entries of flows to HOST are deleted once the mapping is in \
        place, so a client that has been sending there takes the new path at its next datagram.
        --allow CIDR (repeatable) publishes the port to those clients only: a connection from \
        any other source address is dropped before DNAT, as if nothing were published, and \
        counted per mapping ('nftfwd ls', REFUSED). The networks are of the clients' family \
        (the host side's, also when the target is of the other family), host bits zero \
        (192.168.1.0/24, fd00::/64, 127.0.0.1/32). Adding the same mapping with another \
        allow-list is refused: 'nftfwd rm' it first, or use 'nftfwd apply'.
        --save also writes the result to the saved file ('nftfwd save').
        Traffic from other hosts is forwarded, so it needs IP forwarding; nftfwd warns when \
        that is off (or another table's forward chain drops by default) and switches it on \
        only with --enable-forwarding.

        Examples:
          nftfwd add 8080 10.0.0.2:80
          nftfwd add 192.0.2.10:8443 10.0.0.2:443 --comment "web tls"
          nftfwd add 5353 10.0.0.3:53 --proto udp
          nftfwd add 8000-8099 10.0.0.2:8000-8099
          nftfwd add [2001:db8::10]:8080 [fd00::2]:80
          nftfwd add [::]:8080 10.0.0.2:80      IPv6 clients, IPv4 service (relay)
          nftfwd add 8443 10.0.0.2:443 --save   and keep it across reboots
          nftfwd add 2222 10.0.0.2:22 --allow 192.168.1.0/24 --allow 10.8.0.0/16
          nftfwd add 8080 10.0.0.2:80 --enable-forwarding
          nftfwd add 2525 10.0.0.5:25 --proxy-protocol v2   the mail server sees who connected
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("Host side: [ADDR:]PORT[-PORT].", valueName: "host"))
    var host: String

    @Argument(help: ArgumentHelp("Target: ADDR:PORT[-PORT].", valueName: "target"))
    var target: String

    @Option(name: .long, help: ArgumentHelp("tcp, udp or sctp.", valueName: "proto"))
    var proto: String = "tcp"

    @Option(name: .long, help: ArgumentHelp("Text shown by 'nftfwd ls' and in the nft listing (up to \(Mapping.maxCommentLength) bytes; any printable text but '\"' and '#').", valueName: "text"))
    var comment: String = ""

    @Option(name: .long, help: ArgumentHelp("Only clients from this network reach the mapping (repeatable); others are dropped and counted.", valueName: "cidr"))
    var allow: [String] = []

    @Option(name: .customLong("proxy-protocol"), help: ArgumentHelp("tcp only: the relay serves every client and sends TARGET a PROXY protocol header first (v1 or v2); no kernel DNAT.", valueName: "version"))
    var proxyProtocol: String?

    @OptionGroup var forwarding: ForwardingOption

    func run() throws { try AddRequest(self).run() }
}
