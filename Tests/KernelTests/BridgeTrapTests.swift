import Testing
import TestSupport

/// doctor on the bridge topology: the hairpin-mode trap and a target no route leads to.
@Suite("Kernel: doctor's bridge traps", .kernelTest)
struct BridgeTrapTests {
    static func lines(_ lab: BridgeLab, _ check: String) -> [String] {
        lab.net.run(lab.host, [nftfwdBinary, "doctor", "--probe-timeout", "300"]).stdout.split(separator: "\n")
            .map(String.init).filter { $0.dropFirst(5).hasPrefix(check + " ") }
    }

    @Test("hairpin mode off on the target's port with bridge netfilter on: WARN naming the port; on: OK; bridge netfilter off: OK")
    func hairpinMode() throws {
        let lab = try BridgeLab("dhpn")
        defer { lab.destroy() }
        try lab.setBridgeNetfilter(true)
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        try lab.net.sh(lab.host, "bridge link set dev vc1 hairpin off && bridge link set dev vc2 hairpin off")
        // The measured trap: c2 reaches c1 through the host, c1 does not reach itself.
        #expect(lab.ask(from: lab.c2, "tcp", "192.168.90.1", 8080) == "tcp 80 from 10.88.0.1 at c1")
        #expect(lab.ask(from: lab.c1, "tcp", "192.168.90.1", 8080).hasPrefix("ERROR"))
        // c1's address is in the host's ARP table and its MAC behind vc1: only vc1 is named.
        let warned = Self.lines(lab, "hairpin")
        #expect(warned.count == 1 && warned[0].hasPrefix("WARN") && warned[0].contains("port vc1 of bridge br0, behind which 10.88.0.2"), "\(warned)")
        #expect(warned.first?.contains("fix: bridge link set dev vc1 hairpin on") == true)
        try lab.net.sh(lab.host, "bridge link set dev vc1 hairpin on")
        #expect(Self.lines(lab, "hairpin").first?.hasPrefix("OK") == true)
        try lab.net.sh(lab.host, "bridge link set dev vc1 hairpin off")
        try lab.setBridgeNetfilter(false)
        #expect(Self.lines(lab, "hairpin").first?.hasPrefix("OK") == true)
        #expect(Self.lines(lab, "target-route").first?.hasPrefix("OK") == true)
    }

    @Test("a target no route leads to: WARN naming it")
    func unroutableTarget() throws {
        let lab = try BridgeLab("dnrt")
        defer { lab.destroy() }
        let add = try lab.nftfwdOK("add", "8081", "203.0.113.9:80")
        #expect(add.stderr.contains("nftfwd: warning: no route of this host leads to 203.0.113.9"), "\(add.stderr)")
        let routed = try lab.nftfwdOK("add", "8082", "10.88.0.2:80")
        #expect(!routed.stderr.contains("no route"))
        let warned = Self.lines(lab, "target-route")
        #expect(warned.count == 1 && warned[0].hasPrefix("WARN") && warned[0].contains("203.0.113.9, the target of 8081/tcp -> 203.0.113.9:80"), "\(warned)")
    }

    @Test("a target reached through a gateway out of the interface its clients come in by: WARN at add and in doctor; on-link targets: no warning")
    func targetTurningBack() throws {
        let lab = try BridgeLab("dtbk")
        defer { lab.destroy() }
        // The LAN side is the host's way out: a default route and one more network behind the LAN peer.
        try lab.net.sh(lab.host, "ip route add default via 192.168.90.2 && ip route add 198.51.100.0/24 via 192.168.90.2")
        let wildcard = try lab.nftfwdOK("add", "8081", "203.0.113.9:80")
        #expect(wildcard.stderr.contains("nftfwd: warning: 203.0.113.9, the target of 8081/tcp -> 203.0.113.9:80, is reached through a gateway out of lan0, the interface of the default route"), "\(wildcard.stderr)")
        let bound = try lab.nftfwdOK("add", "192.168.90.1:8083", "198.51.100.7:80")
        #expect(bound.stderr.contains("is reached through a gateway out of lan0, the interface of 192.168.90.1"), "\(bound.stderr)")
        // A container on the bridge, and a bound mapping whose target routes elsewhere: nothing to say.
        let onLink = try lab.nftfwdOK("add", "8082", "10.88.0.2:80")
        #expect(!onLink.stderr.contains("warning"), "\(onLink.stderr)")
        let elsewhere = try lab.nftfwdOK("add", "10.88.0.1:8084", "198.51.100.8:80")
        #expect(!elsewhere.stderr.contains("warning"), "\(elsewhere.stderr)")
        let warned = Self.lines(lab, "target-route")
        #expect(warned.count == 2 && warned.allSatisfy { $0.hasPrefix("WARN") && $0.contains("turns back the way it came") }, "\(warned)")
        #expect(warned.contains { $0.contains("203.0.113.9") } && warned.contains { $0.contains("198.51.100.7") }, "\(warned)")
    }
}
