import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A table of nftfwd 0.3 (no loopback redirect: no redirect4/redirect6 maps, no `loopback`
/// chain) is read as it is and completed by the next change; one lacking only part of the
/// redirect is foreign.
@Suite("Kernel: a table of nftfwd 0.3 gets the loopback redirect", .kernelTest)
struct UpgradeRedirectTests {
    /// A current table with the redirect's objects taken out: what nftfwd 0.3 wrote.
    static func version03(_ lab: Lab, keepMap: Bool = false) throws {
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.net.exec(lab.host, ["nft", "delete", "chain", "inet", "nftfwd", "loopback"])
        try lab.net.exec(lab.host, ["nft", "delete", "map", "inet", "nftfwd", "redirect4"])
        if !keepMap { try lab.net.exec(lab.host, ["nft", "delete", "map", "inet", "nftfwd", "redirect6"]) }
    }

    @Test("read as it is; the next add adds the maps and the chain in its batch")
    func upgraded() throws {
        let lab = try Lab(hostOnly: "up03")
        defer { lab.destroy() }
        try Self.version03(lab)
        #expect(try lab.nftfwdOK("ls").stdout.contains("198.18.2.2:80"))
        #expect(!(try lab.table()).contains("chain loopback"))
        try lab.nftfwdOK("add", "8081", "198.18.2.2:81")
        let table = try lab.table()
        #expect(table.contains("chain loopback") && table.contains("map redirect4") && table.contains("map redirect6"))
        #expect(try lab.nftfwdOK("ls").stdout.contains("198.18.2.2:81"))
    }

    @Test("half of the redirect missing is not an earlier layout: refused as foreign")
    func halfMissing() throws {
        let lab = try Lab(hostOnly: "up03h")
        defer { lab.destroy() }
        try Self.version03(lab, keepMap: true)
        let ls = lab.nftfwd("ls")
        #expect(ls.status != 0)
        #expect(ls.stderr.contains("was changed outside nftfwd"), "\(ls.stderr)")
    }
}

/// A table of layout 0.4 redirects TCP only (four rules in `loopback`): read as it is, the
/// relay then serves its UDP ports with sockets of their own, and the next change appends
/// the four UDP rules.
@Suite("Kernel: a table of layout 0.4 gets the UDP redirect", .kernelTest)
struct UpgradeUDPRedirectTests {
    @Test("read as it is; the next add appends the UDP rules in its batch; the relay redirects UDP only then")
    func upgraded() throws {
        let lab = try Lab("up04", targetPorts: "9000-9001")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "9000", "198.18.2.2:9000", "--proto", "udp")
        // Layout 0.4: the chain as 0.4 wrote it (its four TCP rules), the UDP ones taken out.
        let listing = try lab.net.exec(lab.host, ["nft", "-a", "list", "chain", "inet", "nftfwd", "loopback"]).stdout
        let handles = listing.split(separator: "\n").filter { $0.contains("udp dport") }.compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(handles.count == 4)
        for handle in handles { try lab.net.exec(lab.host, ["nft", "delete", "rule", "inet", "nftfwd", "loopback", "handle", handle]) }
        #expect(try lab.nftfwdOK("ls").stdout.contains("198.18.2.2:9000"))

        // The relay serves the UDP port with its own socket on a 0.4 table.
        let relay = try RelayTests.startRelay(lab, "--loopback-redirect")
        defer { kill(relay, SIGTERM); _ = Command.wait(pid: relay, timeout: 10) }
        #expect(TestNetwork.waitUntil(timeout: 10) { (try? UDPRedirectTests.boundUDPPorts(lab).contains(9000)) == true })
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9000) == "udp 9000 from 198.18.2.1")

        try lab.nftfwdOK("add", "9001", "198.18.2.2:9001", "--proto", "udp")
        #expect(try lab.table().split(separator: "\n").filter { $0.contains("udp dport") }.count == 4)
        // Now redirected: the per-port socket is closed, loopback clients still served.
        #expect(TestNetwork.waitUntil(timeout: 10) { (try? UDPRedirectTests.boundUDPPorts(lab).contains(9000)) == false })
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9000) == "udp 9000 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 9001) == "udp 9001 from 198.18.2.1")
    }
}
