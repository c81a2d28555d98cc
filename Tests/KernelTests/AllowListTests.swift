import Testing
import TestSupport
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// `add --allow`: from two client addresses on the LAN, one inside the allow-list and one
/// outside, the first reaches the target and the second gets nothing (dropped before DNAT),
/// counted per mapping; the host's own connections obey it too; the rule count does not grow.
@Suite("Kernel: source allow-lists", .kernelTest)
struct AllowListTests {
    /// The LAN client's second address, outside every allow-list of these tests.
    /// What a dropped client sees: no answer and no refusal, as if nothing listened.
    static let nothing = "ERROR TimeoutError"
    static let outsider4 = "192.168.90.130", outsider6 = "fd90::8:3"

    static func lab(_ label: String) throws -> BridgeLab {
        let lab = try BridgeLab(label)
        do {
            try lab.net.sh(lab.lan, "ip addr add \(outsider4)/24 dev eth0 && ip -6 addr add \(outsider6)/64 dev eth0 nodad")
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// The mappings of `ls --json`, by "proto family host" ("tcp ipv6 8080").
    static func listed(_ lab: BridgeLab) throws -> [String: JSON] {
        let json = try JSON.parse(try lab.nftfwdOK("ls", "--json").stdout)
        guard case .array(let items)? = json["mappings"] else { return [:] }
        var out: [String: JSON] = [:]
        for item in items {
            if case .string(let proto)? = item["proto"], case .string(let family)? = item["family"], case .string(let host)? = item["host"] {
                out["\(proto) \(family) \(host)"] = item
            }
        }
        return out
    }

    static func refused(_ lab: BridgeLab, _ key: String) throws -> Double {
        guard case .number(let n)? = try listed(lab)[key]?["refused"] else { return -1 }
        return n
    }

    @Test("from the LAN: TCP and UDP, IPv4 and IPv6, single ports, ranges and address-bound mappings reach the target only from the allowed address")
    func fromLAN() throws {
        let lab = try Self.lab("alan")
        defer { lab.destroy() }
        for proto in ["tcp", "udp"] {
            try lab.nftfwdOK("add", "8080", "10.88.0.2:80", "--proto", proto, "--allow", "192.168.90.2/32", "--allow", "198.51.100.0/24")
            try lab.nftfwdOK("add", "[::]:8080", "[fd88::2]:80", "--proto", proto, "--allow", "fd90::2/128")
        }
        try lab.nftfwdOK("add", "9100-9101", "10.88.0.2:9000-9001", "--allow", "192.168.90.2/32")
        try lab.nftfwdOK("add", "192.168.90.1:8081", "10.88.0.2:81", "--allow", "192.168.90.0/26")
        try lab.nftfwdOK("add", "[fd90::1]:8081", "[fd88::2]:81", "--allow", "fd90::/120")
        // An unrestricted neighbour is reached by both.
        try lab.nftfwdOK("add", "8082", "10.88.0.3:80")

        for proto in ["tcp", "udp"] {
            #expect(lab.ask(from: lab.lan, proto, "192.168.90.1", 8080, source: "192.168.90.2") == "\(proto) 80 from 192.168.90.2 at c1")
            #expect(lab.ask(from: lab.lan, proto, "192.168.90.1", 8080, source: Self.outsider4) == Self.nothing)
            #expect(lab.ask(from: lab.lan, proto, "fd90::1", 8080, source: "fd90::2") == "\(proto) 80 from fd90::2 at c1")
            #expect(lab.ask(from: lab.lan, proto, "fd90::1", 8080, source: Self.outsider6) == Self.nothing)
        }
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 9101, source: "192.168.90.2") == "tcp 9001 from 192.168.90.2 at c1")
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 9101, source: Self.outsider4) == Self.nothing)
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8081, source: "192.168.90.2") == "tcp 81 from 192.168.90.2 at c1")
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8081, source: Self.outsider4) == Self.nothing)
        #expect(lab.ask(from: lab.lan, "tcp", "fd90::1", 8081, source: "fd90::2") == "tcp 81 from fd90::2 at c1")
        #expect(lab.ask(from: lab.lan, "tcp", "fd90::1", 8081, source: Self.outsider6) == Self.nothing)
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8082, source: Self.outsider4) == "tcp 80 from 192.168.90.130 at c2")

        // Each refused connection was counted by its own mapping (TCP retries its SYN within
        // the client's 3 s, so at least one per attempt), the open one counts none.
        let listed = try Self.listed(lab)
        for key in ["tcp ipv4 8080", "udp ipv4 8080", "tcp ipv6 8080", "udp ipv6 8080", "tcp ipv4 9100-9101", "tcp ipv4 192.168.90.1:8081", "tcp ipv6 [fd90::1]:8081"] {
            guard case .number(let n)? = listed[key]?["refused"] else { Issue.record("no refused counter for \(key)"); continue }
            #expect(n >= 1, "\(key)")
        }
        #expect(listed["tcp ipv4 8082"]?["refused"] == .number(0))
        #expect(listed["tcp ipv4 8080"]?["allow"] == .array([.string("192.168.90.2/32"), .string("198.51.100.0/24")]))
        #expect(try lab.nftfwdOK("ls").stdout.contains("192.168.90.2/32,198.51.100.0/24"))
    }

    @Test("from the host itself (output path): its own address in the allow-list reaches, outside it gets nothing")
    func fromHost() throws {
        let lab = try Self.lab("ahst")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80", "--allow", "192.168.90.1/32")
        try lab.nftfwdOK("add", "8083", "10.88.0.2:80", "--allow", "192.168.90.2/32")
        #expect(lab.ask(from: lab.host, "tcp", "192.168.90.1", 8080) == "tcp 80 from 192.168.90.1 at c1")
        #expect(lab.ask(from: lab.host, "tcp", "192.168.90.1", 8083) == Self.nothing)
        #expect(try Self.refused(lab, "tcp ipv4 8083") >= 1)
        #expect(try Self.refused(lab, "tcp ipv4 8080") == 0)
    }

    @Test("the table has the same rules with 1 and with 1,000 restricted mappings; ls --json -> apply round-trips the allow-lists")
    func constantRulesAndRoundTrip() throws {
        let lab = try Lab(hostOnly: "arul")
        defer { lab.destroy() }
        func ruleCount() throws -> Int {
            // With -a every rule ends in "# handle N"; chains and sets open with "{ # handle N".
            try lab.net.exec(lab.host, ["nft", "-a", "list", "table", "inet", "nftfwd"]).stdout
                .split(separator: "\n").filter { $0.contains("# handle") && !$0.contains("{ # handle") }.count
        }
        try lab.nftfwdOK("add", "10000", "198.18.2.2:80", "--allow", "192.0.2.0/24")
        let one = try ruleCount()
        #expect(one == TableLayout.rules.count)
        let entries = (0..<1000).map { i in
            "{\"host\": \"\(20000 + i)\", \"target\": \"198.18.2.\(2 + i % 200):\(1 + i)\", \"proto\": \"\(i % 2 == 0 ? "tcp" : "udp")\", \"allow\": [\"10.\(i / 250).\(i % 250).0/24\", \"192.0.2.\(i % 256)/32\"]}"
        }
        try lab.nftfwdOK("apply", "-", stdin: "[" + entries.joined(separator: ",\n") + "]")
        #expect(try ruleCount() == one)
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.components("\"allow\": [") == 1000)
        try lab.nftfwdOK("flush")
        try lab.nftfwdOK("apply", "-", stdin: listed)
        #expect(try lab.nftfwdOK("ls", "--json").stdout == listed)
    }
}

/// The relay applies a mapping's allow-list to the clients only it sees (loopback ones), and
/// the kernel still drops other hosts' clients of the same mapping.
@Suite("Kernel: source allow-lists through the relay", .kernelTest)
struct AllowListRelayTests {
    @Test("loopback clients: --allow 127.0.0.1/32 reaches the target, --allow 192.0.2.0/24 gets nothing; a cross-family mapping with an IPv6 allow-list")
    func loopbackClients() throws {
        let lab = try Lab("aral")
        defer { lab.destroy() }
        for proto in ["tcp", "udp"] {
            try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--proto", proto, "--allow", "127.0.0.1/32")
            try lab.nftfwdOK("add", "8081", "198.18.2.2:80", "--proto", proto, "--allow", "192.0.2.0/24")
        }
        try lab.nftfwdOK("add", "[::]:8082", "198.18.2.2:80", "--allow", "::1/128")
        let relay = try RelayTests.startRelay(lab)
        defer { kill(relay, SIGTERM); _ = Command.wait(pid: relay, timeout: 10) }
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 5 })

        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 8080) == "udp 80 from 198.18.2.1")
        // Refused: the TCP client is closed at once with nothing relayed, the datagram dropped.
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8081) == "")
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 8081) == "ERROR TimeoutError")
        #expect(RelayTests.status(lab)?.summaries()["8081/tcp -> 198.18.2.2:80"]?.total == 0)
        // Counted per mapping: the refused TCP client, the refused datagram(s); none for 8080.
        let summaries = RelayTests.status(lab)?.summaries() ?? [:]
        #expect(summaries["8081/tcp -> 198.18.2.2:80"]?.refused == 1, "\(summaries)")
        #expect((summaries["8081/udp -> 198.18.2.2:80"]?.refused ?? 0) >= 1, "\(summaries)")
        #expect(summaries["8080/tcp -> 198.18.2.2:80"]?.refused == 0 && summaries["8080/udp -> 198.18.2.2:80"]?.refused == 0)
        // ls: the kernel dropped nothing of 8081/tcp, the relay refused one (REFUSED "0+1").
        let row = try lab.nftfwdOK("ls").stdout.split(separator: "\n").first { $0.hasPrefix("tcp") && $0.contains("8081") }
        #expect(row?.split(separator: " ").contains("0+1") == true, "\(String(describing: row))")
        #expect(try lab.nftfwdOK("ls", "--json").stdout.contains("\"refused\": 1"))
        // IPv6 loopback is allowed on the cross-family mapping; another host's IPv6 client is
        // dropped by the kernel before it reaches the relay's socket.
        #expect(lab.ask(from: lab.host, "tcp", "::1", 8082) == "tcp 80 from 198.18.2.1")
        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::1", 8082) == "ERROR TimeoutError")
        // And the kernel path of 8080: the other host is not 127.0.0.1.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "ERROR TimeoutError")
    }
}
