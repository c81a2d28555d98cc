import PortForwarding
import Testing
import TestSupport

/// `nftfwd import iptables` on what Debian's iptables really saves: Docker-shaped rules written
/// with iptables-nft and with iptables-legacy (and their ip6tables) in a namespace of our own,
/// saved with the matching -save tool, imported, and published with --apply.
@Suite("Kernel: nftfwd import iptables on Debian's iptables-save output", .kernelTest)
struct IptablesImportKernelTests {
    /// Docker 20.10's nat layout (one container per port kind) and a filter rule beside it.
    static let ipv4Rules = [
        "-t nat -N DOCKER",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        "-t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "-t nat -A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "-t nat -A DOCKER -i docker0 -j RETURN",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "-t nat -A DOCKER -d 127.0.0.1/32 ! -i docker0 -p udp -m udp --dport 8081 -j DNAT --to-destination 172.17.0.2:81",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 9000:9002 -j DNAT --to-destination 172.17.0.3:9000-9002",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m multiport --dports 7000,7002 -m comment --comment two_web_ports -j DNAT --to-destination 172.17.0.4",
        "-t filter -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    ]
    static let ipv6Rules = [
        "-t nat -N DOCKER",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-t nat -A POSTROUTING -s fd00:17::/64 ! -o docker0 -j MASQUERADE",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:17::2]:80",
    ]
    static let expected = [
        "127.0.0.1:8081/udp -> 172.17.0.2:81", "7000/tcp -> 172.17.0.4:7000 (two_web_ports)",
        "7002/tcp -> 172.17.0.4:7002 (two_web_ports)", "8080/tcp -> 172.17.0.2:80",
        "8080/tcp -> [fd00:17::2]:80", "9000-9002/tcp -> 172.17.0.3:9000-9002",
    ].sorted()
    static let expectedMasquerade = ["172.17.0.0/16 out-not docker0", "fd00:17::/64 out-not docker0"]

    @Test("Docker-shaped rules saved by iptables-nft-save and iptables-legacy-save import to the same mappings; --apply publishes them", arguments: ["nft", "legacy"])
    func importAndApply(variant: String) throws {
        let lab = try Lab(hostOnly: "ipt\(variant.prefix(3))")
        defer { lab.destroy() }
        for rule in Self.ipv4Rules { try lab.net.exec(lab.host, ["iptables-\(variant)"] + rule.split(separator: " ").map(String.init)) }
        for rule in Self.ipv6Rules { try lab.net.exec(lab.host, ["ip6tables-\(variant)"] + rule.split(separator: " ").map(String.init)) }
        let saved = try lab.net.exec(lab.host, ["iptables-\(variant)-save"]).stdout
            + lab.net.exec(lab.host, ["ip6tables-\(variant)-save", "-t", "nat"]).stdout
        // The save is the variant's own: only iptables-nft marks its header "(nf_tables)".
        #expect(saved.contains("(nf_tables)") == (variant == "nft"), "\(saved)")
        #expect(saved.contains("*filter") && saved.contains("-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"))

        let printed = lab.nftfwd("import", "iptables", "-", stdin: saved)
        #expect(printed.status == 0, "\(printed)")
        let document = try StateDocument.parse(printed.stdout)
        #expect(document.mappings.map(\.description).sorted() == Self.expected)
        #expect(document.masquerade?.map(\.description) == Self.expectedMasquerade)
        #expect(unwrapped(printed.stderr).contains("table filter (1 rule(s)): nftfwd imports the nat table only"), "\(printed.stderr)")
        #expect(!printed.stderr.contains("not imported"), "\(printed.stderr)")
        // Without --apply nothing is published.
        #expect(!lab.net.run(lab.host, ["nft", "list", "table", "inet", "nftfwd"]).succeeded)

        let applied = try lab.nftfwdOK("import", "iptables", "-", "--apply", stdin: saved)
        #expect(applied.stdout == "applied 6 mapping(s): 6 added, 0 removed, 0 unchanged; 2 masquerade rule(s): 2 added, 0 removed\n")
        let listed = try StateDocument.parse(try lab.nftfwdOK("ls", "--json").stdout)
        #expect(listed.mappings.map(\.description).sorted() == Self.expected)
        #expect(listed.masquerade?.map(\.description) == Self.expectedMasquerade)
        // Importing again changes nothing.
        let again = try lab.nftfwdOK("import", "iptables", "-", "--apply", stdin: saved)
        #expect(again.stdout.contains("0 added, 0 removed, 6 unchanged; 2 masquerade rule(s): 0 added, 0 removed"))
    }

    @Test("a save with no tables, or with no port publishing: exit 1, nothing published")
    func nothingToImport() throws {
        let lab = try Lab(hostOnly: "iptnone")
        defer { lab.destroy() }
        let empty = try lab.net.exec(lab.host, ["iptables-nft-save"]).stdout   // a fresh namespace has no tables
        let none = lab.nftfwd("import", "iptables", "-", "--apply", stdin: empty)
        #expect(none.status == 1)
        #expect(none.stderr.contains("nftfwd: no table in the input"), "\(none)")

        try lab.net.exec(lab.host, ["iptables-nft", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", "REDIRECT", "--to-ports", "8080"])
        let redirect = try lab.net.exec(lab.host, ["iptables-nft-save"]).stdout
        let refused = lab.nftfwd("import", "iptables", "-", "--apply", stdin: redirect)
        #expect(refused.status == 1)
        #expect(unwrapped(refused.stderr).contains("REDIRECT sends the traffic to this host itself"), "\(refused)")
        #expect(refused.stderr.contains("nftfwd: nothing to import"), "\(refused)")
        #expect(!lab.net.run(lab.host, ["nft", "list", "table", "inet", "nftfwd"]).succeeded)
    }
}

/// The import's report with its wrapped lines joined again, for matching whole sentences.
func unwrapped(_ report: String) -> String {
    report.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
}
