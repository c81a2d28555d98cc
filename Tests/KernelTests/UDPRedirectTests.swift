import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// Loopback UDP clients of published ports through the table's redirect (layout 0.5): a few
/// relay sockets, the original destination found in each new flow's conntrack entry, no
/// socket bound per port (so a port someone else holds, as podman's conmon does, is served).
@Suite("Kernel: UDP over the loopback redirect", .kernelTest, .serialized)
struct UDPRedirectTests {
    /// The ports of UDP sockets bound in the host namespace (`ss -uln`).
    static func boundUDPPorts(_ lab: Lab) throws -> Set<Int> {
        let text = try lab.net.exec(lab.host, ["ss", "-Hunl"]).stdout
        var ports = Set<Int>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, let port = fields[3].split(separator: ":").last.flatMap({ Int($0) }) else { continue }
            ports.insert(port)
        }
        return ports
    }

    @Test("127.0.0.1 and [::1] reach the target with no socket on the published port, beside a program holding that port; the allow-list refuses; route_localnet stays 0")
    func throughRedirect() throws {
        let lab = try Lab("udr", targetPorts: "9000-9003")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "9000", "198.18.2.2:9000", "--proto", "udp")
        try lab.nftfwdOK("add", "[::]:9000", "[2001:db8:2::2]:9000", "--proto", "udp")
        try lab.nftfwdOK("add", "9001", "198.18.2.2:9001", "--proto", "udp", "--allow", "10.99.0.0/16")
        try lab.nftfwdOK("add", "127.0.0.1:9002", "198.18.2.2:9002", "--proto", "udp")
        // What conmon does for podman: the published port held by another program.
        let holder = try #require(lab.net.background(lab.host, ["python3", "-c",
            "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9000))\ntime.sleep(120)"]))
        defer { kill(holder, SIGKILL); _ = Command.wait(pid: holder, timeout: 5) }
        #expect(TestNetwork.waitUntil(timeout: 10) { (try? Self.boundUDPPorts(lab).contains(9000)) == true })

        let relay = try RelayTests.startRelay(lab, "--loopback-redirect")
        #expect(TestNetwork.waitUntil(timeout: 10) { RelayTests.status(lab)?.summaries().count == 4 })
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9000) == "udp 9000 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "udp", "::1", 9000) == "udp 9000 from 2001:db8:2::1")
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9002) == "udp 9002 from 198.18.2.1")
        // 127.0.0.1 is not in 10.99.0.0/16: no flow, the datagram dropped, and counted.
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9001).hasPrefix("ERROR"))
        // The relay bound none of the published ports (only the holder has 9000).
        let bound = try Self.boundUDPPorts(lab)
        #expect(bound.isDisjoint(with: [9001, 9002]))

        let summaries = try #require(RelayTests.status(lab)?.summaries())
        #expect(summaries["9000/udp -> 198.18.2.2:9000"]?.total == 1)
        #expect(summaries["9001/udp -> 198.18.2.2:9001"]?.refused ?? 0 >= 1)
        let localnet = try lab.net.exec(lab.host, ["sysctl", "-n", "net.ipv4.conf.all.route_localnet", "net.ipv4.conf.lo.route_localnet"]).stdout
        #expect(localnet.split(separator: "\n") == ["0", "0"])
        #expect(try lab.table().contains("udp dport @dnat4_any redirect to :meta l4proto map @redirect4"))

        kill(relay, SIGTERM)
        #expect(Command.wait(pid: relay, timeout: 10) == 0)
        #expect(!(try lab.table()).contains("udp : "))
    }
}
