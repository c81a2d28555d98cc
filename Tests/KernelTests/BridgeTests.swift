import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Containers on a bridge: published ports from another host, from the host itself and from
/// the containers (hairpin), outbound masquerade, and loopback safety.
@Suite("Kernel: containers on a bridge", .kernelTest)
struct BridgeTests {
    @Test("from another host: published TCP, UDP and ranges reach c1 with the client's address; unpublished ports do not")
    func fromLAN() throws {
        let lab = try BridgeLab("blan")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "9100-9101", "10.88.0.2:9000-9001")
        try lab.nftfwdOK("add", "[::]:8080", "[fd88::2]:80")
        try lab.nftfwdOK("add", "[::]:8080", "[fd88::2]:80", "--proto", "udp")
        for proto in ["tcp", "udp"] {
            #expect(lab.ask(from: lab.lan, proto, "192.168.90.1", 8080) == "\(proto) 80 from 192.168.90.2 at c1")
            #expect(lab.ask(from: lab.lan, proto, "fd90::1", 8080) == "\(proto) 80 from fd90::2 at c1")
        }
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 9101) == "tcp 9001 from 192.168.90.2 at c1")
        // c1 serves 81, but nothing publishes it: the host answers for itself (refused).
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 81).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 9102).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.lan, "tcp", "fd90::1", 81).hasPrefix("ERROR"))
    }

    @Test("from the host itself, to its own LAN and bridge addresses")
    func fromHost() throws {
        let lab = try BridgeLab("bhst")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "[::]:8080", "[fd88::2]:80")
        #expect(lab.ask(from: lab.host, "tcp", "192.168.90.1", 8080) == "tcp 80 from 192.168.90.1 at c1")
        #expect(lab.ask(from: lab.host, "udp", "192.168.90.1", 8080) == "udp 80 from 192.168.90.1 at c1")
        #expect(lab.ask(from: lab.host, "tcp", "10.88.0.1", 8080) == "tcp 80 from 10.88.0.1 at c1")
        #expect(lab.ask(from: lab.host, "tcp", "fd90::1", 8080) == "tcp 80 from fd90::1 at c1")
    }

    @Test("hairpin: c1 and c2 reach c1 through the host's addresses, TCP and UDP, IPv4 and IPv6, bridge netfilter on and off",
          arguments: [true, false])
    func hairpin(bridgeNetfilter: Bool) throws {
        let lab = try BridgeLab(bridgeNetfilter ? "hpon" : "hpof")
        defer { lab.destroy() }
        try lab.setBridgeNetfilter(bridgeNetfilter)
        for proto in ["tcp", "udp"] {
            try lab.nftfwdOK("add", "8080", "10.88.0.2:80", "--proto", proto)
            try lab.nftfwdOK("add", "[::]:8080", "[fd88::2]:80", "--proto", proto)
        }
        // The target sees the host's bridge address (masquerade), which it can answer; the
        // client sees the answer come from the address it asked.
        for proto in ["tcp", "udp"] {
            for client in [lab.c1, lab.c2] {
                #expect(lab.ask(from: client, proto, "192.168.90.1", 8080) == "\(proto) 80 from 10.88.0.1 at c1", "\(proto) from \(client)")
                #expect(lab.ask(from: client, proto, "10.88.0.1", 8080) == "\(proto) 80 from 10.88.0.1 at c1", "\(proto) from \(client)")
                #expect(lab.ask(from: client, proto, "fd90::1", 8080) == "\(proto) 80 from fd88::1 at c1", "\(proto) from \(client)")
            }
        }
        // Traffic from the other host is not hairpin: it keeps its address.
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8080) == "tcp 80 from 192.168.90.2 at c1")

        // Another table's DNAT is none of our business: with bridge netfilter on, a neighbour
        // reaches it with its own address (conntrack undoes the DNAT on the bridged reply).
        if bridgeNetfilter {
            try lab.net.exec(lab.host, ["nft", "add table ip other; add chain ip other pre { type nat hook prerouting priority dstnat; }; add rule ip other pre ip daddr 192.168.90.1 tcp dport 8090 dnat to 10.88.0.2:80"])
            #expect(lab.ask(from: lab.c2, "tcp", "192.168.90.1", 8090) == "tcp 80 from 10.88.0.3 at c1")
        }

        // Without the hairpin rule, a container cannot reach itself through the host.
        try lab.net.sh(lab.host, "nft flush chain inet nftfwd hairpin")
        #expect(lab.ask(from: lab.c1, "tcp", "192.168.90.1", 8080).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.c1, "tcp", "fd90::1", 8080).hasPrefix("ERROR"))
    }

    @Test("masquerade: a container reaches another host with the host's address; traffic on the bridge keeps its own",
          arguments: [true, false])
    func masquerade(bridgeNetfilter: Bool) throws {
        let lab = try BridgeLab(bridgeNetfilter ? "mqon" : "mqof")
        defer { lab.destroy() }
        try lab.setBridgeNetfilter(bridgeNetfilter)
        // lan has no route back to the containers' subnets: without masquerade, no answer.
        #expect(lab.ask(from: lab.c1, "tcp", "192.168.90.2", BridgeLab.lanPort).hasPrefix("ERROR"))
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24", "--out-not", "br0")
        try lab.nftfwdOK("masquerade", "add", "fd88::/64", "--out-not", "br0")
        for proto in ["tcp", "udp"] {
            #expect(lab.ask(from: lab.c1, proto, "192.168.90.2", BridgeLab.lanPort) == "\(proto) 7000 from 192.168.90.1 at lan")
            #expect(lab.ask(from: lab.c1, proto, "fd90::2", BridgeLab.lanPort) == "\(proto) 7000 from fd90::1 at lan")
            #expect(lab.ask(from: lab.c1, proto, "10.88.0.3", 80) == "\(proto) 80 from 10.88.0.2 at c2")
            #expect(lab.ask(from: lab.c1, proto, "fd88::3", 80) == "\(proto) 80 from fd88::2 at c2")
        }
        // Published ports still show the client's own address.
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8080) == "tcp 80 from 192.168.90.2 at c1")
        try lab.nftfwdOK("masquerade", "rm", "10.88.0.0/24")
        #expect(lab.ask(from: lab.c1, "tcp", "192.168.90.2", BridgeLab.lanPort).hasPrefix("ERROR"))
    }

    @Test("loopback safety: a neighbour's packet to 127.0.0.1 is dropped and counted; route_localnet stays 0")
    func loopbackSafety() throws {
        let lab = try BridgeLab("lbsf")
        defer { lab.destroy() }
        let ready = "/tmp/\(lab.net.prefix)-hostpeer"
        unlink(ready)
        lab.net.background(lab.host, ["python3", netpeer, "serve", "7100", ready, "host"])
        #expect(TestNetwork.waitUntil(timeout: 15) { access(ready, F_OK) == 0 })
        unlink(ready)
        try lab.nftfwdOK("add", "127.0.0.1:7100", "10.88.0.2:80")
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        let hostMAC = try lab.mac(lab.host, "lan0")
        func syn(to address: String) -> String {
            lab.net.run(lab.lan, ["python3", netpeer, "syn", "eth0", hostMAC, "192.168.90.2", address, "7100"], timeout: 20).stdout.trimmingCharacters()
        }
        // The hand-made SYN is good: to the host's own address it is answered.
        #expect(syn(to: "192.168.90.1") == "answer SYNACK")
        #expect(try lab.guardPackets() == [0, 0])
        #expect(syn(to: "127.0.0.1") == "no answer")
        #expect(try lab.guardPackets() == [1, 0])

        // Even where something else turned route_localnet on, the guard still drops it;
        // without the guard the same packet reaches the host's loopback service.
        try lab.net.sh(lab.host, "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.lan0.route_localnet=1")
        #expect(syn(to: "127.0.0.1") == "no answer")
        #expect(try lab.guardPackets() == [2, 0])
        try lab.net.sh(lab.host, "nft flush chain inet nftfwd guard")
        #expect(syn(to: "127.0.0.1") == "answer SYNACK")
    }

    @Test("nftfwd never turns route_localnet on")
    func routeLocalnet() throws {
        let lab = try BridgeLab("rtln")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "127.0.0.1:7100", "10.88.0.2:80")
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24", "--out-not", "br0")
        let values = try lab.net.sh(lab.host, "grep -H . /proc/sys/net/ipv4/conf/*/route_localnet").stdout
        let lines = values.split(separator: "\n")
        #expect(lines.count >= 6)   // all, default, lo, br0, lan0, vc1, vc2
        #expect(lines.allSatisfy { $0.hasSuffix(":0") }, "\(values)")
    }
}
