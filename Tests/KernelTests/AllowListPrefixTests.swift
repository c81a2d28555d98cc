import Testing
import TestSupport
import PortForwarding

/// Allow-lists of mixed prefix lengths in one table: networks on a prefix level (/16, /24,
/// /32, /64, /128) are one `match` element each, networks between levels (/22, /57) are
/// expanded into the level above; in the kernel, the first and last address of such a
/// network reach the target and the address right after it does not. Removing a mapping
/// takes all of its elements and leaves the rules as they are. And a table whose access
/// sets or rules nftfwd did not write that way is refused as foreign, naming what is wrong.
@Suite("Kernel: allow-lists of mixed prefix lengths", .kernelTest)
struct AllowListPrefixTests {
    /// The LAN peer's extra source addresses, each at an edge of a network below, routed back
    /// to it by the host.
    static let sources4 = ["172.20.255.254", "172.21.4.0", "172.21.7.255", "172.21.8.1", "172.22.7.9"]
    static let sources6 = ["fd91:0:0:1::ffff", "fd92::1", "fd92:0:0:7f::1", "fd92:0:0:80::1"]

    static func lab(_ label: String) throws -> BridgeLab {
        let lab = try BridgeLab(label)
        do {
            let add4 = sources4.map { "ip addr add \($0)/32 dev eth0" }
            let add6 = sources6.map { "ip -6 addr add \($0)/128 dev eth0 nodad" }
            try lab.net.sh(lab.lan, (add4 + add6 + ["ip -6 addr add \(AllowListTests.outsider6)/64 dev eth0 nodad",
                                                     "ip addr add \(AllowListTests.outsider4)/24 dev eth0"]).joined(separator: " && "))
            try lab.net.sh(lab.host, "ip route add 172.16.0.0/12 via 192.168.90.2 && ip -6 route add fd91::/16 via fd90::2 && ip -6 route add fd92::/16 via fd90::2")
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// How many elements of set `name` are keyed by host port `port`.
    static func count(_ lab: BridgeLab, _ name: String, port: Int) throws -> Int {
        try lab.net.exec(lab.host, ["nft", "list", "set", "inet", "nftfwd", name]).stdout.components("tcp . \(port) ")
    }

    static func ruleCount(_ lab: BridgeLab) throws -> Int {
        try lab.net.exec(lab.host, ["nft", "-a", "list", "table", "inet", "nftfwd"]).stdout
            .split(separator: "\n").filter { $0.contains("# handle") && !$0.contains("{ # handle") }.count
    }

    @Test("/32, /24, /22, /16 and IPv6 /128, /64, /57 in one table: each network's edges reach the target, the next address gets nothing; rm takes a mapping's elements, not the rules")
    func mixedLengths() throws {
        let lab = try Self.lab("apfx")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8090", "10.88.0.2:80", "--allow", "192.168.90.2/32", "--allow", "172.20.0.0/16",
                         "--allow", "172.21.4.0/22", "--allow", "172.22.7.0/24")
        try lab.nftfwdOK("add", "[::]:8090", "[fd88::2]:80", "--allow", "fd90::2/128", "--allow", "fd91:0:0:1::/64",
                         "--allow", "fd92::/57")
        let rules = try Self.ruleCount(lab)
        #expect(rules == TableLayout.rules.count)
        // One element per network on a level; a /22 is four /24s, a /57 is 128 /64s.
        let expected4 = ["match4_any_8": 0, "match4_any_16": 1, "match4_any_24": 5, "match4_any_32": 1]
        for (set, n) in expected4 { #expect(try Self.count(lab, set, port: 8090) == n, "\(set)") }
        #expect(try Self.count(lab, "match6_any_64", port: 8090) == 129)
        #expect(try Self.count(lab, "match6_any_128", port: 8090) == 1)
        #expect(try Self.count(lab, "match6_any_56", port: 8090) == 0)

        func reached(_ source: String) -> String { "tcp 80 from \(source) at c1" }
        for source in ["192.168.90.2", "172.20.255.254", "172.21.4.0", "172.21.7.255", "172.22.7.9"] {
            #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8090, source: source) == reached(source), "\(source)")
        }
        for source in ["172.21.8.1", AllowListTests.outsider4] {
            #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8090, source: source) == AllowListTests.nothing, "\(source)")
        }
        for source in ["fd90::2", "fd91:0:0:1::ffff", "fd92::1", "fd92:0:0:7f::1"] {
            #expect(lab.ask(from: lab.lan, "tcp", "fd90::1", 8090, source: source) == reached(source), "\(source)")
        }
        for source in ["fd92:0:0:80::1", AllowListTests.outsider6] {
            #expect(lab.ask(from: lab.lan, "tcp", "fd90::1", 8090, source: source) == AllowListTests.nothing, "\(source)")
        }
        let listed = try AllowListTests.listed(lab)
        for key in ["tcp ipv4 8090", "tcp ipv6 8090"] {
            guard case .number(let n)? = listed[key]?["refused"] else { Issue.record("no refused counter for \(key)"); continue }
            #expect(n >= 2, "\(key): two refused sources")
        }
        #expect(listed["tcp ipv4 8090"]?["allow"] == .array(["172.20.0.0/16", "172.21.4.0/22", "172.22.7.0/24", "192.168.90.2/32"].map { .string($0) }))
        #expect(listed["tcp ipv6 8090"]?["allow"] == .array(["fd90::2/128", "fd91:0:0:1::/64", "fd92::/57"].map { .string($0) }))

        // rm takes every element of the IPv6 mapping, leaves the IPv4 one's, and the rules.
        try lab.nftfwdOK("rm", "[::]:8090")
        for set in ["match6_any_64", "match6_any_128", "restrict6_any", "refuse6_any", "allow6_any"] {
            #expect(try Self.count(lab, set, port: 8090) == 0, "\(set)")
        }
        for (set, n) in expected4 { #expect(try Self.count(lab, set, port: 8090) == n, "\(set)") }
        #expect(try Self.ruleCount(lab) == rules)
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.90.1", 8090, source: "172.21.7.255") == reached("172.21.7.255"))
    }

    @Test("tampered access sets or drop rules are foreign: a missing or misplaced match element, one for an open mapping, an allow range that is no prefix, a drop rule deleted or rewritten (add refused too, changing nothing)")
    func tampering() throws {
        let lab = try Lab(hostOnly: "apft")
        defer { lab.destroy() }
        let comment = "\"8090/tcp -> 198.18.2.2:80\""
        func handle(of text: String) throws -> String {
            let line = try lab.net.exec(lab.host, ["nft", "-a", "list", "chain", "inet", "nftfwd", "publish"]).stdout
                .split(separator: "\n").first { $0.contains(text) }
            return String(line?.split(separator: " ").last ?? "")
        }
        /// A fresh table, changed by the shell line `tamper` returns, then read and changed.
        /// `add` reads only the elements of the mapping it adds (point lookups), but every rule:
        /// only a tampered rule makes it refuse (`addRefused`).
        func expectForeign(_ problem: String, addRefused: Bool = false, sourceLocation: SourceLocation = #_sourceLocation,
                           _ tamper: () throws -> String) throws {
            _ = lab.net.run(lab.host, ["nft", "delete", "table", "inet", "nftfwd"])
            try lab.nftfwdOK("add", "8090", "198.18.2.2:80", "--allow", "172.21.4.0/22", "--allow", "192.0.2.7/32")
            try lab.nftfwdOK("add", "8092", "198.18.2.2:82")
            try lab.nftfwdOK("ls")
            try lab.net.sh(lab.host, try tamper())
            let ls = lab.nftfwd("ls")
            #expect(ls.status == 2, sourceLocation: sourceLocation)
            #expect(ls.stderr.contains("table inet nftfwd was changed outside nftfwd") && ls.stderr.contains(problem),
                    "\(ls.stderr)", sourceLocation: sourceLocation)
            guard addRefused else { return }
            let before = try lab.ruleset()
            #expect(lab.nftfwd("add", "8091", "198.18.2.2:81", "--allow", "192.0.2.0/24").status == 2, sourceLocation: sourceLocation)
            #expect(try lab.ruleset() == before, "a refused add changes nothing", sourceLocation: sourceLocation)
        }
        let expansion = "are not the expansion of its allow-list 172.21.4.0/22, 192.0.2.7/32"
        // One /24 of the /22's four gone: 172.21.5.0/24 would be refused while the listing says allowed.
        try expectForeign(expansion) { "nft delete element inet nftfwd match4_any_24 { 172.21.5.0 . tcp . 8090 }" }
        // The same key in the /32 set beside it.
        try expectForeign(expansion) { "nft 'add element inet nftfwd match4_any_32 { 172.21.5.0 . tcp . 8090 comment \(comment) }'" }
        // A network the allow-list does not name.
        try expectForeign(expansion) { "nft 'add element inet nftfwd match4_any_16 { 10.9.0.0 . tcp . 8090 comment \(comment) }'" }
        // An element for the mapping without allow-list: its clients from 10.9/16 would pass
        // nothing more, but the table is not one nftfwd wrote.
        try expectForeign("has match elements but no allow-list") {
            "nft 'add element inet nftfwd match4_any_16 { 10.9.0.0 . tcp . 8092 comment \"8092/tcp -> 198.18.2.2:82\" }'"
        }
        // The record of the allow-list rewritten into a range that is no prefix.
        try expectForeign("of set allow4_any does not match its comment") {
            "nft delete element inet nftfwd allow4_any { 172.21.4.0/22 . tcp . 8090 } && nft 'add element inet nftfwd allow4_any { 172.21.4.0-172.21.6.255 . tcp . 8090 comment \(comment) }'"
        }
        // The IPv4 drop rule deleted: every client would reach 8090.
        let count = TableLayout.rules.filter { $0.rule.chain == "publish" }.count
        try expectForeign("chain 'publish' has \(count - 1) rules where nftfwd wrote \(count)", addRefused: true) {
            "nft delete rule inet nftfwd publish handle \(try handle(of: "@restrict4_any"))"
        }
        // The drop rule rewritten without its /8 level: a /8 allow-list would refuse its clients.
        try expectForeign("of chain 'publish' is not 'meta l4proto . th dport @restrict4_any", addRefused: true) {
            "nft 'replace rule inet nftfwd publish handle \(try handle(of: "@restrict4_any")) meta l4proto . th dport @restrict4_any ip saddr & 255.255.0.0 . meta l4proto . th dport != @match4_any_16 ip saddr & 255.255.255.0 . meta l4proto . th dport != @match4_any_24 ip saddr . meta l4proto . th dport != @match4_any_32 meta l4proto . th dport @refuse4_any drop'"
        }
    }
}
