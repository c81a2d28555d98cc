import Testing
import TestSupport

/// Real traffic from a client namespace through the host's DNAT to the target namespace.
@Suite("Kernel: traffic through the published ports", .kernelTest)
struct TrafficTests {
    @Test("IPv4: single port, shifted range and bound address, TCP and UDP, client address kept")
    func ipv4() throws {
        let lab = try Lab("v4")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "7000-7003", "198.18.2.2:9000-9003")
        try lab.nftfwdOK("add", "7000-7003", "198.18.2.2:9000-9003", "--proto", "udp")
        try lab.nftfwdOK("add", "198.18.1.3:8443", "198.18.2.2:80")

        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "tcp 80 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.3", 8080) == "tcp 80 from 198.18.1.2")   // wildcard: every local address
        #expect(lab.ask(from: lab.client, "udp", "198.18.1.1", 8080) == "udp 80 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 7002) == "tcp 9002 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "udp", "198.18.1.1", 7003) == "udp 9003 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.3", 8443) == "tcp 80 from 198.18.1.2")
        // Bound to 198.18.1.3 only: the same port on the host's other address is not forwarded.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8443) == "ERROR ConnectionRefusedError")
        // Not published: refused by the host itself.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 7004) == "ERROR ConnectionRefusedError")

        // Counters count the connections that went through each mapping.
        let json = try lab.nftfwdOK("ls", "--json").stdout
        #expect(json.contains("\"host\": \"198.18.1.3:8443\""))
        let rows = try lab.nftfwdOK("ls").stdout.split(separator: "\n")
        func packets(_ host: String, _ proto: String) throws -> Int {
            let row = try #require(rows.first { $0.hasPrefix(proto + " ") && $0.split(separator: " ")[2] == host })
            return Int(row.split(separator: " ", omittingEmptySubsequences: true)[5]) ?? -1
        }
        // NAT looks at the first packet of a connection only: one connection, one packet.
        #expect(try packets("198.18.1.3:8443", "tcp") == 1)
        #expect(try packets("7000-7003", "udp") == 1)
        #expect(try packets("8080", "tcp") == 2)

        // After rm the port is closed again.
        try lab.nftfwdOK("rm", "8080")
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "ERROR ConnectionRefusedError")
    }

    @Test("IPv6: single port, range and bound address, TCP and UDP")
    func ipv6() throws {
        let lab = try Lab("v6")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "[::]:8080", "[2001:db8:2::2]:80")
        try lab.nftfwdOK("add", "[::]:8080", "[2001:db8:2::2]:80", "--proto", "udp")
        try lab.nftfwdOK("add", "[::]:7000-7003", "[2001:db8:2::2]:9000-9003", "--proto", "udp")
        try lab.nftfwdOK("add", "[2001:db8:1::3]:8443", "[2001:db8:2::2]:9001")

        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::1", 8080) == "tcp 80 from 2001:db8:1::2")
        #expect(lab.ask(from: lab.client, "udp", "2001:db8:1::1", 8080) == "udp 80 from 2001:db8:1::2")
        #expect(lab.ask(from: lab.client, "udp", "2001:db8:1::3", 7001) == "udp 9001 from 2001:db8:1::2")
        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::3", 8443) == "tcp 9001 from 2001:db8:1::2")
        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::1", 8443) == "ERROR ConnectionRefusedError")
        // IPv4 is untouched by IPv6 mappings.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "ERROR ConnectionRefusedError")
    }

    @Test("the host reaches its own published port on a non-loopback address (output chain), never on loopback")
    func fromTheHostItself() throws {
        let lab = try Lab("out")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "[::]:8080", "[2001:db8:2::2]:80")
        #expect(lab.ask(from: lab.host, "tcp", "198.18.1.1", 8080) == "tcp 80 from 198.18.1.1")
        #expect(lab.ask(from: lab.host, "tcp", "2001:db8:1::1", 8080) == "tcp 80 from 2001:db8:1::1")
        // Loopback is the relay's: the kernel path leaves it alone (no route_localnet).
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "ERROR ConnectionRefusedError")
        #expect(lab.ask(from: lab.host, "tcp", "::1", 8080) == "ERROR ConnectionRefusedError")
        #expect(try lab.net.exec(lab.host, ["cat", "/proc/sys/net/ipv4/conf/all/route_localnet"]).stdout == "0\n")
    }

    @Test("a loopback-bound mapping is recorded but never DNAT'd, even for a neighbour routing 127.0.0.1 to us")
    func loopbackIsNotForwarded() throws {
        let lab = try Lab("lo")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "127.0.0.1:8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "8081", "198.18.2.2:80")
        // The CVE-2020-8558 attack: the client routes 127.0.0.1 via the host and sends to it.
        try lab.net.sh(lab.client, "ip route add 127.0.0.2/32 via 198.18.1.1 dev c0")
        #expect(lab.ask(from: lab.client, "tcp", "127.0.0.2", 8081).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8081) == "tcp 80 from 198.18.1.2")
    }
}
