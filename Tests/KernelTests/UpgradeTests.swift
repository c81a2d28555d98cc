import Testing
import TestSupport

/// A table written by nftfwd 0.1 (maps and the publish/prerouting/output chains, no masquerade
/// sets, no guard/hairpin/postrouting chains) is read as it is and completed by the next change.
@Suite("Kernel: tables written by an earlier nftfwd", .kernelTest)
struct UpgradeTests {
    /// What nftfwd 0.1 wrote, as nft text, with one mapping.
    static let version01 = """
    table inet nftfwd {
      map dnat4_any { type inet_proto . inet_service : ipv4_addr . inet_service; counter;
        elements = { tcp . 8080 counter comment "8080/tcp -> 198.18.2.2:80" : 198.18.2.2 . 80 } }
      map dnat4_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
      map dnat6_any { type inet_proto . inet_service : ipv6_addr . inet_service; counter; }
      map dnat6_addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
      map loopback4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
      map loopback6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
      map relay6to4 { type ipv6_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
      map relay4to6 { type ipv4_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
      chain publish {
        fib daddr type != local return
        ip daddr 127.0.0.0/8 return
        ip6 daddr ::1 return
        meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4_any
        dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr
        meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6_any
        dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_addr
      }
      chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump publish; }
      chain output { type nat hook output priority -100; policy accept; jump publish; }
    }
    """

    @Test("ls reads a 0.1 table; the next add completes it to the current layout, keeping what was published")
    func upgradeOnChange() throws {
        let lab = try Lab(hostOnly: "upgr")
        defer { lab.destroy() }
        try lab.net.exec(lab.host, ["nft", "-f", "-"], stdin: Self.version01)
        let written = try lab.ruleset()
        #expect(try lab.nftfwdOK("ls").stdout.contains("8080  198.18.2.2:80"))
        #expect(try lab.nftfwdOK("masquerade", "ls").stdout == "no subnet is masqueraded\n")
        #expect(try lab.ruleset() == written)   // reading changes nothing

        try lab.nftfwdOK("add", "8081", "198.18.2.2:81")
        let upgraded = try lab.table()
        for part in ["set masq4 {", "set masq6_keep {", "chain guard {", "chain hairpin {", "chain postrouting {",
                     "iifname != \"lo\" ip daddr 127.0.0.0/8 counter packets 0 bytes 0 drop",
                     "ip saddr @masq4 masquerade"] {
            #expect(upgraded.contains(part), "missing after the upgrade: \(part)")
        }
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.contains("\"host\": \"8080\"") && listed.contains("\"host\": \"8081\""))
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24", "--out-not", "br0")
        #expect(try lab.nftfwdOK("masquerade", "ls").stdout.contains("10.88.0.0/24  ipv4    br0"))
        #expect(try Self.labelledInKernel(lab) == 4)
    }

    /// How many publish rules set the label the way nftfwd writes them: after the map lookup,
    /// through register 3 (nft lists both forms alike; its netlink debug output tells them apart).
    static func labelledInKernel(_ lab: Lab) throws -> Int {
        let debug = try lab.net.exec(lab.host, ["nft", "--debug=netlink", "list", "chain", "inet", "nftfwd", "publish"]).stdout
        return debug.components("[ ct set label with reg 3 ]")
    }

    @Test("a table saved with 'nft list ruleset' and loaded with 'nft -f' is read, and the next change rewrites its publish rules")
    func nftReload() throws {
        let lab = try Lab(hostOnly: "uprl")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24")
        let saved = try lab.ruleset()
        try lab.net.exec(lab.host, ["nft", "flush", "ruleset"])
        try lab.net.exec(lab.host, ["nft", "-f", "-"], stdin: saved)
        #expect(try Self.labelledInKernel(lab) == 0)   // nft put the label before the lookup
        #expect(try lab.nftfwdOK("ls").stdout.contains("8080  198.18.2.2:80"))
        try lab.nftfwdOK("add", "8081", "198.18.2.2:81")
        #expect(try Self.labelledInKernel(lab) == 4)
        #expect(try lab.ruleset().components("ct label set 100 dnat") == 4)
    }

    @Test("a table of nftfwd 0.2 (no allow-list sets or drop rules), as nft reloads it, is read, and the next add --allow completes it")
    func upgradeFrom02() throws {
        let lab = try Lab(hostOnly: "upg2")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24")
        // The current table less what 0.3 added: the access sets and the rules that use them.
        var skipping = false
        let older = try lab.ruleset().split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            if line.contains("set restrict") || line.contains("set allow") || line.contains("set refuse") || line.contains("set match") { skipping = true; return false }
            if skipping { if line == "\t}" { skipping = false }; return false }
            return !line.contains("@restrict")
        }.joined(separator: "\n")
        #expect(!older.contains("restrict") && !older.contains("refuse"))
        try lab.net.exec(lab.host, ["nft", "flush", "ruleset"])
        try lab.net.exec(lab.host, ["nft", "-f", "-"], stdin: older)
        let written = try lab.ruleset()
        #expect(try lab.nftfwdOK("ls").stdout.contains("8080  198.18.2.2:80"))
        #expect(try lab.ruleset() == written)   // reading changes nothing
        try lab.nftfwdOK("add", "8081", "198.18.2.2:81", "--allow", "192.0.2.0/24")
        let upgraded = try lab.table()
        #expect(upgraded.contains("set allow6_addr {") && upgraded.contains("@refuse4_any drop"))
        #expect(upgraded.contains("192.0.2.0/24 . tcp . 8081"))
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.contains("\"host\": \"8080\"") && listed.contains("\"192.0.2.0/24\""))
        #expect(try lab.nftfwdOK("masquerade", "ls").stdout.contains("10.88.0.0/24"))
        #expect(try Self.labelledInKernel(lab) == 4)
    }

    @Test("a table of nftfwd 0.3 (allow-lists looked up in the range sets), as nft reloads it, is read, and the next add fills the match sets from its allow-lists")
    func upgradeFrom03() throws {
        let lab = try Lab(hostOnly: "upg3")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--allow", "192.0.2.0/23", "--allow", "203.0.113.7/32")
        try lab.nftfwdOK("add", "[::]:8082", "[2001:db8:2::2]:80", "--allow", "2001:db8:9::/48")
        // The current table less what 0.4 added: the match sets, and 0.3's rules instead of the drop rules.
        var skipping = false
        let older = try lab.ruleset().split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            if line.contains("set match") { skipping = true; return nil }
            if skipping { if line == "\t}" { skipping = false }; return nil }
            guard line.contains("@restrict") else { return String(line) }
            let ip = line.contains("@restrict4") ? "ip" : "ip6", f = ip == "ip" ? "4" : "6"
            let bound = line.contains("_addr"), kind = bound ? "addr" : "any"
            let host = (bound ? "\(ip) daddr . " : "") + "meta l4proto . th dport"
            return "\t\t\(host) @restrict\(f)_\(kind) \(ip) saddr . \(host) != @allow\(f)_\(kind) \(host) @refuse\(f)_\(kind) drop"
        }.joined(separator: "\n")
        #expect(!older.contains("match") && older.contains("!= @allow4_any"))
        try lab.net.exec(lab.host, ["nft", "flush", "ruleset"])
        try lab.net.exec(lab.host, ["nft", "-f", "-"], stdin: older)
        let written = try lab.ruleset()
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.contains("\"192.0.2.0/23\"") && listed.contains("\"2001:db8:9::/48\""), "\(listed)")
        #expect(try lab.ruleset() == written)   // reading changes nothing
        try lab.nftfwdOK("add", "8081", "198.18.2.2:81")
        let upgraded = try lab.table()
        #expect(upgraded.contains("!= @match4_any_24") && !upgraded.contains("!= @allow4_any"))
        #expect(upgraded.contains("192.0.3.0 . tcp . 8080") && upgraded.contains("203.0.113.7 . tcp . 8080"))
        #expect(upgraded.contains("2001:db8:9:: . tcp . 8082"))
        // And the upgraded table reads back whole (the reader checks the match elements).
        let after = try lab.nftfwdOK("ls", "--json").stdout
        #expect(after.contains("\"192.0.2.0/23\"") && after.contains("\"host\": \"8081\""))
        try lab.nftfwdOK("rm", "8080")
        #expect(!(try lab.table()).contains("192.0.3.0 . tcp . 8080"))
    }

    @Test("a table whose match elements do not expand its allow-list is foreign")
    func strayMatchIsForeign() throws {
        let lab = try Lab(hostOnly: "upgm")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--allow", "192.0.2.0/24")
        try lab.net.exec(lab.host, ["nft", "add element inet nftfwd match4_any_24 { 10.9.9.0 . tcp . 8080 comment \"8080/tcp -> 198.18.2.2:80\" }"])
        let ls = lab.nftfwd("ls")
        #expect(ls.status == 2)
        #expect(ls.stderr.contains("are not the expansion of its allow-list 192.0.2.0/24"), "\(ls.stderr)")
    }

    @Test("a table missing only some of the later objects is not an earlier layout: it is foreign")
    func partialIsForeign() throws {
        let lab = try Lab(hostOnly: "upgp")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.net.exec(lab.host, ["nft", "delete", "chain", "inet", "nftfwd", "guard"])
        let before = try lab.ruleset()
        let add = lab.nftfwd("add", "8081", "198.18.2.2:81")
        #expect(add.status == 2)
        #expect(add.stderr.contains("table inet nftfwd was changed outside nftfwd: chain 'guard' is missing"), "\(add.stderr)")
        #expect(try lab.ruleset() == before)
    }
}
