import Testing
import TestSupport

/// What the kernel holds after add/rm, compared with nft's own listing, character for character.
@Suite("Kernel: the table as nft lists it", .kernelTest)
struct ListingTests {
    @Test("add and rm show exactly the expected table, IPv4 and IPv6, tcp/udp/sctp, ranges, bound addresses")
    func golden() throws {
        let lab = try Lab(hostOnly: "gold")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--comment", "web")
        try lab.nftfwdOK("add", "5353", "198.18.2.2:53", "--proto", "udp")
        try lab.nftfwdOK("add", "9000-9002", "198.18.2.2:7000-7002", "--proto", "sctp")
        try lab.nftfwdOK("add", "198.18.1.3:8443", "198.18.2.2:443")
        try lab.nftfwdOK("add", "[::]:8080", "[2001:db8:2::2]:80")
        try lab.nftfwdOK("add", "[2001:db8:1::3]:53", "[2001:db8:2::2]:53", "--proto", "udp")
        try lab.nftfwdOK("add", "127.0.0.1:6379", "198.18.2.2:6379", "--comment", "relay only")
        try lab.nftfwdOK("add", "[::1]:6379", "[2001:db8:2::2]:6379")
        try lab.nftfwdOK("add", "[::]:8081", "198.18.2.2:81")
        try lab.nftfwdOK("masquerade", "add", "10.88.0.0/24", "--out-not", "br0")
        try lab.nftfwdOK("masquerade", "add", "fd88::/64")
        #expect(normalized(try lab.table()) == normalized(Self.golden(
            dnat4Any: """
            elements = { tcp . 8080 counter packets 0 bytes 0 comment "8080/tcp -> 198.18.2.2:80 # web" : 198.18.2.2 . 80,
            \t\t\t     udp . 5353 counter packets 0 bytes 0 comment "5353/udp -> 198.18.2.2:53" : 198.18.2.2 . 53,
            \t\t\t     sctp . 9000 counter packets 0 bytes 0 comment "9000-9002/sctp -> 198.18.2.2:7000-7002" : 198.18.2.2 . 7000,
            \t\t\t     sctp . 9001 counter packets 0 bytes 0 comment "9000-9002/sctp -> 198.18.2.2:7000-7002" : 198.18.2.2 . 7001,
            \t\t\t     sctp . 9002 counter packets 0 bytes 0 comment "9000-9002/sctp -> 198.18.2.2:7000-7002" : 198.18.2.2 . 7002 }
            """,
            dnat4Addr: """
            elements = { 198.18.1.3 . tcp . 8443 counter packets 0 bytes 0 comment "198.18.1.3:8443/tcp -> 198.18.2.2:443" : 198.18.2.2 . 443 }
            """,
            dnat6Any: """
            elements = { tcp . 8080 counter packets 0 bytes 0 comment "8080/tcp -> [2001:db8:2::2]:80" : 2001:db8:2::2 . 80 }
            """,
            dnat6Addr: """
            elements = { 2001:db8:1::3 . udp . 53 counter packets 0 bytes 0 comment "[2001:db8:1::3]:53/udp -> [2001:db8:2::2]:53" : 2001:db8:2::2 . 53 }
            """,
            loopback4: """
            elements = { 127.0.0.1 . tcp . 6379 counter packets 0 bytes 0 comment "127.0.0.1:6379/tcp -> 198.18.2.2:6379 # relay only" : 198.18.2.2 . 6379 }
            """,
            loopback6: """
            elements = { ::1 . tcp . 6379 counter packets 0 bytes 0 comment "[::1]:6379/tcp -> [2001:db8:2::2]:6379" : 2001:db8:2::2 . 6379 }
            """,
            relay6to4: """
            elements = { :: . tcp . 8081 counter packets 0 bytes 0 comment "[::]:8081/tcp -> 198.18.2.2:81" : 198.18.2.2 . 81 }
            """,
            masq4: #"elements = { 10.88.0.0/24 comment "10.88.0.0/24 out-not br0" }"#,
            masq4Keep: #"elements = { 10.88.0.0/24 . "br0" comment "10.88.0.0/24 out-not br0" }"#,
            masq6: #"elements = { fd88::/64 comment "fd88::/64" }"#)))

        // nft's JSON view of the same table parses and holds every element.
        let json = try lab.net.exec(lab.host, ["nft", "-j", "list", "table", "inet", "nftfwd"]).stdout
        #expect(json.components("\"elem\": {\"val\"") == 11 + 3)   // 11 mappings, 3 masquerade ranges

        try lab.nftfwdOK("rm", "9000-9002", "--proto", "sctp")
        try lab.nftfwdOK("rm", "8080")                       // both families
        try lab.nftfwdOK("rm", "[2001:db8:1::3]:53", "--proto", "udp")
        try lab.nftfwdOK("rm", "127.0.0.1:6379")
        try lab.nftfwdOK("rm", "[::1]:6379")
        try lab.nftfwdOK("rm", "198.18.1.3:8443")
        try lab.nftfwdOK("rm", "[::]:8081")
        try lab.nftfwdOK("masquerade", "rm", "10.88.0.0/24")
        try lab.nftfwdOK("masquerade", "rm", "fd88::/64")
        #expect(normalized(try lab.table()) == normalized(Self.golden(
            dnat4Any: """
            elements = { udp . 5353 counter packets 0 bytes 0 comment "5353/udp -> 198.18.2.2:53" : 198.18.2.2 . 53 }
            """)))

        try lab.nftfwdOK("flush")
        #expect(try lab.ruleset() == "")
    }

    @Test("ls shows every mapping once, ranges as one row")
    func listing() throws {
        let lab = try Lab(hostOnly: "ls")
        defer { lab.destroy() }
        #expect(try lab.nftfwdOK("ls").stdout == "nothing published (table inet nftfwd does not exist)\n")
        try lab.nftfwdOK("add", "8000-8099", "198.18.2.2:9000-9099", "--comment", "range")
        try lab.nftfwdOK("add", "[::1]:53", "[2001:db8:2::2]:53", "--proto", "udp")
        #expect(try lab.nftfwdOK("ls").stdout == """
        PROTO  FAMILY  HOST       TARGET                KERNEL      PACKETS  BYTES  RELAY        CONNS  COMMENT
        tcp    ipv4    8000-8099  198.18.2.2:9000-9099  dnat        0        0      not running  0/0    range
        udp    ipv6    [::1]:53   [2001:db8:2::2]:53    relay-only  0        0      not running  0/0

        """)
    }

    @Test("--table and -v work before or after the subcommand; other tables are left alone")
    func globalOptions() throws {
        let lab = try Lab(hostOnly: "glob")
        defer { lab.destroy() }
        try lab.net.exec(lab.host, ["nft", "add table ip mine; add chain ip mine c"])
        try lab.nftfwdOK("--table", "web", "add", "8080", "198.18.2.2:80")
        let verbose = try lab.nftfwdOK("add", "8081", "198.18.2.2:80", "--table", "web", "-v")
        #expect(verbose.stderr.contains("the kernel committed it: ruleset generation"))
        #expect(try lab.nftfwdOK("-v", "--table", "web", "rm", "8081").stderr.contains("sending one batch of 1 message(s)"))
        #expect(try lab.net.exec(lab.host, ["nft", "list", "tables"]).stdout == "table ip mine\ntable inet web\n")
        try lab.nftfwdOK("flush", "--table", "web")
        #expect(try lab.ruleset() == "table ip mine {\n\tchain c {\n\t}\n}\n")
    }

    @Test("add --allow writes the restrict, allow and refuse elements, and nothing else changes")
    func goldenAllow() throws {
        let lab = try Lab(hostOnly: "gola")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "[2001:db8:1::3]:2222-2223", "[2001:db8:2::2]:22-23", "--allow", "2001:db8:9::/48",
                         "--allow", "2001:db8:7::5/128", "--comment", "ssh")
        try lab.nftfwdOK("add", "2222", "198.18.2.2:22", "--proto", "udp", "--allow", "192.0.2.0/24")
        let c6 = #""[2001:db8:1::3]:2222-2223/tcp -> [2001:db8:2::2]:22-23 # ssh""#, c4 = #""2222/udp -> 198.18.2.2:22""#
        #expect(normalized(try lab.table()) == normalized(Self.golden(
            dnat4Any: "elements = { udp . 2222 counter packets 0 bytes 0 comment \(c4) : 198.18.2.2 . 22 }",
            dnat6Addr: """
            elements = { 2001:db8:1::3 . tcp . 2222 counter packets 0 bytes 0 comment \(c6) : 2001:db8:2::2 . 22,
            \t\t\t     2001:db8:1::3 . tcp . 2223 counter packets 0 bytes 0 comment \(c6) : 2001:db8:2::2 . 23 }
            """,
            access: [
                "restrict4_any": "elements = { udp . 2222 comment \(c4) }",
                "allow4_any": "elements = { 192.0.2.0/24 . udp . 2222 comment \(c4) }",
                "refuse4_any": "elements = { udp . 2222 counter packets 0 bytes 0 comment \(c4) }",
                "match4_any_24": "elements = { 192.0.2.0 . udp . 2222 comment \(c4) }",
                "match6_addr_48": """
                elements = { 2001:db8:9:: . 2001:db8:1::3 . tcp . 2222 comment \(c6),
                \t\t\t     2001:db8:9:: . 2001:db8:1::3 . tcp . 2223 comment \(c6) }
                """,
                "match6_addr_128": """
                elements = { 2001:db8:7::5 . 2001:db8:1::3 . tcp . 2222 comment \(c6),
                \t\t\t     2001:db8:7::5 . 2001:db8:1::3 . tcp . 2223 comment \(c6) }
                """,
                "restrict6_addr": """
                elements = { 2001:db8:1::3 . tcp . 2222 comment \(c6),
                \t\t\t     2001:db8:1::3 . tcp . 2223 comment \(c6) }
                """,
                "allow6_addr": """
                elements = { 2001:db8:7::5 . 2001:db8:1::3 . tcp . 2222-2223 comment \(c6),
                \t\t\t     2001:db8:9::/48 . 2001:db8:1::3 . tcp . 2222-2223 comment \(c6) }
                """,
                "refuse6_addr": """
                elements = { 2001:db8:1::3 . tcp . 2222 counter packets 0 bytes 0 comment \(c6),
                \t\t\t     2001:db8:1::3 . tcp . 2223 counter packets 0 bytes 0 comment \(c6) }
                """,
            ])))
        try lab.nftfwdOK("rm", "[2001:db8:1::3]:2222-2223")
        try lab.nftfwdOK("rm", "2222", "--proto", "udp")
        #expect(normalized(try lab.table()) == normalized(Self.golden()))
    }

    /// The allow-list sets (restrict, allow, refuse and the match sets of every prefix level),
    /// empty but for the elements lines `access` gives by set name.
    static func accessSets(_ access: [String: String]) -> [String] {
        var out: [String] = []
        for f in ["4", "6"] {
            let address = "ipv\(f)_addr", any = "inet_proto . inet_service"
            for (kind, host) in [("any", ""), ("addr", address + " . ")] {
                let levels = stride(from: 8, through: f == "4" ? 32 : 128, by: 8).map { ("match", address + " . " + host + any, String?.none, "_\($0)") }
                let roles: [(String, String, String?, String)] = [("restrict", host + any, nil, ""), ("allow", address + " . " + host + any, "flags interval", ""),
                                                                  ("refuse", host + any, "counter", "")] + levels
                for (role, key, flag, level) in roles {
                    let name = "\(role)\(f)_\(kind)\(level)"
                    var text = "\tset \(name) {\n\t\ttype \(key)\n"
                    if let flag { text += "\t\t\(flag)\n" }
                    if let elements = access[name] { text += "\t\t\(elements)\n" }
                    out.append(text + "\t}\n")
                }
            }
        }
        return out
    }

    /// The four drop rules as nft lists them: the masked source looked up per prefix level.
    static var accessRules: String {
        var lines: [String] = []
        for (ip, width) in [("ip", 32), ("ip6", 128)] {
            let f = width == 32 ? "4" : "6"
            for bound in [false, true] {
                let host = bound ? "\(ip) daddr . meta l4proto . th dport" : "meta l4proto . th dport"
                let kind = bound ? "addr" : "any"
                var line = "\t\t\(host) @restrict\(f)_\(kind) "
                for level in stride(from: 8, through: width, by: 8) {
                    let mask = width == 32 ? ["255.0.0.0", "255.255.0.0", "255.255.255.0", ""][level / 8 - 1] : Self.mask6(level)
                    line += "\(ip) saddr\(mask.isEmpty ? "" : " & \(mask)") . \(host) != @match\(f)_\(kind)_\(level) "
                }
                lines.append(line + "\(host) @refuse\(f)_\(kind) drop")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// An IPv6 netmask of `bits` bits as nft prints it (empty for /128: no mask at all).
    static func mask6(_ bits: Int) -> String {
        guard bits < 128 else { return "" }
        let groups = (0..<8).map { g -> String in
            let keep = max(0, min(16, bits - g * 16))
            return String(UInt16(truncatingIfNeeded: 0xffff << (16 - keep)) & (keep == 0 ? 0 : 0xffff), radix: 16)
        }
        // nft compresses the longest run of zero groups (at least two) into "::".
        let zeros = groups.firstIndex(of: "0") ?? 8
        return 8 - zeros >= 2 ? groups[..<zeros].joined(separator: ":") + "::" : groups.joined(separator: ":")
    }

    /// The listing of an nftfwd table; each map's elements line given (or none).
    static func golden(dnat4Any: String? = nil, dnat4Addr: String? = nil, dnat6Any: String? = nil,
                       dnat6Addr: String? = nil, loopback4: String? = nil, loopback6: String? = nil,
                       relay6to4: String? = nil, relay4to6: String? = nil,
                       masq4: String? = nil, masq4Keep: String? = nil, masq6: String? = nil, masq6Keep: String? = nil,
                       access: [String: String] = [:]) -> String {
        func set(_ name: String, _ key: String, _ elements: String?) -> String {
            "\tset \(name) {\n\t\ttype \(key)\n\t\tflags interval\n" + (elements.map { "\t\t\($0)\n" } ?? "") + "\t}\n"
        }
        func map(_ name: String, _ key: String, _ value: String, _ elements: String?) -> String {
            "\tmap \(name) {\n\t\ttype \(key) : \(value)\n\t\tcounter\n" + (elements.map { "\t\t\($0)\n" } ?? "") + "\t}\n"
        }
        let a4 = "ipv4_addr . inet_proto . inet_service", a6 = "ipv6_addr . inet_proto . inet_service"
        let any = "inet_proto . inet_service", v4 = "ipv4_addr . inet_service", v6 = "ipv6_addr . inet_service"
        let sets: [String] = [
            map("dnat4_any", any, v4, dnat4Any), map("dnat4_addr", a4, v4, dnat4Addr),
            map("dnat6_any", any, v6, dnat6Any), map("dnat6_addr", a6, v6, dnat6Addr),
            map("loopback4", a4, v4, loopback4), map("loopback6", a6, v6, loopback6),
            map("relay6to4", a6, v4, relay6to4), map("relay4to6", a4, v6, relay4to6),
            set("masq4", "ipv4_addr", masq4), set("masq4_keep", "ipv4_addr . ifname", masq4Keep),
            set("masq6", "ipv6_addr", masq6), set("masq6_keep", "ipv6_addr . ifname", masq6Keep),
        ]
        let chains: [String] = [
            """
            \tchain guard {
            \t\ttype filter hook prerouting priority raw; policy accept;
            \t\tiifname != "lo" ip daddr 127.0.0.0/8 counter packets 0 bytes 0 drop
            \t\tiifname != "lo" ip6 daddr ::1 counter packets 0 bytes 0 drop
            \t}

            """,
            """
            \tchain publish {
            \t\tfib daddr type != local return
            \t\tip daddr 127.0.0.0/8 return
            \t\tip6 daddr ::1 return
            \(Self.accessRules)
            \t\tmeta nfproto ipv4 ct label set 100 dnat ip to meta l4proto . th dport map @dnat4_any
            \t\tmeta nfproto ipv4 ct label set 100 dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr
            \t\tmeta nfproto ipv6 ct label set 100 dnat ip6 to meta l4proto . th dport map @dnat6_any
            \t\tmeta nfproto ipv6 ct label set 100 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_addr
            \t}

            """,
            """
            \tchain prerouting {
            \t\ttype nat hook prerouting priority dstnat; policy accept;
            \t\tjump publish
            \t}

            """,
            """
            \tchain output {
            \t\ttype nat hook output priority -100; policy accept;
            \t\tjump publish
            \t}

            """,
            """
            \tchain hairpin {
            \t\ttype filter hook prerouting priority dstnat + 1; policy accept;
            \t\tct state new ct label 100 ct status dnat fib daddr . iif oif exists ct label set 101
            \t}

            """,
            """
            \tchain postrouting {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tct label 101 masquerade
            \t\tip saddr . oifname @masq4_keep return
            \t\tip saddr @masq4 masquerade
            \t\tip6 saddr . oifname @masq6_keep return
            \t\tip6 saddr @masq6 masquerade
            \t}

            """,
            """
            \tchain loopback {
            \t\ttype nat hook output priority -100; policy accept;
            \t\tip daddr 127.0.0.0/8 meta l4proto . tcp dport @dnat4_any redirect to :meta l4proto map @redirect4
            \t\tip daddr 127.0.0.0/8 ip daddr . meta l4proto . tcp dport @loopback4 redirect to :meta l4proto map @redirect4
            \t\tip6 daddr ::1 meta l4proto . tcp dport @dnat6_any redirect to :meta l4proto map @redirect6
            \t\tip6 daddr ::1 ip6 daddr . meta l4proto . tcp dport @loopback6 redirect to :meta l4proto map @redirect6
            \t\tip daddr 127.0.0.0/8 meta l4proto . udp dport @dnat4_any redirect to :meta l4proto map @redirect4
            \t\tip daddr 127.0.0.0/8 ip daddr . meta l4proto . udp dport @loopback4 redirect to :meta l4proto map @redirect4
            \t\tip6 daddr ::1 meta l4proto . udp dport @dnat6_any redirect to :meta l4proto map @redirect6
            \t\tip6 daddr ::1 ip6 daddr . meta l4proto . udp dport @loopback6 redirect to :meta l4proto map @redirect6
            \t}

            """,
        ]
        // Written by a running relay alone (its redirect sockets' ports): empty here.
        let redirect = ["redirect4", "redirect6"].map { "\tmap \($0) {\n\t\ttype inet_proto : inet_service\n\t}\n" }
        return "table inet nftfwd {\n" + (sets + Self.accessSets(access) + redirect + chains).joined(separator: "\n") + "}\n"
    }
}

/// The listing with each map's elements sorted: a hash map lists its elements in hash
/// order, which changes with the kernel's per-set random seed.
func normalized(_ listing: String) -> String {
    let separator = ",\n\t\t\t     "
    var out = ""
    var rest = Substring(listing)
    while let start = rest.firstRange(of: "elements = { "), let end = rest[start.upperBound...].firstRange(of: " }\n") {
        out += rest[..<start.upperBound]
        let items = rest[start.upperBound..<end.lowerBound].split(separator: separator).map(String.init).sorted()
        out += items.joined(separator: separator)
        rest = rest[end.lowerBound...]
    }
    return out + rest
}

extension String {
    /// How many times `needle` occurs.
    func components(_ needle: String) -> Int {
        var count = 0
        var rest = Substring(self)
        while let r = rest.firstRange(of: needle) { count += 1; rest = rest[r.upperBound...] }
        return count
    }
}

/// The CLI's help and usage errors; no root needed.
@Suite("CLI: help and usage")
struct HelpTests {
    // The USAGE line is the parser's own and may be longer; our text stays within 80 columns.
    @Test("every command has --help with examples, exit 0", arguments: ["", "add", "rm", "ls", "apply", "flush", "save", "restore", "diff", "check", "relay", "doctor", "masquerade", "import", "import iptables"])
    func help(command: String) {
        let result = Command.run([nftfwdBinary] + command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"))
        #expect(result.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 || $0.hasPrefix("USAGE:") })
    }

    @Test("usage errors exit 1 and say how to get help")
    func usage() {
        let result = Command.run([nftfwdBinary, "add", "8080"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("Missing expected argument '<target>'"))
        #expect(Command.run([nftfwdBinary, "--version"]).stdout == "0.3.0\n")
    }
}
